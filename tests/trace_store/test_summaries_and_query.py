"""PutSummary/GetSummary, the task index (QueryTasks) and statistics (GetStats)."""

from __future__ import annotations

import pytest

from agentledger.common.v1 import common_pb2
from agentledger.core.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from tests.conftest import Store
from tests.helpers import ev, summary

MS = 1_000_000
DAY = 86_400 * 10**9


async def test_summary_round_trips_with_store_fields(store: Store) -> None:
    s = summary(
        "t1",
        goal="write a report",
        mode="balanced",
        plan_id="report",
        plan_version="3",
        state="RUNNING",
        cost=common_pb2.Cost(tokens_in=10, tokens_out=5, usd=0.25),
        top_decisions=[
            pb.DecisionPoint(seq=4, rule="budget", decision="degrade", reason="over 80%")
        ],
        forecast=pb.ForecastVsActual(tokens_low=10, tokens_high=20, source="history"),
        extra_json=b'{"k": 1}',
        last_seq=999,  # ignored: the store sets it
    )
    assert await store.client.put_summary(s) == 1
    await store.client.append("t1", [ev("a"), ev("b")])
    got = await store.client.get_summary("t1")
    assert got.goal == "write a report" and got.plan_version == "3"
    assert got.top_decisions[0].decision == "degrade"
    assert got.forecast.source == "history"
    assert got.cost.usd == 0.25 and got.cost.tokens_in == 10
    assert got.extra_json == b'{"k": 1}'
    assert got.version == 1
    assert got.last_seq == 2  # the cache follows appends
    assert got.created_unix_nano == store.clock.now_ns()


async def test_summary_keeps_its_creation_time_and_counts_versions(store: Store) -> None:
    await store.client.put_summary(summary("t1", state="QUEUED"))
    created = (await store.client.get_summary("t1")).created_unix_nano
    store.clock.advance(5)
    assert await store.client.put_summary(summary("t1", state="RUNNING")) == 2
    got = await store.client.get_summary("t1")
    assert got.created_unix_nano == created
    assert got.updated_unix_nano == created + 5 * 10**9
    assert got.state == "RUNNING"


async def test_optimistic_lock_refuses_a_stale_writer(store: Store) -> None:
    await store.client.put_summary(summary("t1"))
    assert await store.client.put_summary(summary("t1", state="RUNNING"), expected_version=1) == 2
    with pytest.raises(Conflict, match="version 2, not 1"):
        await store.client.put_summary(summary("t1", state="PAUSED"), expected_version=1)


async def test_owner_cannot_change_and_bad_summaries_are_refused(store: Store) -> None:
    await store.client.put_summary(summary("t1", owner="alice"))
    with pytest.raises(FailedPrecondition, match="belongs to 'alice'"):
        await store.client.put_summary(summary("t1", owner="mallory"))
    with pytest.raises(InvalidArgument, match="no owner"):
        await store.client.put_summary(summary("t2", owner=""))
    with pytest.raises(InvalidArgument, match="cost_usd must be >= 0"):
        await store.client.put_summary(summary("t3", cost=common_pb2.Cost(usd=float("nan"))))
    with pytest.raises(InvalidArgument, match="task_id"):
        await store.client.put_summary(summary("has space"))
    with pytest.raises(InvalidArgument, match="state is longer than 32 characters"):
        await store.client.put_summary(summary("t4", state="S" * 33))
    with pytest.raises(NotFound):
        await store.client.get_summary("t2")


async def _seed(store: Store) -> None:
    rows = [
        ("a1", "alice", "fast", "COMPLETED", 0.5, 1000, "DONE", ""),
        ("a2", "alice", "balanced", "FAILED", 2.0, 3000, "NOT_DONE", "tool_issue"),
        ("a3", "alice", "fast", "RUNNING", 0.1, 0, "", ""),
        ("b1", "bob", "thorough", "COMPLETED", 5.0, 8000, "PARTIAL", ""),
        ("b2", "bob", "fast", "COMPLETED", 1.0, 2000, "DONE", ""),
    ]
    for i, (task, owner, mode, state, usd, dur_ms, goal, failure) in enumerate(rows):
        created = store.clock.now_ns() + i * MS
        await store.client.put_summary(
            summary(
                task,
                owner,
                mode=mode,
                state=state,
                plan_id="p" + owner[0],
                goal_status=goal,
                failure_type=failure,
                cost=common_pb2.Cost(usd=usd, tokens_in=100),
                created_unix_nano=created,
                ended_unix_nano=created + dur_ms * MS if dur_ms else 0,
                degrade_count=1 if task == "b1" else 0,
                pause_count=1 if task in ("a2", "b1") else 0,
            )
        )


async def ids(store: Store, flt: pb.TaskFilter | None = None, **kw: object) -> list[str]:
    page = await store.client.query_tasks(flt, **kw)  # type: ignore[arg-type]
    return [t.task_id for t in page.tasks]


