"""A run's events on their way to trace_store: in order, batched, off the run's critical path.

The run commits each step's events to the outbox (that is what makes them durable, in the same
transaction as the checkpoint they describe) and hands them here; this feed appends them to
trace_store in order, several steps per call when the store is slower than the run, and reports
which outbox ranges trace_store confirmed so the run can delete them in its next transaction.
A trace_store outage only delays the feed: it retries, and what it never sends stays in the
outbox for the next worker or the sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from services.engine.domain.model import OutboxEvent
from services.engine.domain.relay import Relay
from services.engine.domain.summary import SummaryView

log = logging.getLogger("agentledger.engine.feed")


class RunFeed:
    def __init__(
        self,
        relay: Relay,
        task_id: str,
        on_sent: Callable[[Sequence[OutboxEvent], Sequence[int]], None],
    ) -> None:
        self._relay = relay
        self._task_id = task_id
        self._on_sent = on_sent
        self._pending: list[OutboxEvent] = []
        self._ranges: list[tuple[int, int]] = []
        self._summary: SummaryView | None = None
        self._confirmed: list[tuple[int, int]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def push(
        self, events: Sequence[OutboxEvent], first: int, last: int, summary: SummaryView | None
    ) -> None:
        if events:
            self._pending += events
            self._ranges.append((first, last))
        if summary is not None:
            self._summary = summary
        self._wake.set()

    def confirmed(self) -> list[tuple[int, int]]:
        """Outbox ranges trace_store holds now (each reported once)."""
        out, self._confirmed = self._confirmed, []
        return out

    async def close(self, timeout_s: float) -> list[tuple[int, int]]:
        """Sends everything pushed, then stops; gives up after `timeout_s` (the outbox keeps
        what was not sent). Returns the ranges confirmed since the last `confirmed()`."""
        self._closing = True
        self._wake.set()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._task)
        except TimeoutError:
            log.warning(
                "trace of %s not fully relayed in %.0f s; its outbox keeps the rest",
                self._task_id,
                timeout_s,
            )
            self.abort()
        return self.confirmed()

    @property
    def done(self) -> bool:
        return self._task.done()

    def abort(self) -> None:
        self._task.cancel()

    async def aborted(self) -> None:
        self.abort()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _loop(self) -> None:
        delay = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending or self._summary is not None:
                batch, ranges, summary = self._pending, self._ranges, self._summary
                self._pending, self._ranges, self._summary = [], [], None
                try:
                    seqs = await self._relay.send(self._task_id, batch, summary)
                except Exception as exc:
                    # Put it back in front, keeping the order, and try again later.
                    self._pending = batch + self._pending
                    self._ranges = ranges + self._ranges
                    self._summary = self._summary or summary
                    log.warning("relaying %s failed (%s); retrying", self._task_id, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                delay = 0.05
                self._on_sent(batch, seqs)
                self._confirmed += ranges
            if self._closing:
                return
