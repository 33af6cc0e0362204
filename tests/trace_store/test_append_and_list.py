"""AppendEvents and ListEvents against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
import pytest
from grpc.aio import AioRpcError

from agentledger.common.v1 import common_pb2
from agentledger.core.client import open_channel, to_domain_error
from agentledger.core.errors import InvalidArgument, NotFound
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from agentledger.trace_store.v1.trace_store_pb2_grpc import TraceStoreStub
from services.trace_store.client import payload
from tests.conftest import Store
from tests.helpers import ev, new_task


async def test_sequence_numbers_are_assigned_gap_free_in_order(store: Store) -> None:
    await new_task(store.client, "t1")
    first = await store.client.append("t1", [ev("a"), ev("b"), ev("c")])
    second = await store.client.append("t1", [ev("d")])
    assert list(first.seqs) == [1, 2, 3] and first.last_seq == 3
    assert list(second.seqs) == [4] and second.last_seq == 4
    page = await store.client.list_events("t1", limit=10)
    assert [e.seq for e in page.events] == [1, 2, 3, 4]
    assert [e.event_id for e in page.events] == ["a", "b", "c", "d"]
    assert payload(page.events[0]) == {"n": "a"}
    assert not page.has_more


async def test_a_retried_batch_stores_nothing_twice(store: Store) -> None:
    await new_task(store.client, "t1")
    batch = [ev("a"), ev("b")]
    first = await store.client.append("t1", batch)
    retry = await store.client.append("t1", batch)
    assert list(retry.seqs) == list(first.seqs) == [1, 2]
    assert retry.duplicates == 2
    # A batch that overlaps: known events keep their numbers, new ones continue the sequence.
    mixed = await store.client.append("t1", [ev("b"), ev("c")])
    assert list(mixed.seqs) == [2, 3] and mixed.duplicates == 1
    page = await store.client.list_events("t1", limit=100)
    assert [e.event_id for e in page.events] == ["a", "b", "c"]


async def test_reusing_an_event_id_for_another_event_is_refused(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev("a", type="x")])
    with pytest.raises(InvalidArgument, match="already stored with type 'x'"):
        await store.client.append("t1", [ev("a", type="y")])


async def test_a_failed_batch_stores_nothing(store: Store) -> None:
    await new_task(store.client, "t1")
    bad = [ev("a"), ev("b"), pb.EventInput(event_id="c", type="x", payload_json=b"[1, 2]")]
    with pytest.raises(InvalidArgument, match=r"'c'.*JSON object"):
        await store.client.append("t1", bad)
    page = await store.client.list_events("t1")
    assert list(page.events) == []
    ok = await store.client.append("t1", [ev("a")])
    assert list(ok.seqs) == [1]  # no sequence number was used up by the failed batch


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (pb.EventInput(event_id="", type="x"), "event_id must be"),
        (pb.EventInput(event_id="a", type=""), "type must be"),
        (pb.EventInput(event_id="a", type="x", phase="deploy"), "phase 'deploy'"),
        (pb.EventInput(event_id="a", type="x", payload_json=b"{not json"), "not valid JSON"),
        (pb.EventInput(event_id="a", type="x", payload_json=b'"text"'), "JSON object"),
        (pb.EventInput(event_id="a", type="x", blob_ids=["abc"]), "not a lower-case hex sha256"),
        (pb.EventInput(event_id="a", type="x", node_id="n" * 300), "limited to 256"),
        (pb.EventInput(event_id="a", type="x", severity=9), "severity"),  # type: ignore[arg-type]
    ],
)
async def test_bad_events_are_refused_with_a_message_naming_the_problem(
    store: Store, event: pb.EventInput, message: str
) -> None:
    await new_task(store.client, "t1")
    stub = TraceStoreStub(open_channel(store.target))
    with pytest.raises(AioRpcError) as failure:
        # The raw stub: the typed client would fill in the empty event id.
        await stub.AppendEvents(pb.AppendEventsRequest(task_id="t1", events=[event]))
    error = to_domain_error(failure.value)
    assert isinstance(error, InvalidArgument)
    assert message in str(error)


async def test_oversized_event_and_batch_name_the_limit(store: Store) -> None:
    await new_task(store.client, "t1")
    big = orjson.dumps({"x": "y" * (300 * 1024)})
    with pytest.raises(InvalidArgument, match=r"limit is 262144 bytes"):
        await store.client.append("t1", [pb.EventInput(event_id="a", type="x", payload_json=big)])
    with pytest.raises(InvalidArgument, match="limit is 5000 per call"):
        await store.client.append("t1", [ev(str(i)) for i in range(5001)])
    with pytest.raises(InvalidArgument, match="appears twice"):
        await store.client.append("t1", [ev("a"), ev("a")])
    with pytest.raises(InvalidArgument, match="empty"):
        await store.client.append("t1", [])


async def test_unknown_task_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="'nope'"):
        await store.client.append("nope", [ev("a")])
    with pytest.raises(NotFound):
        await store.client.list_events("nope")


async def test_pages_follow_the_cursor_without_overlap(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev(f"e{i:03d}") for i in range(25)])
    seen: list[int] = []
    cursor = ""
    while True:
        page = await store.client.list_events("t1", cursor=cursor, limit=10)
        seen += [e.seq for e in page.events]
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert seen == list(range(1, 26))
    # The last cursor resumes after the end: nothing now, the next events once appended.
    assert list((await store.client.list_events("t1", cursor=cursor)).events) == []
    await store.client.append("t1", [ev("late")])
    assert [e.seq for e in (await store.client.list_events("t1", cursor=cursor)).events] == [26]


async def test_each_event_carries_the_cursor_that_resumes_after_it(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev(f"e{i}") for i in range(5)])
    third = (await store.client.list_events("t1")).events[2]
    after = await store.client.list_events("t1", cursor=third.cursor)
    assert [e.seq for e in after.events] == [4, 5]


async def test_filters_by_type_phase_node_and_severity(store: Store) -> None:
    await new_task(store.client, "t1")
    sev = common_pb2.Severity
    await store.client.append(
        "t1",
        [
            ev("a", type="node.started", phase="build", node_id="n1", severity=sev.SEVERITY_INFO),
            ev("b", type="node.failed", phase="build", node_id="n1", severity=sev.SEVERITY_ERROR),
            ev("c", type="node.started", phase="verify", node_id="n2", severity=sev.SEVERITY_INFO),
            ev("d", type="governance.decision", phase="govern", severity=sev.SEVERITY_WARNING),
        ],
    )

    async def ids(**f: object) -> list[str]:
        page = await store.client.list_events("t1", filter=pb.EventFilter(**f))  # type: ignore[arg-type]
        return [e.event_id for e in page.events]

    assert await ids(types=["node.started"]) == ["a", "c"]
    assert await ids(phases=["build"]) == ["a", "b"]
    assert await ids(node_ids=["n2"]) == ["c"]
    assert await ids(min_severity=sev.SEVERITY_WARNING) == ["b", "d"]
    assert await ids(types=["node.started"], phases=["verify"]) == ["c"]


async def test_a_filtered_page_moves_the_cursor_past_what_it_examined(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev(f"e{i}", type="noise") for i in range(20)])
    page = await store.client.list_events("t1", filter=pb.EventFilter(types=["signal"]))
    assert list(page.events) == [] and not page.has_more
    await store.client.append("t1", [ev("s", type="signal")])
    nxt = await store.client.list_events(
        "t1", cursor=page.next_cursor, filter=pb.EventFilter(types=["signal"])
    )
    assert [e.seq for e in nxt.events] == [21]


async def test_oversized_filters_are_refused(store: Store) -> None:
    await new_task(store.client, "t1")
    with pytest.raises(InvalidArgument, match="filter type has 101 values; the limit is 100"):
        await store.client.list_events(
            "t1", filter=pb.EventFilter(types=[str(i) for i in range(101)])
        )
    with pytest.raises(InvalidArgument, match="filter task_ids has 1001 values"):
        await store.client.query_tasks(pb.TaskFilter(task_ids=[str(i) for i in range(1001)]))


@pytest.mark.parametrize("limit", [-1, 1001])
async def test_limit_out_of_range_is_refused(store: Store, limit: int) -> None:
    await new_task(store.client, "t1")
    with pytest.raises(InvalidArgument, match=r"limit .* out of range; use 1..1000"):
        await store.client.list_events("t1", limit=limit)


async def test_malformed_and_foreign_cursors_are_refused_by_name(store: Store) -> None:
    await new_task(store.client, "t1")
    await new_task(store.client, "t2")
    await store.client.append("t2", [ev("a")])
    foreign = (await store.client.list_events("t2")).next_cursor
    with pytest.raises(InvalidArgument, match="belongs to another task"):
        await store.client.list_events("t1", cursor=foreign)
    for bad in ("garbage", "e1.!!!", "e1.AAAA"):
        with pytest.raises(InvalidArgument, match="cursor"):
            await store.client.list_events("t1", cursor=bad)


async def test_event_time_defaults_to_the_store_clock(store: Store) -> None:
    await new_task(store.client, "t1")
    await store.client.append("t1", [ev("a"), ev("b", time_unix_nano=123)])
    events = (await store.client.list_events("t1")).events
    assert events[0].time_unix_nano == store.clock.now_ns()
    assert events[1].time_unix_nano == 123


async def test_fields_unknown_to_the_store_are_not_stored(store: Store) -> None:
    await new_task(store.client, "t1")
    # Field 31 does not exist in EventInput: a newer client, or a forged message.
    raw = ev("a").SerializeToString() + b"\xfa\x01\x06secret"
    request = pb.AppendEventsRequest(task_id="t1", events=[pb.EventInput.FromString(raw)])
    stub = TraceStoreStub(open_channel(store.target))
    await stub.AppendEvents(request)
    event = (await store.client.list_events("t1")).events[0]
    assert b"secret" not in event.SerializeToString()
