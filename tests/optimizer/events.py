"""Builders of task events in the engine's conventions, for the summarizer and salience tests."""

from __future__ import annotations

from typing import Any

import orjson

from services.optimizer.domain.events import Event

T0 = 1_767_225_600_000_000_000


def ev(seq: int, type: str, payload: dict[str, Any] | None = None, **fields: Any) -> Event:
    fields.setdefault("time_unix_nano", T0 + seq * 10**9)
    return Event(seq, type, payload_json=orjson.dumps(payload) if payload else b"", **fields)


def usage(tokens_in: int, tokens_out: int, usd: float) -> dict[str, Any]:
    return {"usage": {"tokens_in": tokens_in, "tokens_out": tokens_out, "usd": usd}}


def small_trace() -> list[Event]:
    """A task: spec completes, build fails on a tool, is retried, completes; verify completes."""
    return [
        ev(1, "task.state_changed", {"from": "QUEUED", "to": "RUNNING", "reason": "claimed"},
           actor="engine"),
        ev(2, "node.started", {"attempt": 1}, phase="spec", node_id="spec", actor="engine"),
        ev(3, "node.completed", usage(100, 20, 0.01), phase="spec", node_id="spec",
           actor="agent:llm"),
        ev(4, "governance.decision", {"action": "continue", "rule": "default"}, phase="spec",
           node_id="spec", actor="governance"),
        ev(5, "node.failed",
           {**usage(10, 0, 0.0), "failure": {"kind": "tool_issue", "message": "HTTP 503"}},
           phase="build", node_id="build", severity=5, actor="agent:http"),
        ev(6, "governance.decision", {"action": "retry", "rule": "tool_error", "reason": "503"},
           phase="build", node_id="build", severity=3, actor="governance"),
        ev(7, "node.completed", usage(300, 80, 0.05), phase="build", node_id="build",
           actor="agent:http"),
        ev(8, "governance.decision", {"action": "continue", "rule": "default"}, phase="build",
           node_id="build", actor="governance"),
        ev(9, "node.completed", usage(50, 10, 0.002), phase="verify", node_id="check",
           actor="agent:python"),
        ev(10, "task.state_changed",
           {"from": "RUNNING", "to": "COMPLETED", "reason": "every node completed"},
           actor="engine"),
    ]  # fmt: skip
