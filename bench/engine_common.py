"""Shared plumbing of the engine benchmarks (B4-B6): no-op plans, an engine wired to a trace_store
in the same process (LocalTraceSink) or in another one (GrpcTraceSink), the moment a task's end
is durable in the trace, and checks of what the trace holds.

The no-op nodes run an in-process async agent (`NOOP_KIND`) registered through
`AgentRegistry.register`: it returns `AgentResult()` at once, so the figures are the engine's,
not the thread hop a synchronous `python` callable takes. Every task's end is timed when
trace_store acknowledges the append holding its `task.state_changed` to a terminal state (the
append is committed then), by a thin wrapper around the engine's trace sink; after a run the
trace is read back from trace_store's database and checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from agentledger.core.db import create_db_engine
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from bench.common import BENCH_DIR, QUICK, median, notify_channel, pg_schema, trace_store
from services.engine import wiring
from services.engine.domain.agents.base import AgentContext, AgentResult
from services.engine.domain.agents.registry import AgentRegistry
from services.engine.domain.model import Budget, OutboxEvent
from services.engine.domain.relay import TraceSink
from services.engine.domain.service import Submission
from services.engine.domain.summary import SummaryView
from services.engine.settings import EngineSettings
from services.engine.trace_sink import GrpcTraceSink, LocalTraceSink
from services.trace_store import wiring as store_wiring
from services.trace_store.client import TraceStoreClient
from services.trace_store.settings import TraceStoreSettings

NOOP_KIND = "bench-noop"
PYTHON_NOOP = "services.engine.domain.builtin_callables:noop"
AGENT_NOTE = (
    f"no-op nodes: agent {NOOP_KIND!r}, an in-process async agent returning AgentResult() "
    "(registered with AgentRegistry.register)"
)
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


class NoopAgent:
    """Does nothing, on the event loop. With ``yield_once`` it gives the loop away once, so
    that runs overlap and ``max_running`` counts how many agents were inside at once."""

    def __init__(self, *, yield_once: bool = False) -> None:
        self.yield_once = yield_once
        self.calls = 0
        self.running = 0
        self.max_running = 0

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if self.yield_once:
                await asyncio.sleep(0)
            return AgentResult()
        finally:
            self.running -= 1


# ---------------------------------------------------------------- plans


def node_ids(n: int) -> list[str]:
    return [f"n{i:04d}" for i in range(n)]


def dag_edges(shape: str, n: int) -> dict[str, list[str]]:
    """Node -> the nodes it depends on: a chain, or a fan-out 1 -> n-2 -> 1."""
    ids = node_ids(n)
    if shape == "chain":
        return {node: ids[i - 1 : i] for i, node in enumerate(ids)}
    if shape == "fanout":
        middle = ids[1:-1]
        return {ids[0]: [], **{m: [ids[0]] for m in middle}, ids[-1]: middle}
    raise ValueError(f"unknown DAG shape {shape!r}")


def plan_id(shape: str, n: int, agent: str = NOOP_KIND) -> str:
    return f"bench-{shape}-{n}" + ("-py" if agent == "python" else "")


def plan_yaml(shape: str, n: int, agent: str = NOOP_KIND, pid: str = "") -> str:
    config = f', config: {{callable: "{PYTHON_NOOP}"}}' if agent == "python" else ""
    lines = [
        f"id: {pid or plan_id(shape, n, agent)}",
        "version: 1",
        f"description: no-op {shape} of {n} nodes (benchmark)",
        "default_mode: fast",
        "nodes:",
    ]
    for node, deps in dag_edges(shape, n).items():
        after = f", depends_on: [{', '.join(deps)}]" if deps else ""
        lines.append(f"  - {{id: {node}, phase: build, agent: {agent}{config}{after}}}")
    return "\n".join(lines) + "\n"


def single_node_yaml(pid: str) -> str:
    return plan_yaml("chain", 1, pid=pid)


# ---------------------------------------------------------------- databases


@dataclass
class Databases:
    """Where the engine and trace_store keep their tables for one run."""

    name: str  # sqlite | postgresql
    engine_url: str
    engine_schema: str
    store_url: str
    store_schema: str = ""  # set by the trace_store that creates it


@contextlib.contextmanager
def databases(tmp: Path, pg_url: str = "") -> Iterator[Databases]:
    """SQLite files in ``tmp``, or fresh schemas on PostgreSQL (dropped afterwards)."""
    if not pg_url:
        yield Databases(
            "sqlite", f"sqlite:///{tmp}/engine.db", "", f"sqlite:///{tmp}/trace_store.db"
        )
        return
    schema = pg_schema(pg_url, create=True)
    try:
        yield Databases("postgresql", pg_url, schema, pg_url)
    finally:
        pg_schema(pg_url, drop=schema)


# ---------------------------------------------------------------- the engine under test


class ObservedSink:
    """The engine's trace sink, timing when each task's terminal transition is durable."""

    def __init__(self, inner: TraceSink) -> None:
        self.inner = inner
        self.ended: dict[str, tuple[str, float]] = {}  # task id -> (state, perf_counter)
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self.expected = 0
        self.all_ended = asyncio.Event()

    async def append(self, task_id: str, events: Sequence[OutboxEvent]) -> list[int]:
        seqs = await self.inner.append(task_id, events)
        for e in events:
            if e.type == "task.state_changed" and e.payload.get("to") in TERMINAL:
                self.ended[task_id] = (str(e.payload["to"]), time.perf_counter())
                waiter = self._waiters.pop(task_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if self.expected and len(self.ended) >= self.expected:
                    self.all_ended.set()
        return seqs

    async def put_summary(self, summary: SummaryView) -> None:
        await self.inner.put_summary(summary)

    async def put_blob(self, task_id: str, data: bytes, content_type: str) -> str:
        return await self.inner.put_blob(task_id, data, content_type)

    async def wait_ended(self, task_id: str, timeout_s: float = 600) -> tuple[str, float]:
        if task_id not in self.ended:
            waiter = self._waiters.setdefault(task_id, asyncio.get_running_loop().create_future())
            await asyncio.wait_for(waiter, timeout_s)
        return self.ended[task_id]


@dataclass
class Rig:
    built: wiring.Built
    sink: ObservedSink
    dbs: Databases

    async def submit(self, plan: str) -> str:
        task = await self.built.service.submit(
            Submission(
                owner="bench", goal=f"bench {plan}", budget=Budget(seconds=3600), plan_id=plan
            )
        )
        return task.task_id

    async def node_statuses(self, task_id: str) -> Counter[str]:
        _, records = await self.built.service.get(task_id)
        return Counter(r.status for r in records.values())


@contextlib.asynccontextmanager
async def engine_rig(
    dbs: Databases,
    tmp: Path,
    plans: dict[str, str],
    *,
    remote: bool,
    workers: int = 8,
    max_running: int = 0,
    start_workers: bool = True,
    agent: NoopAgent | None = None,
    inline_writes: bool = False,
) -> AsyncIterator[Rig]:
    """An engine in this process, its trace_store co-located (``remote=False``) or a separate
    process reached over gRPC; ``plans`` (id -> YAML) are in its catalog."""
    plan_dir = tmp / "plans"
    plan_dir.mkdir(parents=True, exist_ok=True)
    for pid, yaml_text in plans.items():
        (plan_dir / f"{pid}.yaml").write_text(yaml_text, encoding="utf-8")
    env = {
        "AGENTLEDGER_DATA_DIR": str(tmp),
        "AGENTLEDGER_LOG_LEVEL": "WARNING",
        "AGENTLEDGER_ENGINE_DB_URL": dbs.engine_url,
        "AGENTLEDGER_ENGINE_DB_SCHEMA": dbs.engine_schema,
        "AGENTLEDGER_ENGINE_PLAN_DIRS": str(plan_dir),
        "AGENTLEDGER_ENGINE_WORKERS": str(workers),
        "AGENTLEDGER_ENGINE_MAX_RUNNING": str(max_running),
        "AGENTLEDGER_ENGINE_WORKER_ID": "bench",
        "AGENTLEDGER_TRACE_STORE_DB_URL": dbs.store_url,
        # SQLite commits on the event loop instead of writer threads (both services).
        "AGENTLEDGER_ENGINE_INLINE_WRITES": str(inline_writes).lower(),
        "AGENTLEDGER_TRACE_STORE_INLINE_WRITES": str(inline_writes).lower(),
    }
    agent = agent or NoopAgent()
    async with contextlib.AsyncExitStack() as stack:
        if remote:
            store_env = {"AGENTLEDGER_DATA_DIR": str(tmp / "trace_store")}
            store = stack.enter_context(trace_store(dbs.store_url, store_env))
            dbs.store_schema = store.schema
            client = TraceStoreClient(store.target, timeout_s=60)
            stack.push_async_callback(client.close)
            inner: TraceSink = GrpcTraceSink(client)
        else:
            if dbs.name == "postgresql":
                dbs.store_schema = pg_schema(dbs.store_url, create=True)
                stack.callback(pg_schema, dbs.store_url, drop=dbs.store_schema)
                env["AGENTLEDGER_TRACE_STORE_DB_SCHEMA"] = dbs.store_schema
                env["AGENTLEDGER_TRACE_STORE_NOTIFY_CHANNEL"] = notify_channel(dbs.store_schema)
            store_built = store_wiring.build(TraceStoreSettings.from_env(env))
            stack.push_async_callback(store_built.close)
            inner = LocalTraceSink(store_built.service)
        sink = ObservedSink(inner)
        registry = AgentRegistry(EngineSettings.from_env(env).agents)
        registry.register(NOOP_KIND, agent)
        built = wiring.build(
            EngineSettings.from_env(env), sink=sink, registry=registry, start_workers=start_workers
        )
        stack.push_async_callback(close_engine, built)
        yield Rig(built, sink, dbs)


async def close_engine(built: wiring.Built) -> None:
    """Lets the runs end and the claimer go back to waiting, then stops the engine. On Python
    3.11, WorkerPool.stop() can wait forever when a run ends (waking the claimer) in the same
    loop iteration as the claimer's cancellation: asyncio.wait_for then returns instead of
    raising CancelledError, and the claimer goes on. A bench hung there once."""
    deadline = time.monotonic() + 30
    while built.pool.running and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(built.close(), 60)


def bench_tmp(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"agentledger-{prefix}-", dir=BENCH_DIR)


def where() -> str:
    return BENCH_DIR or tempfile.gettempdir()


# ---------------------------------------------------------------- reading the trace back


@dataclass(frozen=True, slots=True)
class TraceEvent:
    seq: int
    type: str
    node_id: str
    time_ns: int
    payload: dict[str, Any]


def read_traces(dbs: Databases, task_ids: Sequence[str] = ()) -> dict[str, list[TraceEvent]]:
    """Every event trace_store holds (of ``task_ids`` when given), by task, in seq order."""
    db = create_db_engine(dbs.store_url, pool_size=1, schema=dbs.store_schema or None)
    out: dict[str, list[TraceEvent]] = {}
    sql = (
        "SELECT t.task_id, e.seq, e.type, e.node_id, e.wire FROM ts_events e"
        " JOIN ts_tasks t ON t.task_no = e.task_no"
    )
    try:
        with db.connect() as conn:
            chunks = [list(task_ids[i : i + 500]) for i in range(0, len(task_ids), 500)]
            for chunk in chunks or [[]]:
                where_in = ""
                params: dict[str, Any] = {}
                if chunk:
                    where_in = (
                        " WHERE t.task_id IN ("
                        + ", ".join(f":t{i}" for i in range(len(chunk)))
                        + ")"
                    )
                    params = {f"t{i}": t for i, t in enumerate(chunk)}
                rows = conn.execute(text(sql + where_in + " ORDER BY e.task_no, e.seq"), params)
                for task_id, seq, type_, node_id, wire in rows:
                    ev = pb.TraceEvent.FromString(bytes(wire))
                    out.setdefault(task_id, []).append(
                        TraceEvent(
                            int(seq),
                            type_,
                            node_id,
                            ev.time_unix_nano,
                            orjson.loads(ev.payload_json) if ev.payload_json else {},
                        )
                    )
    finally:
        db.dispose()
    return out


@dataclass
class TraceCheck:
    problems: list[str] = field(default_factory=list)

    def expect(self, ok: bool, problem: str) -> None:
        if not ok and len(self.problems) < 20:
            self.problems.append(problem)

    @property
    def ok(self) -> bool:
        return not self.problems


def dag_events_expected(n: int) -> int:
    """task.created, two state changes (QUEUED, RUNNING), per node node.started,
    node.completed and its governance decision, task.system_trace_written, the final
    state change."""
    return 3 + 3 * n + 2


def check_dag_trace(
    task_id: str, events: Sequence[TraceEvent], edges: dict[str, list[str]]
) -> TraceCheck:
    """Every node started and completed once, each dependency's node.completed before its
    dependents' node.started (in trace order), the task COMPLETED last."""
    c = TraceCheck()
    n = len(edges)
    c.expect(
        len(events) == dag_events_expected(n),
        f"{task_id}: {len(events)} events, expected {dag_events_expected(n)}",
    )
    c.expect(
        [e.seq for e in events] == list(range(1, len(events) + 1)),
        f"{task_id}: trace sequence numbers are not 1..{len(events)}",
    )
    started: dict[str, int] = {}
    completed: dict[str, int] = {}
    for e in events:
        book = (
            started
            if e.type == "node.started"
            else completed
            if e.type == "node.completed"
            else None
        )
        if book is not None:
            c.expect(e.node_id not in book, f"{task_id}: {e.type} twice for {e.node_id}")
            book[e.node_id] = e.seq
    c.expect(set(started) == set(edges), f"{task_id}: {len(started)}/{n} nodes started")
    c.expect(set(completed) == set(edges), f"{task_id}: {len(completed)}/{n} nodes completed")
    for node, deps in edges.items():
        for dep in deps:
            c.expect(
                completed.get(dep, 1 << 62) < started.get(node, -1),
                f"{task_id}: {node} started before {dep} completed",
            )
    last = events[-1] if events else None
    c.expect(
        last is not None
        and last.type == "task.state_changed"
        and last.payload.get("to") == "COMPLETED",
        f"{task_id}: the trace does not end with the transition to COMPLETED",
    )
    return c


