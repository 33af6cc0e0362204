"""B4: no-op DAGs through the engine with trace_store co-located in the same process, against
LangGraph with its SQLite checkpointer on the same DAGs.

Targets (issue 3): DAGs of 100 and 1,000 nodes, a chain and a fan-out 1 -> N-2 -> 1, every
node's events durable before its dependents start: chain <= 0.5 ms/node, fan-out <= 0.25
ms/node; goal: >= 5x faster than LangGraph + SqliteSaver on the same DAGs.

Engine: one process, `LocalTraceSink` (a TraceStoreService in the process), both databases
SQLite on tmpfs. A run is timed from SubmitTask to the moment trace_store acknowledges the
append holding the task's transition to COMPLETED, divided by N; the figure is the median of
several runs after a warm-up. Every run is checked: all N nodes completed in the engine; in the
trace (read back from trace_store's database) each node started and completed once, each
node.completed comes before its dependents' node.started, the event count is 3N + 5 and the
transition to COMPLETED is last.

LangGraph: a StateGraph of N no-op nodes wired the same way (fan-in: one node with N-2
incoming edges), compiled once with `SqliteSaver` on a file on tmpfs, run with `invoke` on a
new thread id per run. The ratio is taken against durability="sync" (each step's checkpoint
committed before the next step starts: the engine's guarantee) on a connection with
synchronous=NORMAL (the engine's setting); LangGraph's defaults (durability="async", its own
connection settings) are shown too. Its nodes count their calls, so every run is checked to
have run N nodes. Optional: AGENTLEDGER_BENCH_PG_URL adds the engine on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from bench.common import PG_URL, QUICK, emit, table
from bench.engine_common import (
    AGENT_NOTE,
    DAG_HEADER,
    NOOP_KIND,
    DagRuns,
    bench_tmp,
    dag_edges,
    dag_repeats,
    dag_rows,
    figure_key,
    report_problems,
    run_engine_dags,
    where,
)

DAGS = [("chain", 100), ("chain", 1000), ("fanout", 100), ("fanout", 1000)]
TARGETS = {"chain": 0.5, "fanout": 0.25}
RATIO_GOAL = 5.0


class State(TypedDict, total=False):
    x: int


@dataclass
class GraphRuns:
    shape: str
    n: int
    mode: str
    ms_per_node: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.ms_per_node)


def langgraph_graph(shape: str, n: int, saver: Any, calls: list[int]) -> Any:
    from langgraph.graph import END, START, StateGraph

    def noop(state: State) -> dict[str, Any]:
        calls.append(1)
        return {}

    builder = StateGraph(State)
    edges = dag_edges(shape, n)
    for node in edges:
        builder.add_node(node, noop)
    for node, deps in edges.items():
        if not deps:
            builder.add_edge(START, node)
        for dep in deps:
            builder.add_edge(dep, node)
    builder.add_edge(list(edges)[-1], END)
    return builder.compile(checkpointer=saver)


def run_langgraph(shape: str, n: int, mode: str, tmp: Path) -> GraphRuns:
    """``mode`` "sync": durability="sync" on a synchronous=NORMAL connection; "default":
    LangGraph's own defaults."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    runs = GraphRuns(shape, n, mode)
    conn = sqlite3.connect(tmp / f"langgraph-{shape}-{n}-{mode}.db", check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        kwargs: dict[str, Any] = {}
        if mode == "sync":
            conn.execute("PRAGMA synchronous=NORMAL")
            kwargs["durability"] = "sync"
        calls: list[int] = []
        graph = langgraph_graph(shape, n, saver, calls)
        for r in range(1 + dag_repeats(n)):
            calls.clear()
            config = {"configurable": {"thread_id": f"run-{r}"}, "recursion_limit": n + 10}
            t0 = time.perf_counter()
            graph.invoke({"x": 0}, config, **kwargs)
            elapsed = time.perf_counter() - t0
            if len(calls) != n:
                runs.problems.append(f"run {r}: {len(calls)} of {n} nodes ran")
            if r:  # the first run warms up
                runs.ms_per_node.append(elapsed * 1000 / n)
    finally:
        conn.close()
    return runs


def langgraph_all(shapes: Sequence[tuple[str, int]]) -> dict[tuple[str, int, str], GraphRuns]:
    out = {}
    with bench_tmp("langgraph") as tmp:
        for shape, n in shapes:
            for mode in ("sync", "default"):
                out[(shape, n, mode)] = run_langgraph(shape, n, mode, Path(tmp))
    return out


def engine_section(
    title: str, results: list[DagRuns], figures: dict[str, object], prefix: str = ""
) -> None:
    """The targets are SQLite's: PostgreSQL figures are for information."""
    table(title, DAG_HEADER, dag_rows(results, {} if prefix else TARGETS))
    report_problems(results)
    for r in results:
        figures[f"{prefix}{figure_key(r)}_ms_per_node"] = round(r.median, 3)


def main() -> None:
    figures: dict[str, object] = {}
    scale = " (QUICK: fewer runs)" if QUICK else ""
    dags = [(s, n, NOOP_KIND) for s, n in DAGS] + [("chain", 100, "python")]
    engine = run_engine_dags(dags, remote=False)
    engine_section(
        f"B4 engine + trace_store in one process, SQLite on {where()}: submit -> COMPLETED "
        f"durable in the trace, per node{scale}\n  {AGENT_NOTE}; 'python agent': the built-in "
        "python agent running builtin_callables:noop (a thread hop per node)",
        engine,
        figures,
    )
    graphs = langgraph_all(DAGS)
    rows: list[list[object]] = []
    ratios_ok = True
    by_dag = {(r.shape, r.n): r for r in engine if r.agent == NOOP_KIND}
    for (shape, n, mode), g in graphs.items():
        eng = by_dag[(shape, n)]
        ratio = g.median / eng.median
        key = f"{shape}_{n}"
        if mode == "sync":
            figures[f"langgraph_{key}_ms_per_node"] = round(g.median, 3)
            figures[f"ratio_{key}"] = round(ratio, 2)
            ratios_ok = ratios_ok and ratio >= RATIO_GOAL
        else:
            figures[f"langgraph_default_{key}_ms_per_node"] = round(g.median, 3)
            figures[f"ratio_default_{key}"] = round(ratio, 2)
        rows.append(
            [
                f"{shape} {n:,}",
                "sync, NORMAL" if mode == "sync" else "defaults (async)",
                len(g.ms_per_node),
                g.median,
                min(g.ms_per_node),
                eng.median,
                f"{ratio:.2f}x",
                not g.problems,
                f">= {RATIO_GOAL:g}x" if mode == "sync" else "(info)",
            ]
        )
    table(
        f"B4 LangGraph + SqliteSaver (file on {where()}) on the same DAGs; ratio = LangGraph "
        f"ms/node / engine ms/node{scale}",
        [
            "DAG",
            "durability",
            "runs",
            "ms/node p50",
            "min",
            "engine p50",
            "ratio",
            "checked",
            "goal",
        ],
        rows,
    )
    for g in graphs.values():
        for p in g.problems[:5]:
            print(f"  PROBLEM LangGraph {g.shape} {g.n} {g.mode}: {p}")
    inline = run_engine_dags([(s, n, NOOP_KIND) for s, n in DAGS], remote=False, inline_writes=True)
    engine_section(
        f"B4 the same with AGENTLEDGER_ENGINE_INLINE_WRITES and _TRACE_STORE_INLINE_WRITES (SQLite "
        f"commits on the event loop, no writer-thread hand-off; info){scale}",
        inline,
        figures,
        "inline_writes_",
    )
    if PG_URL:
        pg = run_engine_dags([(s, n, NOOP_KIND) for s, n in DAGS], remote=False, pg_url=PG_URL)
        engine_section(
            f"B4 engine + trace_store in one process on PostgreSQL (info){scale}",
            pg,
            figures,
            "postgresql_",
        )
    checked = all(not r.problems for r in engine) and all(not g.problems for g in graphs.values())
    targets_ok = all(r.median <= TARGETS[r.shape] for r in by_dag.values())
    figures["checked"] = checked
    met = checked and targets_ok and ratios_ok
    emit("B4", met, **figures)


if __name__ == "__main__":
    main()
