"""B2: reads — pages of events at any depth, summaries, and searches of the task index.

Floors (issue 2): ListEvents pages of 500 events at depth 0, the middle and the end of a
1,000,000-event task: p50 <= 5 ms each over gRPC, and p50(deepest) / p50(first) <= 1.5;
GetSummary p95 <= 2 ms; QueryTasks over 100,000 tasks p95 <= 20 ms (limit 50, a mix of filters
and sorts, first pages and second pages through the cursor).

The events are appended through gRPC (batches of 5,000, 4 in flight). The 100,000 tasks are
written while no store runs, in this process, through the store's own SummaryStore (what
PutSummary calls), which saves 100,000 round trips; GetStats checks them once a new store
serves the file. Every measured call goes through the typed client.
QUICK scales down to 100,000 events and 10,000 tasks.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agentledger.common.v1 import common_pb2
from agentledger.core.clock import SystemClock
from agentledger.core.db import create_db_engine
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from bench.common import (
    BENCH_DIR,
    QUICK,
    StoreProcess,
    emit,
    median,
    payload,
    pct,
    table,
    trace_store,
)
from services.trace_store import convert
from services.trace_store.client import TraceStoreClient
from services.trace_store.codec import ProtobufWireEncoder
from services.trace_store.domain.ingest import IngestLimits, Ingestor
from services.trace_store.domain.stats import NS_PER_DAY
from services.trace_store.domain.summaries import SummaryCache, SummaryStore

T = TypeVar("T")

LOAD_BATCH = 5000  # the store's default AGENTLEDGER_TRACE_STORE_MAX_BATCH_EVENTS
LOAD_IN_FLIGHT = 4
PAGE = 500
SUMMARY_TASKS, SUMMARY_CALLS = 300, 2000
T0_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
SPAN_DAYS = 90
OWNERS = [f"user-{i:02d}" for i in range(50)]
TENANTS = ["acme", "globex", "initech"]
MODES = ["fast", "balanced", "thorough"]
PLANS = [f"plan-{i:02d}" for i in range(20)]
STATES = ["COMPLETED", "FAILED", "RUNNING", "CANCELLED", "PAUSED"]
STATE_WEIGHTS = [70, 10, 10, 5, 5]
FAILURES = ["data_issue", "execution_issue", "cost_issue", "spec_issue", "tool_issue"]
EVENT_TYPES = ["node.started", "node.completed", "tool.called", "governance.decision"]


# ---------------------------------------------------------------- loading


async def load_events(client: TraceStoreClient, task_id: str, total: int) -> dict[int, str]:
    """Appends ``total`` events (a multiple of LOAD_BATCH) to an existing task through gRPC.

    Returns the cursor each append answered, by the last sequence number it covers. Full
    batches run LOAD_IN_FLIGHT at a time, so these land on multiples of LOAD_BATCH; the last
    LOAD_BATCH events go in two calls, one after the other, leaving a cursor PAGE events from
    the end.
    """
    if total % LOAD_BATCH or total < 2 * LOAD_BATCH:
        raise ValueError(f"load {total} events: use a multiple of {LOAD_BATCH}, at least two")
    prefix = uuid.uuid4().hex[:8]
    cursors: dict[int, str] = {}

    def events(start: int, count: int) -> list[pb.EventInput]:
        return [
            pb.EventInput(
                event_id=f"{prefix}-{i:08d}",
                type=EVENT_TYPES[i % len(EVENT_TYPES)],
                phase="build",
                node_id=f"n{i % 31}",
                severity=common_pb2.SEVERITY_INFO,
                actor="worker-1",
                time_unix_nano=T0_NS + i * 1_000_000,
                payload_json=payload(i),
            )
            for i in range(start, start + count)
        ]

    async def send(start: int, count: int) -> None:
        response = await client.append(task_id, events(start, count))
        cursors[response.last_seq] = response.cursor

    starts = list(range(0, total - LOAD_BATCH, LOAD_BATCH))

    async def worker() -> None:
        while starts:
            await send(starts.pop(0), LOAD_BATCH)

    await asyncio.gather(*(worker() for _ in range(LOAD_IN_FLIGHT)))
    await send(total - LOAD_BATCH, LOAD_BATCH - PAGE)
    await send(total - PAGE, PAGE)
    return cursors


def make_summary(i: int, rng: random.Random) -> pb.TraceSummary:
    """One task of a varied population: 50 owners, 3 tenants, modes, plans, states, costs."""
    created = T0_NS + int(rng.uniform(0, SPAN_DAYS * NS_PER_DAY))
    state = rng.choices(STATES, STATE_WEIGHTS)[0]
    mode = rng.choice(MODES)
    run_s = rng.lognormvariate(4.5, 1.2) * {"fast": 0.3, "balanced": 1.0, "thorough": 3.0}[mode]
    ended = created + int(run_s * 1e9) if state in ("COMPLETED", "FAILED", "CANCELLED") else 0
    tokens = int(rng.lognormvariate(9, 1))
    goal = {"COMPLETED": rng.choice(["DONE", "DONE", "DONE", "PARTIAL"]), "FAILED": "NOT_DONE"}
    return pb.TraceSummary(
        task_id=f"task-{i:07d}",
        owner=rng.choice(OWNERS),
        tenant=rng.choice(TENANTS),
        goal=f"goal {i}: summarise the quarterly numbers of team {i % 97}",
        mode=mode,
        plan_id=rng.choice(PLANS),
        plan_version="1.4.0",
        state=state,
        goal_status=goal.get(state, ""),
        failure_type=rng.choice(FAILURES) if state == "FAILED" else "",
        cost=common_pb2.Cost(
            tokens_in=tokens, tokens_out=tokens // 5, usd=round(tokens * 6e-6, 6), tool_ms=1000
        ),
        created_unix_nano=created,
        updated_unix_nano=ended or created + int(run_s * 5e8),
        ended_unix_nano=ended,
        current_node=f"n{i % 31}",
        result_summary="finished; 3 artifacts" if state == "COMPLETED" else "",
        degrade_count=1 if rng.random() < 0.05 else 0,
        pause_count=1 if state == "PAUSED" else 0,
    )


def insert_tasks(db_url: str, n: int, seed: int = 7) -> float:
    """Writes ``n`` tasks through the store's own SummaryStore, in this process (index row,
    summary, statistics exactly as PutSummary writes them, without n gRPC round trips)."""
    rng = random.Random(seed)
    engine = create_db_engine(db_url, pool_size=1)
    try:
        store = SummaryStore(
            engine,
            Ingestor(IngestLimits(), ProtobufWireEncoder()),
            SystemClock(),
            SummaryCache(0),
        )
        cost = 0.0
        for i in range(n):
            index, document = convert.summary_from_pb(make_summary(i, rng))
            store.put(index, document)
            cost += index.cost_usd
    finally:
        engine.dispose()
    return cost


# ---------------------------------------------------------------- measuring


async def timed(call: Awaitable[T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    result = await call
    return (time.perf_counter() - t0) * 1000, result


async def measure_pages(
    client: TraceStoreClient, task_id: str, depths: dict[str, tuple[str, int]], rounds: int
) -> dict[str, list[float]]:
    """ListEvents pages of PAGE events at each depth, interleaved round by round."""
    for name, (cursor, after) in depths.items():
        page = await client.list_events(task_id, cursor, limit=PAGE)
        seqs = [e.seq for e in page.events]
        if seqs != list(range(after + 1, after + PAGE + 1)):
            raise AssertionError(
                f"page {name} holds seqs {seqs[:1]}..{seqs[-1:]}, not after {after}"
            )
    lat: dict[str, list[float]] = {name: [] for name in depths}
    for _ in range(rounds):
        for name, (cursor, _after) in depths.items():
            ms, _ = await timed(client.list_events(task_id, cursor, limit=PAGE))
            lat[name].append(ms)
    return lat


async def measure_summaries(
    client: TraceStoreClient, task_ids: list[str], calls: int, rng: random.Random
) -> tuple[list[float], list[float]]:
    """GetSummary on random tasks of the set: (first read of each task, later reads)."""
    seen: set[str] = set()
    first: list[float] = []
    again: list[float] = []
    for _ in range(calls):
        task_id = rng.choice(task_ids)
        ms, summary = await timed(client.get_summary(task_id))
        if summary.task_id != task_id:
            raise AssertionError(f"GetSummary({task_id}) answered {summary.task_id}")
        (again if task_id in seen else first).append(ms)
        seen.add(task_id)
    return first, again


@dataclass
class Query:
    name: str
    make: Callable[[random.Random], tuple[pb.TaskFilter, pb.TaskSort, bool]]
    page1: list[float] = field(default_factory=list)
    page2: list[float] = field(default_factory=list)


def _created(start_day: float, days: float) -> common_pb2.TimeRange:
    start = T0_NS + int(start_day * NS_PER_DAY)
    return common_pb2.TimeRange(start_unix_nano=start, end_unix_nano=start + int(days * NS_PER_DAY))


def make_queries() -> list[Query]:
    return [
        Query(
            "owner, newest",
            lambda r: (pb.TaskFilter(owners=[r.choice(OWNERS)]), pb.TASK_SORT_CREATED, False),
        ),
        Query(
            "state, newest",
            lambda r: (
                pb.TaskFilter(states=[r.choice(["FAILED", "RUNNING", "PAUSED"])]),
                pb.TASK_SORT_CREATED,
                False,
            ),
        ),
        Query(
            "mode + cost range, costliest",
            lambda r: (
                pb.TaskFilter(modes=[r.choice(MODES)], min_cost_usd=0.02, max_cost_usd=0.2),
                pb.TASK_SORT_COST,
                False,
            ),
        ),
        Query(
            "one day, oldest",
            lambda r: (
                pb.TaskFilter(created=_created(r.uniform(0, SPAN_DAYS - 1), 1)),
                pb.TASK_SORT_CREATED,
                True,
            ),
        ),
        Query("all, costliest", lambda r: (pb.TaskFilter(), pb.TASK_SORT_COST, False)),
        Query(
            "ended, longest",
            lambda r: (pb.TaskFilter(states=["COMPLETED", "FAILED"]), pb.TASK_SORT_DURATION, False),
        ),
        Query(
            "owner + state, updated",
            lambda r: (
                pb.TaskFilter(owners=[r.choice(OWNERS)], states=["COMPLETED"]),
                pb.TASK_SORT_UPDATED,
                False,
            ),
        ),
        Query(
            "tenant + failure + week",
            lambda r: (
                pb.TaskFilter(
                    tenants=[r.choice(TENANTS)],
                    failure_types=[r.choice(FAILURES)],
                    created=_created(r.uniform(0, SPAN_DAYS - 7), 7),
                ),
                pb.TASK_SORT_CREATED,
                False,
            ),
        ),
        Query(
            "plan + mode, cheapest",
            lambda r: (
                pb.TaskFilter(plan_ids=[r.choice(PLANS)], modes=[r.choice(MODES)]),
                pb.TASK_SORT_COST,
                True,
            ),
        ),
    ]


async def measure_queries(
    client: TraceStoreClient, queries: list[Query], calls: int, rng: random.Random
) -> None:
    """QueryTasks, limit 50: first pages, and on every other round page 2 through the cursor."""
    for q in queries:  # one unmeasured round, which also checks that every query finds rows
        flt, sort, ascending = q.make(rng)
        if not (await client.query_tasks(flt, sort=sort, ascending=ascending)).tasks:
            raise AssertionError(f"query {q.name!r} found nothing")
    n, round_no = 0, 0
    while n < calls:
        for q in queries:
            flt, sort, ascending = q.make(rng)
            ms, page1 = await timed(client.query_tasks(flt, sort=sort, ascending=ascending))
            q.page1.append(ms)
            n += 1
            cursor = page1.next_cursor
            if cursor and round_no % 2 == 0:
                ms, page2 = await timed(
                    client.query_tasks(flt, sort=sort, ascending=ascending, cursor=cursor)
                )
                q.page2.append(ms)
                n += 1
                ids = {t.task_id for t in page1.tasks}
                if any(t.task_id in ids for t in page2.tasks):
                    raise AssertionError(f"query {q.name!r}: page 2 repeats rows of page 1")
        round_no += 1


# ---------------------------------------------------------------- the run


def run_against(store: StoreProcess, work: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(work), saying so when the store process died under it."""
    try:
        return asyncio.run(work)
    except Exception as exc:
        code = store.proc.poll()
        if code is not None:
            raise RuntimeError(f"the trace_store process {store.proc.pid} exited ({code})") from exc
        raise


