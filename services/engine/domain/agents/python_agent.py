"""The `python` agent: runs a plan-named callable (`pkg.mod:func`) with the node's context."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from services.engine.domain.agents.base import (
    AgentContext,
    AgentFailure,
    AgentResult,
    SpecIssue,
)
from services.engine.domain.failures import as_agent_failure


def import_object(path: str) -> Any:
    """The object named by `pkg.module:attr` (dots in `attr` walk attributes); SpecIssue if the
    path is malformed or does not resolve."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise SpecIssue(
            f"{path!r} is not an import path; use 'package.module:name'", signals={"path": path}
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import runs arbitrary module code: any error is possible
        raise SpecIssue(
            f"cannot import module {module_name!r} of {path!r}: {type(exc).__name__}: {exc}",
            signals={"path": path, "exception_type": type(exc).__name__},
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SpecIssue(
                f"{path!r}: {obj.__name__ if hasattr(obj, '__name__') else obj!r} has no {part!r}",
                signals={"path": path},
            )
        obj = getattr(obj, part)
    return obj


class PythonAgent:
    """Config `{callable: "pkg.mod:func"}`. The callable takes the AgentContext, may be sync
    (run in a worker thread so it cannot stall the engine) or async, and returns an
    AgentResult, a dict (the output) or None."""

    kind = "python"

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        path = context.config.get("callable")
        if not isinstance(path, str):
            raise SpecIssue(
                "the python agent needs config.callable, e.g. 'my_pkg.steps:build'",
                signals={"callable": repr(path)},
            )
        func = import_object(path)
        if not callable(func):
            raise SpecIssue(f"{path!r} is not callable", signals={"path": path})
        try:
            if inspect.iscoroutinefunction(func):
                value = await func(context)
            else:
                value = await asyncio.to_thread(func, context)
                if inspect.isawaitable(value):
                    value = await value
        except AgentFailure:
            raise
        except Exception as exc:
            # Classified like any exception (a ValueError parsing inputs is a data issue).
            raise as_agent_failure(exc, f"{path} raised {type(exc).__name__}: {exc}") from exc
        return _as_result(value, path)


def _as_result(value: object, path: str) -> AgentResult:
    if isinstance(value, AgentResult):
        return value
    if value is None:
        return AgentResult()
    if isinstance(value, Mapping):
        return AgentResult(output=dict(value))
    raise SpecIssue(
        f"{path} returned {type(value).__name__}; return an AgentResult, a dict or None",
        signals={"path": path, "returned_type": type(value).__name__},
    )
