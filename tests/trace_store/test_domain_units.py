"""Unit tests of the TraceStore's pure parts: cursors, histogram percentiles, the live feed and
the summary cache."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentledger.core.errors import InvalidArgument
from services.trace_store.domain.cursors import (
    decode_event_cursor,
    decode_task_cursor,
    encode_task_cursor,
    event_cursor,
)
from services.trace_store.domain.follow import LiveFeed
from services.trace_store.domain.model import LiveEvent, Summary, TaskIndex
from services.trace_store.domain.stats import duration_bucket, percentile
from services.trace_store.domain.summaries import SummaryCache

task_ids = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=64)


@given(task_ids, st.integers(min_value=0, max_value=2**63 - 1))
def test_event_cursor_round_trips(task_id: str, seq: int) -> None:
    assert decode_event_cursor(task_id, event_cursor(task_id, seq)) == seq


@given(task_ids, task_ids, st.integers(min_value=0, max_value=10**9))
def test_event_cursor_of_another_task_is_refused(a: str, b: str, seq: int) -> None:
    if a == b:
        return
    with pytest.raises(InvalidArgument, match="another task"):
        decode_event_cursor(b, event_cursor(a, seq))


@given(st.text(max_size=40))
def test_arbitrary_text_is_never_silently_accepted_as_a_cursor(text: str) -> None:
    try:
        decode_event_cursor("t1", text)
    except InvalidArgument:
        return
    assert text == ""  # only the empty cursor (= the beginning) is accepted


@given(
    st.sampled_from(["created", "cost"]),
    st.booleans(),
    st.floats(0, 1e9, allow_nan=False),
    task_ids,
)
def test_task_cursor_round_trips(sort: str, asc: bool, value: float, task_id: str) -> None:
    assert decode_task_cursor(encode_task_cursor(sort, asc, value, task_id), sort, asc) == (
        value,
        task_id,
    )


@given(
    st.lists(st.integers(min_value=0, max_value=10**8), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.95]),
)
def test_histogram_percentile_is_within_five_percent_of_exact(
    durations: list[int], q: float
) -> None:
    from collections import Counter

    hist = Counter(duration_bucket(d) for d in durations)
    exact = sorted(durations)[max(1, math.ceil(q * len(durations))) - 1]
    estimate = percentile(hist, q)
    if exact == 0:
        assert estimate == 0
    else:
        assert abs(estimate - exact) <= 0.05 * exact + 0.5


def _event(seq: int) -> LiveEvent:
    return LiveEvent(seq, b"", "t", "", "", 2)


async def test_feed_serves_contiguous_events_from_memory_and_detects_gaps() -> None:
    feed = LiveFeed(ring_size=5)
    with feed.subscribe("t") as wake:
        assert feed.recent("t", 0) == []  # nothing known yet
        feed.publish_events("t", [_event(1), _event(2), _event(3)], 3)
        assert wake.is_set()
        assert [e.seq for e in feed.recent("t", 1) or []] == [2, 3]
        feed.publish_events("t", [_event(5)], 5)  # 4 came through another replica: a gap
        assert feed.recent("t", 3) is None  # the follower must read the database
        assert [e.seq for e in feed.recent("t", 4) or []] == [5]
        feed.publish_events("t", [], 9)  # a later head announced without its events
        assert feed.recent("t", 5) is None
    assert feed.followers("t") == 0
    assert feed.recent("t", 0) == []  # no subscribers: nothing is kept


async def test_feed_ring_is_bounded() -> None:
    feed = LiveFeed(ring_size=3)
    with feed.subscribe("t"):
        feed.publish_events("t", [_event(i) for i in range(1, 11)], 10)
        assert feed.recent("t", 2) is None
        assert [e.seq for e in feed.recent("t", 7) or []] == [8, 9, 10]


async def test_feed_state_only_moves_forward() -> None:
    feed = LiveFeed()
    with feed.subscribe("t") as wake:
        feed.publish_state("t", "COMPLETED", 5)
        wake.clear()
        feed.publish_state("t", "RUNNING", 4)  # an older read arriving late
        assert feed.known("t") == (0, "COMPLETED")
        assert not wake.is_set()
    await asyncio.sleep(0)


def _summary(version: int, state: str = "RUNNING") -> Summary:
    return Summary(TaskIndex(task_id="t", owner="o", state=state), {}, version, 0)


def test_cache_never_goes_back_to_an_older_version() -> None:
    cache = SummaryCache(10)
    cache.offer(_summary(2, "PAUSED"))
    cache.offer(_summary(1, "RUNNING"))  # a slow read of version 1
    assert cache.get("t") is not None and cache.get("t").version == 2  # type: ignore[union-attr]
    cache.invalidate("t", 3)  # another replica wrote version 3
    assert cache.get("t") is None
    cache.offer(_summary(2))  # a read that raced with the write
    assert cache.get("t") is None
    cache.offer(_summary(3, "COMPLETED"))
    assert cache.get("t").index.state == "COMPLETED"  # type: ignore[union-attr]


def test_cache_is_bounded_and_bumps_last_seq() -> None:
    cache = SummaryCache(2)
    for i in range(3):
        cache.offer(Summary(TaskIndex(task_id=f"t{i}", owner="o"), {}, 1, 0))
    assert cache.get("t0") is None and cache.get("t2") is not None
    cache.bump_last_seq("t2", 7)
    assert cache.get("t2").last_seq == 7  # type: ignore[union-attr]


async def test_follow_ends_only_when_the_database_confirms_the_last_event() -> None:
    """The feed hears that the task ended before it holds the last events (they were appended
    through another replica and are still being read): the stream must still send them."""
    from services.trace_store.domain.follow import Batch, End, follow
    from services.trace_store.domain.model import EventFilter, EventPage, StoredEvent

    feed = LiveFeed()
    db_last = 2
    reads: list[int] = []

    async def read_page(position: int, limit: int) -> EventPage:
        reads.append(position)
        events = [StoredEvent(s, b"") for s in range(position + 1, db_last + 1)][:limit]
        state = "COMPLETED" if db_last == 3 else "RUNNING"
        return EventPage(events, max(position, db_last), False, db_last, state, db_last)

    stream = follow(
        feed,
        "t",
        read_page,
        after=0,
        flt=EventFilter(),
        batch_size=10,
        until_terminal=True,
        heartbeat_s=60,
    )
    first = await anext(stream)
    assert isinstance(first, Batch) and [e[0] for e in first.events] == [1, 2]
    db_last = 3  # event 3 and the end are committed; the feed has only heard of the end
    feed.publish_state("t", "COMPLETED", 99)
    rest = [item async for item in stream]
    assert [e[0] for e in rest[0].events] == [3]  # type: ignore[union-attr]
    assert isinstance(rest[-1], End) and rest[-1].position == 3
