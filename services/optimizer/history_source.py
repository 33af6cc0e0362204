"""The forecaster's history read from trace_store: completed tasks from its task index."""

from __future__ import annotations

from collections.abc import Sequence

from agentledger.trace_store.v1 import trace_store_pb2 as ts
from services.optimizer.domain.history import HistoryRecord
from services.trace_store.client import TraceStoreClient

PAGE = 1000  # trace_store's largest page


class TraceStoreHistory:
    """A HistorySource over QueryTasks. The index has no spec length, so records leave it 0
    and the forecaster's spec-length cohort is not used with this source."""

    def __init__(self, client: TraceStoreClient) -> None:
        self._client = client

    async def completed_tasks(self, plan_id: str, limit: int) -> Sequence[HistoryRecord]:
        flt = ts.TaskFilter(states=["COMPLETED"], plan_ids=[plan_id] if plan_id else [])
        out: list[HistoryRecord] = []
        cursor = ""
        while len(out) < limit:
            page = await self._client.query_tasks(
                flt, sort=ts.TASK_SORT_CREATED, limit=min(PAGE, limit - len(out)), cursor=cursor
            )
            out += [
                HistoryRecord(
                    task_id=row.task_id,
                    plan_id=row.plan_id,
                    mode=row.mode,
                    tokens=row.tokens,
                    latency_s=row.duration_ms / 1000.0,
                    ended_unix_nano=row.ended_unix_nano,
                )
                for row in page.tasks
                if row.ended_unix_nano
            ]
            cursor = page.next_cursor
            if not cursor:
                break
        return out

    async def close(self) -> None:
        await self._client.close()
