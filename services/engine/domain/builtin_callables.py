"""Callables the built-in plans run through the `python` agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.engine.domain.agents.base import AgentContext


def noop(context: AgentContext) -> dict[str, Any]:
    """Does nothing: the smallest plan, for smoke tests and as the default selection."""
    return {}


def echo(context: AgentContext) -> dict[str, Any]:
    """Returns the task's inputs, so a caller can see what the engine received."""
    return {"inputs": dict(context.inputs)}
