"""Live tails shared by every follower of a task on one gateway process.

Without it, each SSE follower holds its own StreamEvents call: trace_store and the gateway both
pay for every batch once per follower, and 50 followers of a busy task saturate them. Here a
follower first catches up on its own, page by page with its own identity (so trace_store
checks it too); then it joins the task's ``Tail``: ONE upstream stream whose batches are
encoded to SSE bytes once and handed to every follower's bounded queue.

Order and exactly-once delivery rest on sequence numbers: a follower joins only when the
tail's recent history (a bounded ring) reaches back to the event after the last one it has,
skips what it already has, and otherwise keeps paging. A follower too slow for its queue, or a
tail whose upstream fails, falls back to a private stream from the follower's own cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

from agentledger.core.client import Identity
from agentledger.trace_store.v1 import trace_store_pb2 as tpb
from gateway.convert import sse_event, to_dict
from services.trace_store.client import TraceStoreClient

log = logging.getLogger("agentledger.gateway.hub")

PAGE = 1000
RING_EVENTS = 20_000  # how far back a late follower can join without paging further
QUEUE_CHUNKS = 512  # a follower further behind than this is moved to a stream of its own


@dataclass(frozen=True, slots=True)
class Chunk:
    """What a tail hands its followers: a batch of events (SSE bytes, each with its sequence
    number), a heartbeat, the end of the task, or the loss of the upstream."""

    kind: str  # events | heartbeat | end | lost
    data: bytes = b""
    parts: tuple[tuple[int, bytes], ...] = ()
    cursor: str = ""

    @property
    def first_seq(self) -> int:
        return self.parts[0][0] if self.parts else 0

    @property
    def last_seq(self) -> int:
        return self.parts[-1][0] if self.parts else 0

    def after(self, seq: int) -> bytes:
        """The SSE bytes of the events after ``seq`` (all of them, without copying, usually)."""
        if self.first_seq > seq:
            return self.data
        return b"".join(data for s, data in self.parts if s > seq)


def events_chunk(events: list[tpb.TraceEvent]) -> Chunk:
    parts = tuple((e.seq, sse_event(e)) for e in events)
    return Chunk("events", b"".join(p for _, p in parts), parts, events[-1].cursor)


def end_bytes(end: tpb.StreamEnd) -> bytes:
    return b"event: end\ndata: " + orjson.dumps(to_dict(end)) + b"\n\n"


class Follower:
    def __init__(self, last_seq: int) -> None:
        self.queue: asyncio.Queue[Chunk] = asyncio.Queue(QUEUE_CHUNKS)
        self.last_seq = last_seq

    def offer(self, chunk: Chunk) -> bool:
        """False when the follower's queue is full: it must leave and catch up on its own."""
        try:
            self.queue.put_nowait(chunk)
        except asyncio.QueueFull:
            return False
        return True


