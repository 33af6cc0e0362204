"""B5: the B4 DAGs with the engine and trace_store as separate processes.

Target (issue 3): chain <= 1 ms/node, every node's events durable before its dependents start.

trace_store runs as `python -m services.trace_store` on a free port (SQLite on tmpfs); the
engine runs in this process and reaches it through `GrpcTraceSink` (the typed gRPC client).
Timing and checks are B4's: submit -> the append holding the transition to COMPLETED
acknowledged by trace_store, divided by N, the median of several runs after a warm-up; every
run's nodes and trace are checked (the trace read back from trace_store's database). The
fan-out figures have no target here; they are shown for comparison with B4.
Optional: AGENTLEDGER_BENCH_PG_URL adds both services on PostgreSQL.
"""

from __future__ import annotations

from bench.common import PG_URL, QUICK, emit, table
from bench.engine_common import (
    AGENT_NOTE,
    DAG_HEADER,
    NOOP_KIND,
    DagRuns,
    dag_rows,
    figure_key,
    report_problems,
    run_engine_dags,
    where,
)

DAGS = [("chain", 100), ("chain", 1000), ("fanout", 100), ("fanout", 1000)]
TARGETS = {"chain": 1.0}


def section(title: str, results: list[DagRuns], figures: dict[str, object], prefix: str) -> None:
    table(title, DAG_HEADER, dag_rows(results, {} if prefix else TARGETS))
    report_problems(results)
    for r in results:
        figures[f"{prefix}{figure_key(r)}_ms_per_node"] = round(r.median, 3)


def main() -> None:
    figures: dict[str, object] = {}
    scale = " (QUICK: fewer runs)" if QUICK else ""
    dags = [(s, n, NOOP_KIND) for s, n in DAGS]
    results = run_engine_dags(dags, remote=True)
    section(
        f"B5 engine (this process) -> trace_store (another process, gRPC), SQLite on {where()}: "
        f"submit -> COMPLETED durable in the trace, per node{scale}\n  {AGENT_NOTE}",
        results,
        figures,
        "",
    )
    checked = all(not r.problems for r in results)
    if PG_URL:
        pg = run_engine_dags(dags, remote=True, pg_url=PG_URL)
        section(f"B5 the same on PostgreSQL (info){scale}", pg, figures, "postgresql_")
        checked = checked and all(not r.problems for r in pg)
    figures["checked"] = checked
    met = checked and all(r.median <= TARGETS["chain"] for r in results if r.shape == "chain")
    emit("B5", met, **figures)


if __name__ == "__main__":
    main()