async def populate(target: str, task_id: str, events: int) -> tuple[dict[int, str], float]:
    async with TraceStoreClient(target, timeout_s=120) as client:
        await client.put_summary(
            pb.TraceSummary(task_id=task_id, owner="b2-loader", state="RUNNING")
        )
        t0 = time.perf_counter()
        cursors = await load_events(client, task_id, events)
        return cursors, events / (time.perf_counter() - t0)


@dataclass
class Measured:
    pages: dict[str, list[float]]
    first_reads: list[float]
    cached_reads: list[float]
    queries: list[Query]


async def measure(
    target: str, task_id: str, cursors: dict[int, str], events: int, tasks: int, cost: float
) -> Measured:
    rng = random.Random(11)
    async with TraceStoreClient(target) as client:
        big = await client.get_summary(task_id)
        stats = await client.get_stats()
        if big.last_seq != events or stats.task_count != tasks + 1:
            raise AssertionError(
                f"the store holds {big.last_seq} events and {stats.task_count} tasks, "
                f"not {events} and {tasks + 1}"
            )
        if abs(stats.cost_usd_sum - cost) > 1e-6 * max(1.0, cost):
            raise AssertionError(f"GetStats cost {stats.cost_usd_sum} != {cost} written")
        depths = {
            "first": ("", 0),
            "middle": (cursors[events // 2], events // 2),
            "end": (cursors[events - PAGE], events - PAGE),
        }
        pages = await measure_pages(client, task_id, depths, 100 if QUICK else 200)
        sample = [f"task-{i:07d}" for i in rng.sample(range(tasks), SUMMARY_TASKS)]
        first, again = await measure_summaries(client, sample, SUMMARY_CALLS, rng)
        queries = make_queries()
        await measure_queries(client, queries, 300 if QUICK else 450, rng)
    return Measured(pages, first, again, queries)


def main() -> None:
    events = 100_000 if QUICK else 1_000_000
    tasks = 10_000 if QUICK else 100_000
    task_id = "b2-events"
    with tempfile.TemporaryDirectory(prefix="agentledger-b2-", dir=BENCH_DIR) as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'trace_store.db'}"
        with trace_store(db_url) as store:
            cursors, load_rate = run_against(store, populate(store.target, task_id, events))
        t0 = time.perf_counter()
        cost = insert_tasks(db_url, tasks)
        insert_s = time.perf_counter() - t0
        with trace_store(db_url) as store:
            m = run_against(store, measure(store.target, task_id, cursors, events, tasks, cost))
    pages, first, again, kinds = m.pages, m.first_reads, m.cached_reads, m.queries
    queries = [ms for q in kinds for ms in q.page1 + q.page2]
    summaries = first + again
    p50 = {name: round(median(lat), 3) for name, lat in pages.items()}
    ratio = round(max(p50["middle"], p50["end"]) / p50["first"], 3)
    summary_p95 = round(pct(summaries, 0.95), 3)
    query_p95 = round(pct(queries, 0.95), 3)
    met = max(p50.values()) <= 5.0 and ratio <= 1.5 and summary_p95 <= 2.0 and query_p95 <= 20.0
    figures: dict[str, object] = {
        "events": events,
        "tasks": tasks,
        **{f"page_p50_ms_{name}": v for name, v in p50.items()},
        **{f"page_p99_ms_{name}": round(pct(lat, 0.99), 3) for name, lat in pages.items()},
        "deep_to_first_ratio": ratio,
        "get_summary_p50_ms": round(median(summaries), 3),
        "get_summary_p95_ms": summary_p95,
        "get_summary_first_read_p95_ms": round(pct(first, 0.95), 3),
        "query_tasks_p50_ms": round(median(queries), 3),
        "query_tasks_p95_ms": query_p95,
        "query_tasks_calls": len(queries),
        "load_events_per_s": round(load_rate),
    }
    scale = " (QUICK: scaled down)" if QUICK else ""
    table(
        f"B2 ListEvents, pages of {PAGE} in a {events:,}-event task{scale}, ms over gRPC "
        f"(loaded through gRPC at {load_rate:,.0f} events/s)",
        ["depth", "after seq", "calls", "p50", "p99", "floor"],
        [
            [name, after, len(pages[name]), p50[name], pct(pages[name], 0.99), "p50 <= 5 ms"]
            for name, after in (("first", 0), ("middle", events // 2), ("end", events - PAGE))
        ]
        + [["deepest / first", "", "", ratio, "", "<= 1.5"]],
    )
    table(
        f"B2 GetSummary on {SUMMARY_TASKS} of {tasks:,} tasks, {SUMMARY_CALLS:,} calls, ms "
        "(the first read of a task comes from the database, later ones from the cache)",
        ["calls", "count", "p50", "p95", "p99", "floor"],
        [
            [
                "all",
                len(summaries),
                median(summaries),
                pct(summaries, 0.95),
                pct(summaries, 0.99),
                "p95 <= 2 ms",
            ],
            ["first read", len(first), median(first), pct(first, 0.95), pct(first, 0.99), ""],
            ["cached", len(again), median(again), pct(again, 0.95), pct(again, 0.99), ""],
        ],
    )
    table(
        f"B2 QueryTasks over {tasks:,} tasks{scale}, limit 50, ms "
        f"(written in-process through the store's SummaryStore in {insert_s:.1f} s, checked with GetStats)",
        ["query", "page 1 calls", "p50", "p95", "page 2 calls", "p50", "p95"],
        [
            [
                q.name,
                len(q.page1),
                median(q.page1),
                pct(q.page1, 0.95),
                len(q.page2),
                median(q.page2),
                pct(q.page2, 0.95),
            ]
            for q in kinds
        ]
        + [
            [
                "all (floor p95 <= 20 ms)",
                len(queries),
                median(queries),
                pct(queries, 0.95),
                "",
                "",
                "",
            ]
        ],
    )
    emit("B2", met, **figures)


if __name__ == "__main__":
    main()
