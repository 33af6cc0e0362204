"""Where the forecaster reads past tasks: a small protocol, and the in-memory implementation
that tests use (the trace_store-backed one lives in the adapter layer, history_source.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One ended task: what it cost and how long it took."""

    task_id: str
    plan_id: str
    mode: str
    tokens: int
    latency_s: float
    ended_unix_nano: int
    spec_length: int = 0  # 0: unknown


class HistorySource(Protocol):
    async def completed_tasks(self, plan_id: str, limit: int) -> Sequence[HistoryRecord]:
        """Completed tasks of a plan (every plan when `plan_id` is empty), newest first."""
        ...


class InMemoryHistory:
    def __init__(self, records: Sequence[HistoryRecord] = ()) -> None:
        self.records = list(records)

    async def completed_tasks(self, plan_id: str, limit: int) -> Sequence[HistoryRecord]:
        mine = [r for r in self.records if not plan_id or r.plan_id == plan_id]
        return sorted(mine, key=lambda r: (-r.ended_unix_nano, r.task_id))[:limit]