async def test_query_filters(store: Store) -> None:
    await _seed(store)
    assert await ids(store, pb.TaskFilter(owners=["bob"])) == ["b2", "b1"]
    assert await ids(store, pb.TaskFilter(modes=["fast"], states=["COMPLETED"])) == ["b2", "a1"]
    assert await ids(store, pb.TaskFilter(failure_types=["tool_issue"])) == ["a2"]
    assert await ids(store, pb.TaskFilter(goal_statuses=["DONE"])) == ["b2", "a1"]
    assert await ids(store, pb.TaskFilter(min_cost_usd=0.5, max_cost_usd=2.0)) == ["b2", "a2", "a1"]
    assert await ids(store, pb.TaskFilter(plan_ids=["pa"], task_ids=["a1", "b1"])) == ["a1"]
    base = store.clock.now_ns()
    window = pb.TaskFilter(
        created=common_pb2.TimeRange(start_unix_nano=base + MS, end_unix_nano=base + 3 * MS)
    )
    assert await ids(store, window) == ["a3", "a2"]


async def test_query_sorts_and_pages_by_keyset(store: Store) -> None:
    await _seed(store)
    assert await ids(store, sort=pb.TASK_SORT_COST) == ["b1", "a2", "b2", "a1", "a3"]
    assert await ids(store, sort=pb.TASK_SORT_COST, ascending=True) == [
        "a3",
        "a1",
        "b2",
        "a2",
        "b1",
    ]
    assert (await ids(store, sort=pb.TASK_SORT_DURATION))[:2] == ["b1", "a2"]
    seen: list[str] = []
    cursor = ""
    while True:
        page = await store.client.query_tasks(sort=pb.TASK_SORT_COST, limit=2, cursor=cursor)
        seen += [t.task_id for t in page.tasks]
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == ["b1", "a2", "b2", "a1", "a3"]


async def test_query_rejects_bad_input(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="limit"):
        await store.client.query_tasks(limit=5000)
    with pytest.raises(InvalidArgument, match="cost range is empty"):
        await store.client.query_tasks(pb.TaskFilter(min_cost_usd=3, max_cost_usd=1))
    with pytest.raises(InvalidArgument, match="must be a number >= 0"):
        await store.client.query_tasks(pb.TaskFilter(min_cost_usd=-1))
    page = await store.client.query_tasks(limit=1)
    assert page.next_cursor == ""
    await _seed(store)
    cursor = (await store.client.query_tasks(limit=1)).next_cursor
    with pytest.raises(InvalidArgument, match="made for sort 'created'"):
        await store.client.query_tasks(sort=pb.TASK_SORT_COST, cursor=cursor)
    with pytest.raises(InvalidArgument, match="not a task query cursor"):
        await store.client.query_tasks(cursor="junk")


async def test_stats_follow_summary_changes(store: Store) -> None:
    await _seed(store)
    stats = await store.client.get_stats()
    assert stats.task_count == 5
    assert {s.state: s.count for s in stats.by_state} == {"COMPLETED": 3, "FAILED": 1, "RUNNING": 1}
    assert stats.cost_usd_sum == pytest.approx(8.6)
    assert stats.tokens_sum == 500
    assert stats.ended_count == 4
    assert stats.degrade_rate == pytest.approx(0.2)
    assert stats.pause_rate == pytest.approx(0.4)
    # Durations 1000, 2000, 3000, 8000 ms: p50 is the second, p95 the last, within 5%.
    assert stats.duration_p50_ms == pytest.approx(2000, rel=0.05)
    assert stats.duration_p95_ms == pytest.approx(8000, rel=0.05)
    # The running task finishes: it moves between aggregate rows, nothing is counted twice.
    await store.client.put_summary(
        summary(
            "a3",
            mode="fast",
            state="COMPLETED",
            plan_id="pa",
            cost=common_pb2.Cost(usd=0.3, tokens_in=100),
            ended_unix_nano=store.clock.now_ns() + 2 * MS + 500 * MS,
        )
    )
    stats = await store.client.get_stats()
    assert stats.task_count == 5 and stats.ended_count == 5
    assert {s.state: s.count for s in stats.by_state} == {"COMPLETED": 4, "FAILED": 1}
    assert stats.cost_usd_sum == pytest.approx(8.8)
    bob = await store.client.get_stats(pb.TaskFilter(owners=["bob"], modes=["fast"]))
    assert bob.task_count == 1 and bob.cost_usd_sum == pytest.approx(1.0)


async def test_stats_by_day_and_unsupported_filters(store: Store) -> None:
    await _seed(store)
    today = store.clock.now_ns() // DAY * DAY
    assert (
        await store.client.get_stats(
            pb.TaskFilter(created=common_pb2.TimeRange(start_unix_nano=today + DAY))
        )
    ).task_count == 0
    assert (
        await store.client.get_stats(
            pb.TaskFilter(created=common_pb2.TimeRange(start_unix_nano=today))
        )
    ).task_count == 5
    with pytest.raises(InvalidArgument, match="cannot be filtered by failure_types"):
        await store.client.get_stats(pb.TaskFilter(failure_types=["tool_issue"]))
