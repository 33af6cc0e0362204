"""B6: the durable queue under load: many single-node tasks with a concurrency limit of 8.

Targets (issue 3): 10,000 single-node tasks with concurrency 8: >= 1,000 tasks/s durable,
schedule-to-start p50 <= 5 ms, measured in-flight never above the limit.

One process: the engine with trace_store co-located (`LocalTraceSink`), SQLite on tmpfs,
AGENTLEDGER_ENGINE_WORKERS=8 and AGENTLEDGER_ENGINE_MAX_RUNNING=8. The node runs B4's no-op
async agent, which here gives the event loop away once so that runs overlap.

1. Throughput: N tasks (QUICK: 1,000) are submitted while no worker runs (SubmitTask as a
   client calls it, 8 at a time; its rate is shown), then the worker pool starts. Throughput
   = N / (pool start -> the last task's transition to COMPLETED acknowledged by trace_store).
2. Schedule-to-start: with the workers running, N/2 tasks are submitted open-loop at a steady
   500 tasks/s (half the throughput target: an engine that meets it does not queue them).
   Schedule-to-start = the task's node.started event time - its transition to QUEUED (taken
   as SubmitTask writes it), both read from the trace; claim (transition to RUNNING) ->
   node.started is shown too.
3. The same at a light 50 tasks/s (500 tasks; QUICK: 100), to tell queueing from the time
   one task takes to be claimed and started.
In-flight is measured three ways over both phases: exactly, from the trace (the overlap of
every task's RUNNING interval, claim -> end transition); by sampling TaskQueue.in_flight()
(the engine's own count across workers) on a thread every 20 ms; and the most agents inside
execute() at once. Every task is checked: COMPLETED in the engine, and its trace complete
(8 events, node.completed before the transition to COMPLETED).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from bench.common import PG_URL, QUICK, emit, median, pct, table
from bench.engine_common import (
    AGENT_NOTE,
    Databases,
    NoopAgent,
    Rig,
    TraceEvent,
    bench_tmp,
    check_dag_trace,
    dag_edges,
    databases,
    engine_rig,
    read_traces,
    single_node_yaml,
    where,
)

LIMIT = 8
SUBMITTERS = 8
PACED_RATE = 500  # tasks/s offered in phase 2: half the throughput target
LIGHT_RATE = 50  # tasks/s offered in phase 3: a light load
PLAN = "bench-single"
TARGET_RATE = 1000.0
TARGET_P50_MS = 5.0


class InFlightSampler:
    """Samples TaskQueue.in_flight() on its own thread until stopped."""

    def __init__(self, rig: Rig, interval_s: float = 0.02) -> None:
        self._queue = rig.built.queue
        self._interval = interval_s
        self._stop = threading.Event()
        self.samples: list[int] = []
        self._thread = threading.Thread(target=self._run, name="bench-in-flight", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._queue.in_flight())
            self._stop.wait(self._interval)

    def __enter__(self) -> InFlightSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    name: str
    task_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0  # start -> last durable end
    submit_seconds: float = 0.0
    rate: int = 0  # tasks/s offered (0: a backlog)

    @property
    def throughput(self) -> float:
        return len(self.task_ids) / self.seconds if self.seconds else 0.0

    @property
    def submitted_per_s(self) -> float:
        return len(self.task_ids) / self.submit_seconds if self.submit_seconds else 0.0


async def submit_all(rig: Rig, n: int) -> list[str]:
    # The first one alone: on PostgreSQL, concurrent first submissions of a plan race in
    # EngineStore.save_plan (SELECT, then INSERT) and all but one fail on en_plans_pkey.
    ids: list[str] = [await rig.submit(PLAN)]
    left = iter(range(n - 1))

    async def submitter() -> None:
        for _ in left:
            ids.append(await rig.submit(PLAN))

    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    return ids


async def backlog_phase(rig: Rig, n: int) -> Phase:
    phase = Phase("backlog")
    t0 = time.perf_counter()
    phase.task_ids = await submit_all(rig, n)
    phase.submit_seconds = time.perf_counter() - t0
    rig.sink.expected = len(rig.sink.ended) + n
    rig.sink.all_ended.clear()
    start = time.perf_counter()
    rig.built.pool.start()
    await asyncio.wait_for(rig.sink.all_ended.wait(), 600)
    phase.seconds = max(rig.sink.ended[t][1] for t in phase.task_ids) - start
    return phase


async def paced_phase(rig: Rig, n: int, rate: int) -> Phase:
    """Open loop: the k-th SubmitTask starts at k / rate s, whether or not the earlier ones
    have returned."""
    phase = Phase(f"paced{rate}", rate=rate)
    rig.sink.expected = len(rig.sink.ended) + n
    rig.sink.all_ended.clear()
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    pending: list[asyncio.Task[str]] = []
    for k in range(n):
        delay = start + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(loop.create_task(rig.submit(PLAN)))
    phase.task_ids = list(await asyncio.gather(*pending))
    phase.submit_seconds = time.perf_counter() - start
    await asyncio.wait_for(rig.sink.all_ended.wait(), 600)
    phase.seconds = max(rig.sink.ended[t][1] for t in phase.task_ids) - start
    return phase


def first_time(events: Iterable[TraceEvent], type_: str, to: str = "") -> int:
    for e in events:
        if e.type == type_ and (not to or e.payload.get("to") == to):
            return e.time_ns
    return 0


def max_overlap(intervals: Sequence[tuple[int, int]]) -> int:
    """The most intervals open at once; one that ends at t is closed before one opens at t."""
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in points:
        now += step
        most = max(most, now)
    return most


@dataclass
class Checked:
    problems: list[str] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    schedule_ms: dict[str, list[float]] = field(default_factory=dict)
    claim_ms: dict[str, list[float]] = field(default_factory=dict)
    trace_in_flight: int = 0


def check(dbs: Databases, rig: Rig, phases: Sequence[Phase]) -> Checked:
    out = Checked()
    with rig.built.engine.connect() as conn:
        for state, count in conn.execute(
            text("SELECT state, count(*) FROM en_tasks GROUP BY state")
        ):
            out.states[state] = int(count)
    traces = read_traces(dbs)
    edges = dag_edges("chain", 1)
    intervals: list[tuple[int, int]] = []
    for phase in phases:
        schedule, claim = [], []
        for task_id in phase.task_ids:
            events = traces.get(task_id, [])
            out.problems += check_dag_trace(task_id, events, edges).problems[:1]
            queued = first_time(events, "task.state_changed", "QUEUED")
            running = first_time(events, "task.state_changed", "RUNNING")
            started = first_time(events, "node.started")
            ended = first_time(events, "task.state_changed", "COMPLETED")
            if queued and running and started and ended:
                schedule.append((started - queued) / 1e6)
                claim.append((started - running) / 1e6)
                intervals.append((running, ended))
        out.schedule_ms[phase.name] = schedule
        out.claim_ms[phase.name] = claim
    # Exact on SQLite, where claims and ends are serialized on one writer; on PostgreSQL a
    # claim reads its clock before taking the claim lock, so this may count one too many.
    out.trace_in_flight = max_overlap(intervals)
    total = sum(len(p.task_ids) for p in phases)
    if out.states.get("COMPLETED", 0) != total or len(out.states) != 1:
        out.problems.insert(0, f"engine task states {dict(out.states)}, expected {total} COMPLETED")
    return out


@dataclass
class Result:
    phases: list[Phase]
    checked: Checked
    sampled_in_flight: int
    samples: int
    agents_at_once: int

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


async def measure(dbs: Databases, tmp: Path, n: int, light: int) -> Result:
    agent = NoopAgent(yield_once=True)
    async with engine_rig(
        dbs,
        tmp,
        {PLAN: single_node_yaml(PLAN)},
        remote=False,
        workers=LIMIT,
        max_running=LIMIT,
        start_workers=False,
        agent=agent,
    ) as rig:
        with InFlightSampler(rig) as sampler:
            phases = [
                await backlog_phase(rig, n),
                await paced_phase(rig, n // 2, PACED_RATE),
                await paced_phase(rig, light, LIGHT_RATE),
            ]
        checked = await asyncio.to_thread(check, dbs, rig, phases)
    return Result(
        phases, checked, max(sampler.samples, default=0), len(sampler.samples), agent.max_running
    )


def run(n: int, light: int, pg_url: str = "") -> Result:
    with bench_tmp("b6") as tmp, databases(Path(tmp), pg_url) as dbs:
        return asyncio.run(measure(dbs, Path(tmp), n, light))


def describe(p: Phase) -> str:
    return f"open loop at {p.rate}/s" if p.rate else "backlog, then workers start"


def report(title: str, r: Result) -> None:
    c = r.checked
    table(
        title,
        ["phase", "tasks", "submitted/s", "tasks/s durable", "seconds", "floor"],
        [
            [
                describe(p),
                len(p.task_ids),
                p.submitted_per_s,
                p.throughput,
                p.seconds,
                f">= {TARGET_RATE:,.0f}/s" if not p.rate else "(info)",
            ]
            for p in r.phases
        ],
    )
    rows = []
    for p in r.phases:
        sched, claim = c.schedule_ms[p.name], c.claim_ms[p.name]
        floor = f"p50 <= {TARGET_P50_MS:g} ms" if p.rate == PACED_RATE else "(info)"
        wait = "" if p.rate else " (includes the backlog's wait)"
        rows.append([f"{describe(p)}: QUEUED -> node.started{wait}", *spread(sched), floor])
        rows.append([f"{describe(p)}: claim -> node.started", *spread(claim), "(info)"])
    table(
        "B6 schedule-to-start, ms (event times in the trace)",
        ["interval", "tasks", "p50", "p99", "max", "floor"],
        rows,
    )
    table(
        f"B6 in-flight, limit {LIMIT} (WORKERS={LIMIT}, MAX_RUNNING={LIMIT}), all phases",
        ["measure", "max", "floor"],
        [
            ["trace: overlapping RUNNING intervals (exact)", c.trace_in_flight, f"<= {LIMIT}"],
            [f"TaskQueue.in_flight(), {r.samples:,} samples", r.sampled_in_flight, f"<= {LIMIT}"],
            ["agents inside execute() at once", r.agents_at_once, f"<= {LIMIT}"],
        ],
    )
    print(
        f"  checked: {sum(c.states.values()):,} tasks, engine states {dict(c.states)}, "
        f"{'every trace complete' if not c.problems else 'PROBLEMS'}"
    )
    for problem in c.problems[:10]:
        print(f"  PROBLEM {problem}")


def spread(values: Sequence[float]) -> list[object]:
    return [len(values), median(values), pct(values, 0.99), max(values, default=0.0)]


def figures_of(r: Result, prefix: str = "") -> dict[str, object]:
    c = r.checked
    backlog = r.phase("backlog")
    paced, light = f"paced{PACED_RATE}", f"paced{LIGHT_RATE}"
    return {
        f"{prefix}tasks": len(backlog.task_ids),
        f"{prefix}tasks_per_s": round(backlog.throughput),
        f"{prefix}submit_per_s": round(backlog.submitted_per_s),
        f"{prefix}schedule_to_start_p50_ms": round(median(c.schedule_ms[paced]), 3),
        f"{prefix}schedule_to_start_p99_ms": round(pct(c.schedule_ms[paced], 0.99), 3),
        f"{prefix}offered_{PACED_RATE}_tasks_per_s": round(r.phase(paced).throughput),
        f"{prefix}light_schedule_to_start_p50_ms": round(median(c.schedule_ms[light]), 3),
        f"{prefix}claim_to_start_p50_ms": round(median(c.claim_ms["backlog"]), 3),
        f"{prefix}max_in_flight": max(c.trace_in_flight, r.sampled_in_flight),
        f"{prefix}max_in_flight_trace": c.trace_in_flight,
        f"{prefix}max_in_flight_sampled": r.sampled_in_flight,
        f"{prefix}checked": not c.problems,
    }


def main() -> None:
    n, light = (1_000, 100) if QUICK else (10_000, 500)
    scale = " (QUICK: scaled down)" if QUICK else ""
    r = run(n, light)
    report(
        f"B6 {n:,} single-node tasks, concurrency {LIMIT}, engine + trace_store in one "
        f"process, SQLite on {where()}{scale}\n  {AGENT_NOTE}, giving the loop away once",
        r,
    )
    figures = figures_of(r)
    met = (
        r.phase("backlog").throughput >= TARGET_RATE
        and median(r.checked.schedule_ms[f"paced{PACED_RATE}"]) <= TARGET_P50_MS
        and max(r.checked.trace_in_flight, r.sampled_in_flight) <= LIMIT
        and not r.checked.problems
    )
    if PG_URL:
        pg = run(n // 10, light // 5, PG_URL)
        report(f"B6 on PostgreSQL (info, {n // 10:,} tasks){scale}", pg)
        figures.update(figures_of(pg, "postgresql_"))
    emit("B6", met, **figures)


if __name__ == "__main__":
    main()
