"""Python agents that the test plans call: each leaves a line in the task's run log, so tests
can count how often a node ran."""

from __future__ import annotations

import asyncio
from typing import Any

from services.engine.domain.agents.base import AgentContext, AgentResult, DataIssue, ToolIssue


def _log(ctx: AgentContext) -> int:
    """Appends this node to runs.log in the task's working folder; returns its run count."""
    path = ctx.work_dir / "runs.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(ctx.node_id + "\n")
    return path.read_text().splitlines().count(ctx.node_id)


def record(ctx: AgentContext) -> dict[str, Any]:
    _log(ctx)
    total = sum(int(o.get("n", 0)) for o in ctx.upstream.values())
    return {"n": total + 1, "node": ctx.node_id}


def flaky(ctx: AgentContext) -> dict[str, Any]:
    runs = _log(ctx)
    if runs <= int(ctx.config.get("fail_times", 2)):
        raise ToolIssue(f"service unavailable (run {runs})", signals={"http_status": 503})
    return {"runs": runs}


def needs_clean_rows(ctx: AgentContext) -> AgentResult:
    _log(ctx)
    rows = ctx.inputs.get("rows", [])
    bad = [i for i, r in enumerate(rows) if not isinstance(r, int)]
    if bad:
        raise DataIssue(
            f"rows {bad} are not integers", signals={"validation_errors": [f"row {i}" for i in bad]}
        )
    return AgentResult(output={"sum": sum(rows)}, claims={"total": sum(rows)})


async def block(ctx: AgentContext) -> dict[str, Any]:
    _log(ctx)
    await asyncio.Event().wait()
    return {}


async def slow(ctx: AgentContext) -> dict[str, Any]:
    _log(ctx)
    await asyncio.sleep(float(ctx.config.get("seconds", 10)))
    return {}


def spend(ctx: AgentContext) -> AgentResult:
    from services.engine.domain.agents.base import Usage

    _log(ctx)
    tokens = int(ctx.config["tokens"])
    return AgentResult(output={"spent": tokens}, usage=Usage(tokens_in=tokens, usd=tokens / 1e4))


def claim(ctx: AgentContext) -> AgentResult:
    _log(ctx)
    return AgentResult(output={}, claims={"status": ctx.config["value"]})


class Shout:
    """A user's own agent class, registered by import path (AGENTLEDGER_AGENTS)."""

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        return AgentResult(output={"said": str(context.config["word"]).upper()})