# ---------------------------------------------------------------- DAG runs (B4, B5)

# Each timed run starts on an idle engine: a DAG submitted the instant the previous one ended
# can be claimed while SubmitTask still relays its own events, and that relay then chases the
# run's outbox (see the B4 notes); a short pause keeps the figure that of one DAG.
IDLE_GAP_S = 0.05


@dataclass
class DagRuns:
    shape: str
    n: int
    agent: str
    ms_per_node: list[float] = field(default_factory=list)  # timed runs only
    task_ids: list[str] = field(default_factory=list)  # the warm-up run's first
    problems: list[str] = field(default_factory=list)
    events: int = 0  # trace events of the checked runs

    @property
    def label(self) -> str:
        return f"{self.shape} {self.n:,}" + (" (python agent)" if self.agent == "python" else "")

    @property
    def median(self) -> float:
        return median(self.ms_per_node)


def dag_repeats(n: int) -> int:
    if QUICK:
        return 3 if n <= 100 else 1
    return 9 if n <= 100 else 3


async def run_dags(rig: Rig, dags: Sequence[tuple[str, int, str]]) -> list[DagRuns]:
    """Each DAG once to warm up (its plan loaded, its code paths run), then timed runs:
    submit -> its COMPLETED transition durable in trace_store, divided by its node count.
    Every run is checked: all nodes completed in the engine, and the trace (read back)."""
    out = []
    for shape, n, agent in dags:
        runs = DagRuns(shape, n, agent)
        pid = plan_id(shape, n, agent)
        for r in range(1 + dag_repeats(n)):
            await asyncio.sleep(IDLE_GAP_S)
            t0 = time.perf_counter()
            task_id = await rig.submit(pid)
            state, t1 = await rig.sink.wait_ended(task_id)
            runs.task_ids.append(task_id)
            if r:
                runs.ms_per_node.append((t1 - t0) * 1000 / n)
            statuses = await rig.node_statuses(task_id)
            if state != "COMPLETED" or statuses != Counter({"completed": n}):
                runs.problems.append(f"{task_id}: {state}, nodes {dict(statuses)}")
        traces = await asyncio.to_thread(read_traces, rig.dbs, runs.task_ids)
        edges = dag_edges(shape, n)
        for task_id in runs.task_ids:
            events = traces.get(task_id, [])
            runs.events += len(events)
            runs.problems += check_dag_trace(task_id, events, edges).problems
        out.append(runs)
    return out


