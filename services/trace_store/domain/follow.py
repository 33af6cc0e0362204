"""Live following of a task's events: replay from a position, then follow, with heartbeats.

Every process has one ``LiveFeed``. Appends made through this process publish their committed
events to it, so followers of a busy task are served from a small in-memory ring without
touching the database. Appends made by another replica arrive as an announcement (the new last
sequence number, via PostgreSQL NOTIFY); the service reads those events once and publishes them
here for all its followers.
Sequence numbers are gap-free, so a follower can always tell whether what it holds is
contiguous; when it is not, or on every heartbeat (the fallback for stores that cannot
announce), it reads from the database. Nothing is skipped and nothing is sent twice because the
position only moves forward, one contiguous run at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from services.trace_store.domain.model import (
    TERMINAL_STATES,
    EventFilter,
    EventPage,
    LiveEvent,
    StoredEvent,
)


@dataclass(frozen=True, slots=True)
class Batch:
    events: Sequence[StoredEvent | LiveEvent]
    position: int  # the sequence number up to which the log was examined


@dataclass(frozen=True, slots=True)
class Heartbeat:
    position: int


@dataclass(frozen=True, slots=True)
class End:
    state: str
    position: int


FollowItem = Batch | Heartbeat | End
ReadPage = Callable[[int, int], Awaitable[EventPage]]


@dataclass
class _Channel:
    subscribers: set[asyncio.Event] = field(default_factory=set)
    ring: deque[LiveEvent] = field(default_factory=deque)
    known_last: int = 0
    state: str = ""
    state_version: int = 0


class LiveFeed:
    """Per-process fan-out of committed events to followers. Use from the event loop thread only."""

    def __init__(self, ring_size: int = 10_000) -> None:
        self.ring_size = ring_size
        self._channels: dict[str, _Channel] = {}

    @contextlib.contextmanager
    def subscribe(self, task_id: str) -> Iterator[asyncio.Event]:
        channel = self._channels.setdefault(task_id, _Channel())
        wake = asyncio.Event()
        channel.subscribers.add(wake)
        try:
            yield wake
        finally:
            channel.subscribers.discard(wake)
            if not channel.subscribers:
                self._channels.pop(task_id, None)

    def followers(self, task_id: str) -> int:
        channel = self._channels.get(task_id)
        return len(channel.subscribers) if channel else 0

    def publish_events(self, task_id: str, events: list[LiveEvent], last_seq: int) -> None:
        """Committed events appended through this process, in sequence order."""
        channel = self._channels.get(task_id)
        if channel is None:
            return
        if events:
            ring = channel.ring
            if ring and events[0].seq != ring[-1].seq + 1:
                ring.clear()  # not contiguous with what we hold: followers read the database
            ring.extend(events)
            while len(ring) > self.ring_size:
                ring.popleft()
        self._announce(channel, last_seq)

    def publish_state(self, task_id: str, state: str, version: int) -> None:
        """The task's summary reached ``version`` with this state (here or on another replica)."""
        channel = self._channels.get(task_id)
        if channel is not None and version > channel.state_version:
            channel.state, channel.state_version = state, version
            for wake in channel.subscribers:
                wake.set()

    def _announce(self, channel: _Channel, last_seq: int) -> None:
        if last_seq > channel.known_last:
            channel.known_last = last_seq
        for wake in channel.subscribers:
            wake.set()

    def recent(self, task_id: str, after: int) -> list[LiveEvent] | None:
        """Events after ``after`` from memory; [] when none are known; None to read the database."""
        channel = self._channels.get(task_id)
        if channel is None or channel.known_last <= after:
            return []
        ring = channel.ring
        if not ring or not ring[0].seq <= after + 1 <= ring[-1].seq:
            return None
        start = after + 1 - ring[0].seq
        return [ring[i] for i in range(start, len(ring))]

    def held_up_to(self, task_id: str) -> int:
        """The last sequence number this process holds or knows of for a followed task."""
        channel = self._channels.get(task_id)
        if channel is None:
            return 0
        return channel.ring[-1].seq if channel.ring else channel.known_last

    def known(self, task_id: str) -> tuple[int, str]:
        channel = self._channels.get(task_id)
        return (channel.known_last, channel.state) if channel else (0, "")


async def follow(
    feed: LiveFeed,
    task_id: str,
    read_page: ReadPage,
    *,
    after: int,
    flt: EventFilter,
    batch_size: int,
    until_terminal: bool,
    heartbeat_s: float,
) -> AsyncIterator[FollowItem]:
    """Replays from ``after`` then follows live; yields batches, heartbeats and a final End."""
    position, last_seq = after, 0
    with feed.subscribe(task_id) as wake:
        while True:
            # Catch up from the database (replay, a gap, or the heartbeat's fallback poll).
            while True:
                page = await read_page(position, batch_size)
                last_seq = max(last_seq, page.last_seq)
                feed.publish_state(task_id, page.state, page.version)
                if page.events:
                    yield Batch(page.events, page.scanned_to)
                position = page.scanned_to
                if not page.has_more:
                    break
            # Only the database ends a stream: the page above read the task's head (state and
            # last sequence number) before its events, so everything up to the end is sent.
            if until_terminal and page.state in TERMINAL_STATES and position >= page.last_seq:
                yield End(page.state, position)
                return
            # Follow from memory until something is out of reach.
            while True:
                known_last, state = feed.known(task_id)
                last_seq = max(last_seq, known_last)
                if until_terminal and state in TERMINAL_STATES and position >= last_seq:
                    # The feed may have heard of the end before the last events (another
                    # replica's announcements are read in the background): confirm in the database.
                    break
                wake.clear()
                recent = feed.recent(task_id, position)
                if recent is None:
                    break
                if recent:
                    position = recent[-1].seq
                    matched = recent if flt.empty else [e for e in recent if flt.matches(e)]
                    for start in range(0, len(matched), batch_size):
                        chunk = matched[start : start + batch_size]
                        end = position if start + batch_size >= len(matched) else chunk[-1].seq
                        yield Batch(chunk, end)
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), heartbeat_s)
                except TimeoutError:
                    yield Heartbeat(position)
                    break
