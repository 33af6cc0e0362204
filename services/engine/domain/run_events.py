"""The events and checkpoints a run writes: node outcomes, governance decisions, and the
decision points its summary shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentledger.core.clock import Clock
from services.engine.domain.decisions import Decision, NodeOutcome
from services.engine.domain.ids import new_event_id
from services.engine.domain.model import (
    SEVERITY_ERROR,
    SEVERITY_INFO,
    SEVERITY_NOTICE,
    SEVERITY_WARNING,
    NodeRecord,
    OutboxEvent,
)
from services.engine.domain.plan import PlanNode
from services.engine.domain.store import dumps
from services.engine.domain.summary import DecisionPoint

SALIENCE = {"fail": 1.0, "pause": 0.8, "degrade": 0.6, "retry": 0.4, "continue": 0.1}
DECISION_SEVERITY = {
    "fail": SEVERITY_ERROR,
    "pause": SEVERITY_WARNING,
    "degrade": SEVERITY_WARNING,
    "retry": SEVERITY_NOTICE,
}
MAX_OUTPUT_IN_EVENT = 4096  # bytes of JSON; larger outputs are in the checkpoint and artifacts


class Events:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def event(
        self,
        type: str,
        payload: Mapping[str, Any],
        actor: str = "engine",
        *,
        node: PlanNode | None = None,
        severity: int = SEVERITY_INFO,
        blob_ids: tuple[str, ...] = (),
    ) -> OutboxEvent:
        return OutboxEvent(
            new_event_id(),
            type,
            payload,
            phase=node.phase if node else "",
            node_id=node.id if node else "",
            severity=severity,
            actor=actor,
            time_ns=self._clock.now_ns(),
            blob_ids=blob_ids,
        )

    def outcome(self, node: PlanNode, out: NodeOutcome) -> OutboxEvent:
        """node.completed | node.failed | node.needs_input, with what the agent reported."""
        payload: dict[str, Any] = {
            "attempt": out.attempt,
            "variant": out.variant,
            "duration_s": round(out.duration_s, 6),
            "usage": {
                "tokens_in": out.usage.tokens_in,
                "tokens_out": out.usage.tokens_out,
                "usd": out.usage.usd,
                "tool_seconds": out.usage.tool_seconds,
            },
        }
        encoded = dumps(dict(out.output))
        small = len(encoded) <= MAX_OUTPUT_IN_EVENT
        payload["output"] = dict(out.output) if small else {"truncated": True}
        if out.failure is not None:
            payload["failure"] = {
                "kind": out.failure.kind,
                "message": out.failure.message,
                "signals": dict(out.failure.signals),
            }
        if out.success_proxy is not None:
            payload["success_proxy"] = out.success_proxy
        if out.verified is not None:
            payload["verified"] = out.verified
        if out.claims:
            payload["claims"] = dict(out.claims)
        if out.policy_violations:
            payload["policy_violations"] = list(out.policy_violations)
        kind = {"completed": "node.completed", "needs_input": "node.needs_input"}.get(
            out.status, "node.failed"
        )
        severity = SEVERITY_ERROR if out.status == "failed" else SEVERITY_INFO
        return self.event(kind, payload, f"agent:{node.agent}", node=node, severity=severity)

    def decision(
        self, node: PlanNode, decision: Decision, checkpoint: str = "after_node"
    ) -> OutboxEvent:
        return self.event(
            "governance.decision",
            {**decision.as_payload(), "checkpoint": checkpoint},
            "governance",
            node=node,
            severity=DECISION_SEVERITY.get(decision.action, SEVERITY_INFO),
        )


def node_record(
    node: PlanNode,
    out: NodeOutcome,
    decision: Decision,
    *,
    tried: Sequence[str],
    epoch: int,
    now_ns: int,
) -> NodeRecord:
    """The checkpoint a node's outcome leaves: `completed` only when governance let it stand."""
    status = (
        "completed"
        if out.status == "completed" and decision.action == "continue"
        else "waiting"
        if out.status == "needs_input"
        else "failed"
    )
    failure = None
    if out.failure is not None:
        failure = {"kind": out.failure.kind, "message": out.failure.message}
    return NodeRecord(
        node_id=node.id,
        status=status,
        attempt=out.attempt,
        variant=out.variant,
        tried_variants=tuple(tried),
        output=out.output,
        claims=out.claims,
        failure=failure,
        usage=out.usage,
        started_ns=now_ns - int(out.duration_s * 1e9),
        ended_ns=now_ns,
        epoch=epoch,
        artifacts=tuple(a for a in out.output.get("artifacts", ()) if isinstance(a, Mapping)),
    )


class DecisionLog:
    """The run's most salient decisions, with their sequence numbers in the trace once
    trace_store has them (for the summary's top decisions)."""

    def __init__(self) -> None:
        self.points: list[DecisionPoint] = []

    def note(self, events: Sequence[OutboxEvent], seqs: Sequence[int]) -> None:
        for e, seq in zip(events, seqs, strict=False):
            if e.type == "governance.decision":
                p = e.payload
                action = str(p["action"])
                self.points.append(
                    DecisionPoint(
                        seq,
                        e.node_id,
                        str(p["rule"]),
                        action,
                        str(p["reason"]),
                        SALIENCE.get(action, 0.1),
                    )
                )
        if len(self.points) > 64:
            self.points = sorted(self.points, key=lambda d: (-d.salience, d.seq))[:16]
