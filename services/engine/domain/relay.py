"""Relays outbox events to trace_store, keeping the task's trace summary in front of them.

Events are written to the engine's outbox in the same transaction as the change they record,
then sent here; trace_store drops an event id it already has, so sending twice (after a crash,
or by two writers) is harmless. A task's sends are serialized in this process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from agentledger.core.errors import Conflict, DeadlineExceeded, NotFound, Unavailable
from agentledger.core.offload import Offloader
from services.engine.domain.model import OutboxEvent
from services.engine.domain.store import EngineStore
from services.engine.domain.summary import SummaryView, summary_of

MAX_BATCH = 500
ATTEMPTS = 8
log = logging.getLogger("agentledger.engine.relay")
T = TypeVar("T")


class TraceSink(Protocol):
    """Where a task's trace goes: trace_store through its client, or in-process."""

    async def append(self, task_id: str, events: Sequence[OutboxEvent]) -> list[int]: ...

    async def put_summary(self, summary: SummaryView) -> None: ...

    async def put_blob(self, task_id: str, data: bytes, content_type: str) -> str: ...


class Relay:
    def __init__(
        self,
        store: EngineStore,
        sink: TraceSink,
        offload: Offloader,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self.sink = sink
        self._offload = offload
        self._sleep = sleep
        # A task's lock lives while someone holds or waits for it, then goes by itself.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, task_id: str) -> asyncio.Lock:
        lock = self._locks.get(task_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[task_id] = lock
        return lock

    async def _patiently(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retries what trace_store refuses for now: a concurrent append to the same task by
        another engine (Conflict; appends are idempotent) or a store that is briefly away.
        The events wait in the outbox meanwhile, so nothing is lost if it stays away."""
        for attempt in range(ATTEMPTS):
            try:
                return await call()
            except (Conflict, Unavailable, DeadlineExceeded) as exc:
                if attempt == ATTEMPTS - 1:
                    raise
                log.warning("%s: %s; trying again", what, exc)
                await self._sleep(min(0.05 * 2**attempt, 2.0))
        raise AssertionError("unreachable")

    async def send(
        self,
        task_id: str,
        events: Sequence[OutboxEvent],
        summary: SummaryView | None = None,
        *,
        new_task: bool = False,
    ) -> list[int]:
        """Makes `events` durable in trace_store, then `summary` when given (before them for a
        `new_task`, which trace_store does not know yet); returns the events' sequence numbers
        there."""
        async with self._lock(task_id):
            if new_task and summary is not None:
                await self.sink.put_summary(summary)
                summary = None
            seqs: list[int] = []
            for i in range(0, len(events), MAX_BATCH):
                chunk = events[i : i + MAX_BATCH]
                try:
                    seqs += await self._patiently(
                        f"append to {task_id}", functools.partial(self.sink.append, task_id, chunk)
                    )
                except NotFound:
                    # trace_store has no summary yet (a new task, or it was down at submit).
                    await self.sink.put_summary(summary or await self._current_summary(task_id))
                    summary = None
                    seqs += await self.sink.append(task_id, chunk)
            # The summary goes after the events it describes: a follower that sees a terminal
            # state in the summary must find every event already there.
            if summary is not None:
                await self.sink.put_summary(summary)
            return seqs

    async def drain(
        self, task_id: str, summary: SummaryView | None = None, *, new_task: bool = False
    ) -> int:
        """Sends whatever the task's outbox holds now (left by a crash, a user-side change or a
        run that could not finish relaying), deletes it, then puts `summary` (first instead, for
        a `new_task`). Returns how many events were sent."""
        sent = 0
        if new_task and summary is not None:
            async with self._lock(task_id):
                await self.sink.put_summary(summary)
            summary = None
        # Only what is there now: a worker running the task relays its own later events, and
        # chasing them would send each one twice.
        upto = await self._offload.read(self._store.last_outbox_seq, task_id)
        while True:
            rows = await self._offload.read(self._store.pending_events, task_id, MAX_BATCH, upto)
            if not rows:
                if summary is not None:
                    async with self._lock(task_id):
                        await self.sink.put_summary(summary)
                return sent
            await self.send(task_id, [e for _, e in rows])
            await self._offload.write(self._forget, task_id, rows[0][0], rows[-1][0])
            sent += len(rows)

    def _forget(self, task_id: str, first: int, last: int) -> None:
        with self._store.write() as tx:
            self._store.forget_relayed(tx, task_id, first, last)

    async def _current_summary(self, task_id: str) -> SummaryView:
        task = await self._offload.read(self._store.get_task, task_id)
        return summary_of(task, now_ns=task.updated_ns)
