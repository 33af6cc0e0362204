"""The live hub against a real TraceStore: followers of one task share one upstream stream,
each gets every event once and in order (joining late, falling behind, resuming), and all of
them see the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from agentledger.trace_store.v1 import trace_store_pb2 as tpb
from gateway import hub as hub_module
from gateway.hub import Follower, LiveHub, Tail
from tests.conftest import Store
from tests.helpers import ev, new_task, summary


def parse(chunks: list[bytes]) -> tuple[list[int], list[str], bool]:
    """Sequence numbers, cursors (SSE ids), and whether the end event came."""
    seqs, ids, ended = [], [], False
    for record in b"".join(chunks).split(b"\n\n"):
        lines = dict(
            line.split(b": ", 1)
            for line in record.split(b"\n")
            if b": " in line and line[:1] != b":"
        )
        if lines.get(b"event") == b"end":
            ended = True
        elif b"data" in lines:
            seqs.append(orjson.loads(lines[b"data"])["seq"])
            ids.append(lines[b"id"].decode())
    return seqs, ids, ended


async def collect(gen: AsyncIterator[bytes | str], until_seq: int = 0) -> list[bytes | str]:
    out: list[bytes | str] = []
    async for item in gen:
        out.append(item)
        if isinstance(item, str):
            break
        if until_seq and parse([i for i in out if isinstance(i, bytes)])[0][-1:] == [until_seq]:
            break
    return out


async def append(store: Store, task_id: str, first: int, n: int) -> None:
    await store.client.append(task_id, [ev(f"{task_id}-{i}") for i in range(first, first + n)])


async def test_followers_share_one_upstream_and_get_every_event_once(store: Store) -> None:
    await new_task(store.client, "t1")
    await append(store, "t1", 0, 30)
    hub = LiveHub(store.client)
    followers = [asyncio.create_task(collect(hub.follow("t1", "", ""))) for _ in range(20)]
    await append(store, "t1", 30, 30)
    await store.client.put_summary(summary("t1", state="COMPLETED"))
    results = await asyncio.gather(*followers)
    for out in results:
        assert all(isinstance(c, bytes) for c in out)
        seqs, _, ended = parse(out)  # type: ignore[arg-type]
        assert seqs == list(range(1, 61)) and ended
    assert hub.tails == 0  # the tail closed with the task


async def test_a_late_follower_joins_from_its_cursor_without_a_gap_or_duplicate(
    store: Store,
) -> None:
    await new_task(store.client, "t2")
    await append(store, "t2", 0, 10)
    hub = LiveHub(store.client)
    first = hub.follow("t2", "", "")
    got = await collect(first, until_seq=10)
    _, ids, _ = parse(got)  # type: ignore[arg-type]
    live = asyncio.create_task(collect(first))
    await append(store, "t2", 10, 10)
    # A second follower resumes after event 4, while the tail is live.
    late = asyncio.create_task(collect(hub.follow("t2", ids[3], "")))
    await append(store, "t2", 20, 5)
    await store.client.put_summary(summary("t2", state="FAILED"))
    seqs_late, _, ended = parse(await late)  # type: ignore[arg-type]
    assert seqs_late == list(range(5, 26)) and ended
    seqs_live, _, ended = parse(await live)  # type: ignore[arg-type]
    assert seqs_live == list(range(11, 26)) and ended


async def test_a_resume_point_it_cannot_number_goes_to_a_stream_of_its_own(store: Store) -> None:
    await new_task(store.client, "t3")
    await append(store, "t3", 0, 3)
    page = await store.client.list_events("t3")
    hub = LiveHub(store.client)
    out = await collect(hub.follow("t3", page.next_cursor, ""))
    assert out == [page.next_cursor]


class Upstream:
    """A stream the test feeds by hand; ``drained`` is set whenever the tail has taken
    everything fed so far and asks for more."""

    def __init__(self) -> None:
        self.items: asyncio.Queue[tpb.StreamEventsResponse] = asyncio.Queue()
        self.drained = asyncio.Event()

    async def stream(self, _cursor: str) -> AsyncIterator[tpb.StreamEventsResponse]:
        while True:
            if self.items.empty():
                self.drained.set()
            item = await self.items.get()
            self.drained.clear()
            yield item

    def batch(self, task_id: str, seq: int) -> None:
        self.drained.clear()
        cursor = f"c{seq}"
        e = tpb.TraceEvent(task_id=task_id, seq=seq, cursor=cursor, type="x")
        self.items.put_nowait(
            tpb.StreamEventsResponse(batch=tpb.EventBatch(events=[e], cursor=cursor))
        )


async def test_a_follower_too_slow_for_its_queue_is_told_to_go_on_by_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_CHUNKS", 3)
    upstream = Upstream()
    tail = Tail("t", upstream.stream, "c0", 0, lambda _: None)
    slow, quick = Follower(0), Follower(0)
    assert tail.join(slow) and tail.join(quick)
    for seq in range(1, 6):  # more batches than a queue holds
        upstream.batch("t", seq)
        if seq == 2:
            await upstream.drained.wait()
            assert slow.queue.qsize() == 2
            while not quick.queue.empty():
                quick.queue.get_nowait()  # the quick one keeps up
    await upstream.drained.wait()
    assert [slow.queue.get_nowait().kind] == ["lost"] and slow.queue.empty()
    assert slow not in tail.followers and quick in tail.followers
    assert [quick.queue.get_nowait().last_seq for _ in range(3)] == [3, 4, 5]
    # A follower whose point is older than the ring holds cannot join; one inside it can.
    assert tail.join(Follower(2)) and not tail.join(Follower(-5))
    tail.leave(quick)


async def test_a_tail_left_by_its_last_follower_is_replaced_not_joined() -> None:
    upstream = Upstream()
    done: list[Tail] = []
    tail = Tail("t", upstream.stream, "c0", 0, done.append)
    only = Follower(0)
    assert tail.join(only)
    tail.leave(only)
    assert done == [tail]  # out of the hub at once
    assert not tail.join(Follower(0))  # a newcomer starts a new tail instead
