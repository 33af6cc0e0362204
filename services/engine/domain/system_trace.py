"""`system_trace.json`: a task's run as one self-describing document (schema
`schemas/system_trace.v1.json`; later versions only add fields), written to the task's folder
next to `artifacts/` and stored in trace_store as a blob."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from agentledger.core.offload import Offloader
from services.engine.domain.agents.base import Usage
from services.engine.domain.model import NodeRecord, TaskRecord
from services.engine.domain.plan import Plan
from services.engine.domain.relay import TraceSink
from services.engine.domain.states import State
from services.engine.domain.store import EngineStore

SCHEMA_ID = "https://agentledger.dev/schemas/system_trace.v1.json"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "system_trace.v1.json"
SENSITIVE = "[redacted: sensitive input]"


def usage_dict(u: Usage) -> dict[str, Any]:
    return {
        "tokens_in": u.tokens_in,
        "tokens_out": u.tokens_out,
        "usd": round(u.usd, 9),
        "tool_seconds": round(u.tool_seconds, 6),
    }


def public_inputs(plan: Plan, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs with the fields the plan marks sensitive replaced by a marker."""
    sensitive = {f.name for f in plan.inputs if f.sensitive}
    return {k: (SENSITIVE if k in sensitive else v) for k, v in sorted(inputs.items())}


def build(
    *,
    task: TaskRecord,
    plan: Plan,
    records: Mapping[str, NodeRecord],
    transitions: list[dict[str, Any]],
    final_state: State,
    reason: str,
    usage: Usage,
    now_ns: int,
) -> dict[str, Any]:
    nodes = []
    for n in plan.nodes:
        r = records.get(n.id)
        nodes.append(
            {
                "id": n.id,
                "phase": n.phase,
                "agent": n.agent,
                "depends_on": list(n.depends_on),
                "subgoal": n.subgoal,
                "status": r.status if r else "not_run",
                "attempt": r.attempt if r else 0,
                "variant": r.variant if r else "",
                "tried_variants": list(r.tried_variants) if r else [],
                "started_ns": r.started_ns if r else 0,
                "ended_ns": r.ended_ns if r else 0,
                "usage": usage_dict(r.usage if r else Usage()),
                "failure": dict(r.failure) if r and r.failure else None,
                "artifacts": [
                    {"name": str(a.get("name", "")), "sha256": str(a.get("sha256", ""))}
                    for a in (r.artifacts if r else ())
                ],
            }
        )
    return {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "generated_ns": now_ns,
        "task": {
            "id": task.task_id,
            "owner": task.owner,
            "tenant": task.tenant,
            "goal": task.goal,
            "mode": task.mode,
            "budget": task.budget.as_dict(),
            "inputs": public_inputs(plan, task.inputs),
            "created_ns": task.created_ns,
        },
        "plan": {
            "id": plan.id,
            "version": plan.version,
            "digest": plan.digest,
            "rule": task.plan_rule,
            "rule_evidence": dict(task.plan_evidence),
        },
        "state": {"final": final_state.value, "reason": reason, "at_ns": now_ns},
        "transitions": transitions,
        "nodes": nodes,
        "usage": usage_dict(usage),
        "artifacts_layout": {"root": "artifacts/", "node_folder": "artifacts/<node_id>/"},
    }


class SystemTraceWriter:
    schema_id = SCHEMA_ID

    def __init__(
        self, tasks_dir: Path, sink: TraceSink, store: EngineStore, offload: Offloader
    ) -> None:
        self._dir = tasks_dir
        self._sink = sink
        self._store = store
        self._offload = offload

    async def write(
        self,
        *,
        task: TaskRecord,
        plan: Plan,
        records: Mapping[str, NodeRecord],
        final_state: State,
        reason: str,
        usage: Usage,
        now_ns: int,
    ) -> str:
        """Writes the document (including the transition about to be made) and returns its
        blob id."""
        past = await self._offload.read(self._store.transitions, task.task_id)
        transitions = [
            {
                "seq": t.seq,
                "from": t.from_state.value,
                "to": t.to_state.value,
                "actor": t.actor,
                "reason": t.reason,
                "at_ns": t.at_ns,
            }
            for t in past
        ]
        last = past[-1].to_state if past else State.RUNNING
        transitions.append(
            {
                "seq": (past[-1].seq if past else 0) + 1,
                "from": last.value,
                "to": final_state.value,
                "actor": "engine",
                "reason": reason,
                "at_ns": now_ns,
            }
        )
        doc = build(
            task=task,
            plan=plan,
            records=records,
            transitions=transitions,
            final_state=final_state,
            reason=reason,
            usage=usage,
            now_ns=now_ns,
        )
        data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        path = self._dir / task.task_id / "system_trace.json"
        await asyncio.to_thread(_write, path, data)
        return await self._sink.put_blob(task.task_id, data, "application/json")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "artifacts").mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
