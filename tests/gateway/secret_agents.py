"""Agents that mishandle secrets on purpose: they put what they were given into their outputs,
claims, events, a text artifact, a file a tool prints, and an exception message."""

from __future__ import annotations

from typing import Any

from services.engine.domain.agents.base import AgentContext, AgentResult


async def spill(ctx: AgentContext) -> AgentResult:
    both = f"{ctx.inputs['notes']}\nsensitive={ctx.inputs['api_token']}"
    (ctx.work_dir / "spilled.txt").write_text(both)
    await ctx.artifacts.write("spilled.md", both.encode(), "text/markdown")
    ctx.events.emit("agent.note", {"text": both, "token": ctx.inputs["api_token"]})
    return AgentResult(
        output={"echo": both, "token": ctx.inputs["api_token"]},
        claims={"said": both},
    )


def crash(ctx: AgentContext) -> dict[str, Any]:
    raise RuntimeError(f"could not use {ctx.inputs['notes']} or {ctx.inputs['api_token']}")