class Tail:
    """One task's live events from one upstream stream, fanned out to its followers."""

    def __init__(
        self,
        task_id: str,
        open_stream: Callable[[str], AsyncIterator[tpb.StreamEventsResponse]],
        start_cursor: str,
        start_seq: int,
        on_done: Callable[[Tail], None],
    ) -> None:
        self.task_id = task_id
        self.start_seq = start_seq
        self.followers: set[Follower] = set()
        self._ring: deque[Chunk] = deque()
        self._ring_events = 0
        self._final: Chunk | None = None
        self._closed = False  # no follower left: the upstream is being closed
        self._on_done = on_done
        self._pump = asyncio.create_task(
            self._run(open_stream(start_cursor)), name=f"tail/{task_id}"
        )

    def join(self, follower: Follower) -> bool:
        """Adds a follower that has every event up to ``follower.last_seq``; False when this
        tail's history does not reach back that far (the follower keeps paging) or the tail is
        closing (the follower then starts a new one)."""
        if self._closed:
            return False
        oldest = self._ring[0].first_seq if self._ring else self._next_seq
        if follower.last_seq + 1 < oldest:
            return False
        for chunk in self._ring:
            if chunk.last_seq > follower.last_seq and not follower.offer(chunk):
                return False
        if self._final is not None:
            follower.offer(self._final)
        else:
            self.followers.add(follower)
        return True

    def leave(self, follower: Follower) -> None:
        self.followers.discard(follower)
        if not self.followers and self._final is None and not self._closed:
            # Gone from the hub at once: a follower arriving now starts a new tail rather than
            # joining one whose upstream is being closed.
            self._closed = True
            self._on_done(self)
            self._pump.cancel()

    @property
    def _next_seq(self) -> int:
        return (self._ring[-1].last_seq if self._ring else self.start_seq) + 1

    async def _run(self, stream: AsyncIterator[tpb.StreamEventsResponse]) -> None:
        try:
            async for msg in stream:
                item = msg.WhichOneof("item")
                if item == "batch" and msg.batch.events:
                    chunk = events_chunk(list(msg.batch.events))
                    self._remember(chunk)
                    self._broadcast(chunk)
                elif item == "heartbeat":
                    self._broadcast(Chunk("heartbeat", cursor=msg.heartbeat.cursor))
                elif item == "end":
                    self._final = Chunk("end", end_bytes(msg.end), cursor=msg.end.cursor)
                    self._broadcast(self._final)
                    return
            self._final = Chunk("lost")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # trace_store went away: every follower goes on by itself
            log.warning("live tail of %s lost its upstream: %s", self.task_id, exc)
            self._final = Chunk("lost")
        finally:
            if self._final is not None and self._final.kind == "lost":
                self._broadcast(self._final)
            self._on_done(self)
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    def _remember(self, chunk: Chunk) -> None:
        self._ring.append(chunk)
        self._ring_events += len(chunk.parts)
        while self._ring_events > RING_EVENTS and len(self._ring) > 1:
            self._ring_events -= len(self._ring.popleft().parts)

    def _broadcast(self, chunk: Chunk) -> None:
        for follower in list(self.followers):
            if not follower.offer(chunk):
                self.followers.discard(follower)
                follower.queue = _lost_queue()


def _lost_queue() -> asyncio.Queue[Chunk]:
    """A full follower's new queue: holds only the news that it must go on by itself."""
    q: asyncio.Queue[Chunk] = asyncio.Queue(1)
    q.put_nowait(Chunk("lost"))
    return q


class LiveHub:
    """The gateway's tails, one per followed task."""

    def __init__(self, trace: TraceStoreClient) -> None:
        self._trace = trace
        self._tails: dict[str, Tail] = {}

    def _tail(self, task_id: str, cursor: str, seq: int) -> Tail:
        tail = self._tails.get(task_id)
        if tail is None:
            tail = Tail(
                task_id,
                # The gateway's own identity: each follower was authorized (and audited) when
                # it connected, and read its history with its own identity.
                lambda c: self._trace.stream_events(task_id, c, until_terminal=True),
                cursor,
                seq,
                self._done,
            )
            self._tails[task_id] = tail
        return tail

    def _done(self, tail: Tail) -> None:
        if self._tails.get(tail.task_id) is tail:
            del self._tails[tail.task_id]

    @property
    def tails(self) -> int:
        return len(self._tails)

    async def follow(
        self, task_id: str, cursor: str, identity: Identity
    ) -> AsyncIterator[bytes | str]:
        """SSE bytes for one follower from ``cursor`` until the task ends. A ``str`` item is
        a cursor to go on from with a stream of the follower's own (the hub cannot serve it):
        a resume point it cannot number (cursors are opaque) or a lost upstream."""
        last_seq = 0 if not cursor else -1  # unknown until an event is seen
        while True:
            # Catch up privately, with the follower's identity.
            while True:
                page = await self._trace.list_events(task_id, cursor, PAGE, identity=identity)
                if page.events:
                    yield b"".join(sse_event(e) for e in page.events)
                    last_seq = page.events[-1].seq
                cursor = page.next_cursor or cursor
                if not page.has_more:
                    break
            if last_seq < 0:
                yield cursor
                return
            follower = Follower(last_seq)
            tail = self._tail(task_id, cursor, last_seq)
            if not tail.join(follower):
                continue  # its history does not reach back to us yet: page on
            try:
                while True:
                    chunk = await follower.queue.get()
                    if chunk.kind == "events":
                        if chunk.last_seq > follower.last_seq:
                            yield chunk.after(follower.last_seq)
                            follower.last_seq = chunk.last_seq
                            cursor = chunk.cursor
                    elif chunk.kind == "heartbeat":
                        yield b": heartbeat " + chunk.cursor.encode() + b"\n\n"
                    elif chunk.kind == "end":
                        yield chunk.data
                        return
                    else:  # lost: the upstream failed, or we fell too far behind
                        yield cursor
                        return
            finally:
                tail.leave(follower)
