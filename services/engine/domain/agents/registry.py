"""Agents by kind: the five built-ins and the classes users register by import path."""

from __future__ import annotations

import inspect
import re
from typing import cast

from agentledger.core.errors import InvalidArgument
from services.engine.domain.agents.base import Agent, SpecIssue
from services.engine.domain.agents.command_agent import CommandAgent
from services.engine.domain.agents.http_agent import HttpAgent
from services.engine.domain.agents.human_agent import HumanAgent
from services.engine.domain.agents.llm_agent import LlmAgent
from services.engine.domain.agents.python_agent import PythonAgent, import_object
from services.engine.domain.agents.settings import AgentSettings

_KIND = re.compile(r"[a-z][a-z0-9_.-]*")


class AgentRegistry:
    """One agent instance per kind, shared by every node of that kind (agents keep no
    per-task state: everything a run needs is in its context)."""

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings
        self._agents: dict[str, Agent] = {
            "python": PythonAgent(),
            "command": CommandAgent(settings),
            "http": HttpAgent(settings),
            "llm": LlmAgent(settings),
            "human": HumanAgent(),
        }
        self._builtin = frozenset(self._agents)
        for kind, path in settings.custom_agents.items():
            self.register(kind, path)

    def register(self, kind: str, agent: str | Agent) -> None:
        """Adds `kind`, run by an Agent instance or by the class at `"pkg.mod:ClassName"`
        (built with `settings=` when its constructor takes it, else with no arguments).
        Built-in kinds cannot be replaced: they carry the platform's guarantees (scrubbed
        environments, unstored prompts)."""
        if not _KIND.fullmatch(kind):
            raise InvalidArgument(
                f"agent kind {kind!r} is not valid; use lowercase letters, digits, '_', '.', '-'"
            )
        if kind in self._builtin:
            raise InvalidArgument(
                f"agent kind {kind!r} is built in; register your agent under another kind"
            )
        self._agents[kind] = self._build(agent) if isinstance(agent, str) else _checked(agent)

    def get(self, kind: str) -> Agent:
        agent = self._agents.get(kind)
        if agent is None:
            raise InvalidArgument(
                f"unknown agent kind {kind!r}; known kinds: {', '.join(sorted(self._agents))}"
            )
        return agent

    def kinds(self) -> frozenset[str]:
        return frozenset(self._agents)

    def _build(self, path: str) -> Agent:
        try:
            factory = import_object(path)
        except SpecIssue as exc:
            raise InvalidArgument(f"cannot register agent: {exc.message}") from exc
        if not callable(factory):
            raise InvalidArgument(f"agent {path!r} is not a class")
        try:
            takes_settings = "settings" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_settings = False
        try:
            agent = factory(settings=self._settings) if takes_settings else factory()
        except Exception as exc:
            raise InvalidArgument(
                f"agent {path!r} could not be built: {type(exc).__name__}: {exc}"
            ) from exc
        return _checked(agent, path)


def _checked(agent: object, path: str = "") -> Agent:
    execute = getattr(agent, "execute", None)
    if not inspect.iscoroutinefunction(execute):
        name = path or type(agent).__name__
        raise InvalidArgument(
            f"agent {name!r} has no `async def execute(self, context, task_id)` method"
        )
    return cast(Agent, agent)
