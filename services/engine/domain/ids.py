"""Task ids: time-sortable, safe in paths and URLs. Event ids are the shared core ones."""

from __future__ import annotations

from agentledger.core.ids import new_event_id, new_uuid7

__all__ = ["new_event_id", "new_task_id"]


def new_task_id(now_ns: int | None = None) -> str:
    """`tsk_` and 32 hex digits: sorts by creation time."""
    return "tsk_" + new_uuid7(now_ns).hex
