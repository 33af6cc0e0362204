"""StreamEvents: replay, live follow, resume without gap or duplicate, heartbeats, the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agentledger.core.errors import InvalidArgument, NotFound
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from tests.conftest import Store
from tests.helpers import ev, new_task

WAIT = 10.0  # upper bound for one expected message; reached only when something is broken


async def next_batch(stream: AsyncIterator[pb.StreamEventsResponse]) -> pb.EventBatch:
    while True:
        msg = await asyncio.wait_for(anext(stream), WAIT)
        if msg.HasField("batch"):
            return msg.batch


async def test_replays_then_follows_live(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev(f"e{i}") for i in range(3)])
    stream = store.client.stream_events("t1")
    replay = await next_batch(stream)
    assert [e.seq for e in replay.events] == [1, 2, 3]
    await store.client.append("t1", [ev("live1"), ev("live2")])
    live = await next_batch(stream)
    assert [e.event_id for e in live.events] == ["live1", "live2"]
    assert live.cursor == live.events[-1].cursor
    await stream.aclose()


async def test_resuming_from_the_last_cursor_has_no_gap_and_no_duplicate(store: Store) -> None:
    await new_task(store.client, "t1")
    received: list[int] = []
    cursor = ""
    for round_no in range(5):
        await store.client.append("t1", [ev(f"r{round_no}-{i}") for i in range(4)])
        stream = store.client.stream_events("t1", cursor, batch_size=3)
        batch = await next_batch(stream)  # take one batch, then drop the connection
        received += [e.seq for e in batch.events]
        cursor = batch.cursor
        await stream.aclose()
    stream = store.client.stream_events("t1", cursor)
    rest = await next_batch(stream)
    received += [e.seq for e in rest.events]
    await stream.aclose()
    assert received == list(range(1, 21))


async def test_idle_stream_sends_heartbeats_with_its_position(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev("a")])
    stream = store.client.stream_events("t1")
    await next_batch(stream)
    msg = await asyncio.wait_for(anext(stream), WAIT)
    assert msg.HasField("heartbeat")
    after = await store.client.list_events("t1", cursor=msg.heartbeat.cursor)
    assert list(after.events) == []
    await stream.aclose()


async def test_until_terminal_ends_after_the_last_event(store: Store) -> None:
    await new_task(store.client, "t1")
    stream = store.client.stream_events("t1", until_terminal=True)
    await store.client.append("t1", [ev("a"), ev("b")])
    await store.client.put_summary(pb.TraceSummary(task_id="t1", owner="alice", state="COMPLETED"))
    seqs: list[int] = []
    end = None
    async for msg in stream:
        if msg.HasField("batch"):
            seqs += [e.seq for e in msg.batch.events]
        elif msg.HasField("end"):
            end = msg.end
            break
    assert seqs == [1, 2]
    assert end is not None and end.state == "COMPLETED"


async def test_a_finished_task_replays_and_ends_at_once(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev("a")])
    await store.client.put_summary(pb.TraceSummary(task_id="t1", owner="alice", state="FAILED"))
    kinds = [
        m.WhichOneof("item") async for m in store.client.stream_events("t1", until_terminal=True)
    ]
    assert kinds == ["batch", "end"]


async def test_filtered_stream_sends_only_matching_events(store: Store) -> None:
    await new_task(store.client, "t1")
    stream = store.client.stream_events("t1", filter=pb.EventFilter(types=["keep"]))
    await store.client.append(
        "t1", [ev("a", type="drop"), ev("b", type="keep"), ev("c", type="drop")]
    )
    batch = await next_batch(stream)
    assert [e.event_id for e in batch.events] == ["b"]
    await stream.aclose()


async def test_many_followers_each_see_every_event_once(store: Store) -> None:
    await new_task(store.client, "t1")
    total = 200

    async def follow() -> list[int]:
        seen: list[int] = []
        async for msg in store.client.stream_events("t1", until_terminal=True, batch_size=7):
            seen += [e.seq for e in msg.batch.events]
        return seen

    followers = [asyncio.create_task(follow()) for _ in range(5)]
    for start in range(0, total, 10):
        await store.client.append("t1", [ev(f"e{i}") for i in range(start, start + 10)])
    await store.client.put_summary(pb.TraceSummary(task_id="t1", owner="alice", state="COMPLETED"))
    results = await asyncio.wait_for(asyncio.gather(*followers), 30)
    for seen in results:
        assert seen == list(range(1, total + 1))


async def test_stream_of_unknown_task_or_bad_cursor_fails_clearly(store: Store) -> None:
    with pytest.raises(NotFound):
        async for _ in store.client.stream_events("nope"):
            pass
    await new_task(store.client, "t1")
    with pytest.raises(InvalidArgument, match="cursor"):
        async for _ in store.client.stream_events("t1", "bogus"):
            pass
    with pytest.raises(InvalidArgument, match="batch_size"):
        async for _ in store.client.stream_events("t1", batch_size=5000):
            pass
