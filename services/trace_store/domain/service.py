"""The TraceStore as one object: the operations the RPCs expose, with live fan-out and caching.

Blocking database work runs in the offloader's threads; publishing to live followers happens on
the event loop after each commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import IO

from agentledger.core.errors import InvalidArgument
from agentledger.core.offload import Offloader
from services.trace_store.domain.announce import Announcement
from services.trace_store.domain.blobs import BlobStore
from services.trace_store.domain.cursors import decode_event_cursor
from services.trace_store.domain.events import MAX_PAGE, EventLog
from services.trace_store.domain.follow import FollowItem, LiveFeed, follow
from services.trace_store.domain.ingest import EventLike, check_task_id
from services.trace_store.domain.model import (
    AppendResult,
    BlobInfo,
    EventFilter,
    EventPage,
    Stats,
    Summary,
    TaskFilter,
    TaskIndex,
    TaskPage,
)
from services.trace_store.domain.query import TaskQuery, validate_filter
from services.trace_store.domain.summaries import SummaryStore

log = logging.getLogger(__name__)


class TraceStoreService:
    def __init__(
        self,
        *,
        events: EventLog,
        summaries: SummaryStore,
        query: TaskQuery,
        blobs: BlobStore,
        feed: LiveFeed,
        offload: Offloader,
        heartbeat_s: float,
    ) -> None:
        self._events = events
        self._summaries = summaries
        self._query = query
        self.blobs = blobs
        self._feed = feed
        self._offload = offload
        self.heartbeat_s = heartbeat_s
        # Appends announced by other replicas, waiting to be read for this process's followers.
        self._announced: dict[str, int] = {}
        self._catching_up: set[str] = set()

    async def append(self, task_id: str, batch: Sequence[EventLike]) -> AppendResult:
        # Validation runs here while the writer thread stores the previous batch: appends pipeline.
        prepared = self._events.prepare(task_id, batch)
        result = await self._offload.write(self._events.write, task_id, prepared)
        if result.fresh:
            if self._feed.followers(task_id):
                self._feed.publish_events(task_id, result.live(), result.last_seq)
            self._summaries.cache.bump_last_seq(task_id, result.last_seq)
        return result

    async def list_events(
        self, task_id: str, cursor: str, limit: int, flt: EventFilter
    ) -> EventPage:
        check_task_id(task_id)
        after = decode_event_cursor(task_id, cursor)
        return await self._offload.read(self._events.page, task_id, after, limit, flt)

    def stream(
        self, task_id: str, cursor: str, flt: EventFilter, batch_size: int, until_terminal: bool
    ) -> AsyncIterator[FollowItem]:
        check_task_id(task_id)
        after = decode_event_cursor(task_id, cursor)
        if not 1 <= batch_size <= MAX_PAGE:
            raise InvalidArgument(f"batch_size {batch_size} is out of range; use 1..{MAX_PAGE}")

        async def read_page(position: int, limit: int) -> EventPage:
            return await self._offload.read(self._events.page, task_id, position, limit, flt)

        return follow(
            self._feed,
            task_id,
            read_page,
            after=after,
            flt=flt,
            batch_size=batch_size,
            until_terminal=until_terminal,
            heartbeat_s=self.heartbeat_s,
        )

    async def put_summary(
        self, index: TaskIndex, document: dict[str, object], expected_version: int
    ) -> Summary:
        summary = await self._offload.write(self._summaries.put, index, document, expected_version)
        self._feed.publish_state(index.task_id, summary.index.state, summary.version)
        return summary

    async def get_summary(self, task_id: str) -> Summary:
        check_task_id(task_id)
        cached = self._summaries.cache.get(task_id)
        if cached is not None:
            return cached  # served on the loop: no thread hop for the hot path
        return await self._offload.read(self._summaries.get, task_id)

    async def query_tasks(
        self, flt: TaskFilter, sort: str, ascending: bool, limit: int, cursor: str
    ) -> TaskPage:
        return await self._offload.read(self._query.run, flt, sort, ascending, limit, cursor)

    async def stats(self, flt: TaskFilter) -> Stats:
        validate_filter(flt)
        return await self._offload.read(self._summaries.read_stats, flt)

    async def put_blob(
        self, task_id: str, sha256: str, size: int, content_type: str, chunks: AsyncIterator[bytes]
    ) -> BlobInfo:
        self.blobs.check_header(task_id, sha256, size, content_type)
        spool: IO[bytes] = await self.blobs.receive(sha256, size, chunks)
        try:
            return await self._offload.write(
                self.blobs.commit, task_id, sha256, size, content_type, spool
            )
        finally:
            spool.close()

    async def blob_info(self, task_id: str, sha256: str) -> BlobInfo:
        check_task_id(task_id)
        return await self._offload.read(self.blobs.info, task_id, sha256)

    async def blob_chunks(self, sha256: str) -> AsyncIterator[bytes]:
        chunks: Iterator[bytes] = self.blobs.chunks(sha256)
        while True:
            chunk = await self._offload.read(next, chunks, None)
            if chunk is None:
                return
            yield chunk

    def on_announcement(self, a: Announcement) -> None:
        """Another replica wrote: bring followers the new events (read once for all of them)
        and drop what the cache holds of older summary versions."""
        if a.kind == "events":
            self._summaries.cache.bump_last_seq(a.task_id, a.number)
            if self._feed.followers(a.task_id):
                self._announced[a.task_id] = max(a.number, self._announced.get(a.task_id, 0))
                if a.task_id not in self._catching_up:
                    self._catching_up.add(a.task_id)
                    asyncio.get_running_loop().create_task(self._catch_up(a.task_id))
        elif a.kind == "summary":
            self._summaries.cache.invalidate(a.task_id, a.number)
            self._feed.publish_state(a.task_id, a.state, a.number)

    async def _catch_up(self, task_id: str) -> None:
        """Reads what other replicas appended once, into the live feed; announcements that
        arrive meanwhile are folded into the next read."""
        try:
            while (upto := self._announced.pop(task_id, 0)) > 0:
                # Never more than the ring holds: followers further behind read the database.
                after = max(self._feed.held_up_to(task_id), upto - self._feed.ring_size)
                if upto <= after:
                    continue
                try:
                    events = await self._offload.read(self._events.live_range, task_id, after, upto)
                except Exception:
                    log.warning("could not read events of %s for followers", task_id, exc_info=True)
                    events = []  # followers still wake and read the database themselves
                self._feed.publish_events(task_id, events, upto)
        finally:
            self._catching_up.discard(task_id)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._offload.shutdown)
