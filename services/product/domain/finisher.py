"""Keeps up with tasks as they run and end (SPEC 3.1, 3.6): each sweep reads the tasks whose
summary changed since the last one, refreshes their metering records, and for each task that has
ended without a goal status reads its trace once to record the goal status (an event and the
summary) and the metering record's final figures.

Every replica may sweep: recording is idempotent (the event's id is fixed by the ending, the
summary is written under its version), so two replicas record the same thing once. A summary the
engine writes after the goal status (a late forecast reconcile) clears it; the next sweep sees an
ended task without one and records it again, as the same event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from agentledger.core.clock import Clock
from agentledger.core.errors import AgentLedgerError
from services.product.domain.accounts import Accounts
from services.product.domain.ports import ChangedTask, Traces
from services.product.domain.records import ENDED, MeteringRecord
from services.product.domain.service import Insights

log = logging.getLogger("agentledger.product")
SKEW_NS = 2 * 10**9  # summaries written by clocks this far behind ours are still seen
MAX_FAILURES = 3  # a task that fails this many sweeps in a row is left until it changes


class Finisher:
    def __init__(
        self,
        insights: Insights,
        accounts: Accounts,
        traces: Traces,
        clock: Clock,
        *,
        lookback_s: float = 86_400.0,
        batch: int = 5000,
    ) -> None:
        self._insights = insights
        self._accounts = accounts
        self._traces = traces
        self._clock = clock
        self._since = clock.now_ns() - int(lookback_s * 1e9)
        self._batch = batch
        self._failures: Counter[tuple[str, int]] = Counter()

    async def finish(self, task_id: str) -> None:
        """Records the ended task's goal status and its final metering record."""
        loaded = await self._insights.load(task_id)
        if loaded.ended and loaded.trace.view.end_seq:
            await self._insights.settle(task_id, loaded)
            await self._accounts.refresh(task_id, loaded.summary, loaded.trace)
        else:
            await self._accounts.refresh(task_id, loaded.summary)

    async def usage(self, task_id: str) -> MeteringRecord:
        """The task's metering record now; for an ended task not swept yet, its final figures
        (the events behind its cost, its artifact bytes), gathered here."""
        m = await self._accounts.usage(task_id)
        if m.state in ENDED and not m.ended:
            await self.finish(task_id)
            m = await self._accounts.usage(task_id)
        return m

    async def sweep(self) -> int:
        """One pass; returns how many tasks it handled."""
        rows = await self._traces.changed(self._since - SKEW_NS, self._batch)
        if len(rows) >= self._batch:
            log.warning(
                "more than %d tasks changed since the last sweep; the oldest wait", self._batch
            )
        done = 0
        for row in reversed(rows):  # oldest first
            if await self._handle(row):
                done += 1
        if rows:
            self._since = max(self._since, max(r.updated_ns for r in rows))
        return done

    async def _handle(self, row: ChangedTask) -> bool:
        key = (row.task_id, row.updated_ns)
        if self._failures[key] >= MAX_FAILURES:
            return False
        try:
            if row.state in ENDED:
                kept = await self._accounts.stored(row.task_id)
                if row.goal_status and kept is not None and kept.ended:
                    return False
                await self.finish(row.task_id)
            else:
                await self._accounts.refresh(row.task_id)
        except AgentLedgerError as exc:
            self._failures[key] += 1
            log.warning("task %s: not finished in this sweep: %s", row.task_id, exc)
            return False
        self._failures.pop(key, None)
        return True

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """Sweeps every `interval_s` until `stop` is set; a failed sweep is logged and retried."""
        while not stop.is_set():
            try:
                await self.sweep()
            except AgentLedgerError as exc:
                log.warning("product sweep failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