def run_engine_dags(
    dags: Sequence[tuple[str, int, str]],
    *,
    remote: bool,
    pg_url: str = "",
    inline_writes: bool = False,
) -> list[DagRuns]:
    plans = {plan_id(s, n, a): plan_yaml(s, n, a) for s, n, a in dags}

    async def go(dbs: Databases, tmp: Path) -> list[DagRuns]:
        async with engine_rig(dbs, tmp, plans, remote=remote, inline_writes=inline_writes) as rig:
            return await run_dags(rig, dags)

    with bench_tmp("engine") as tmp, databases(Path(tmp), pg_url) as dbs:
        return asyncio.run(go(dbs, Path(tmp)))


def dag_rows(results: Sequence[DagRuns], targets: dict[str, float]) -> list[list[object]]:
    rows: list[list[object]] = []
    for r in results:
        target = targets.get(r.shape) if r.agent == NOOP_KIND else None
        rows.append(
            [
                r.label,
                len(r.ms_per_node),
                r.median,
                min(r.ms_per_node),
                max(r.ms_per_node),
                r.median * r.n,
                f"{r.events:,}",
                not r.problems,
                f"<= {target} ms/node" if target is not None else "(info)",
            ]
        )
    return rows


DAG_HEADER = [
    "DAG",
    "runs",
    "ms/node p50",
    "min",
    "max",
    "ms/DAG p50",
    "trace events",
    "checked",
    "target",
]


def figure_key(r: DagRuns) -> str:
    return f"{r.shape}_{r.n}" + ("_python_agent" if r.agent == "python" else "")


def report_problems(results: Sequence[DagRuns]) -> None:
    for r in results:
        for p in r.problems[:5]:
            print(f"  PROBLEM {r.label}: {p}")
