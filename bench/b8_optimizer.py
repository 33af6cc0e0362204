"""B8: the optimizer's modules at the sizes SPEC 2.x names, timed in-process, plus the two event
RPCs end to end through a real server.

Floors (issue 4): priorities + critical path on a 10,000-node DAG <= 100 ms and <= 3 x networkx
`dag_longest_path` on the same graph in the same run; Pareto over 100,000 candidates x 4
objectives <= 1 s; summarizing 100,000 events <= 2 s; salience over 100,000 events <= 1 s.

What is timed: `schedule()` whole (graph checks, upward ranks, the priority order, critical path,
budget table) against networkx on a prebuilt DiGraph whose edges carry the node weights;
`candidate_frontier()` on uniform random vectors and on scores of random variant paths of a
30-node plan; `summarize()` and `rank()` on a 100,000-event trace in the engine's event
conventions (state changes, node starts/completions/failures with usage, governance
decisions). Each figure is the median of several runs. Informational: the Pareto frontier of a
30-node x 3-variant plan built with partial-path pruning, a 4-objective set of anti-correlated
pairs whose front is ~10x a plan's (the filter's hard case), and the two event RPCs through
gRPC (encoding 100,000 events included).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from typing import Any

import networkx as nx
import orjson

from agentledger.optimizer.v1 import optimizer_pb2 as pb
from bench.common import QUICK, emit, median, table
from services.optimizer import server, wiring
from services.optimizer.client import OptimizerClient
from services.optimizer.domain.dominance import Candidate, Objective, candidate_frontier
from services.optimizer.domain.events import Event
from services.optimizer.domain.graph import PHASES, Node, PlanGraph, Variant
from services.optimizer.domain.history import InMemoryHistory
from services.optimizer.domain.pareto import ParetoConfig, plan_frontier
from services.optimizer.domain.salience import DEFAULT_WEIGHTS, SalienceConfig, rank
from services.optimizer.domain.scheduler import DEFAULT_PHASE_WEIGHTS, SchedulerConfig, schedule
from services.optimizer.domain.summarizer import summarize
from services.optimizer.settings import OptimizerSettings

RUNS = 3 if QUICK else 7
OBJECTIVES = (
    Objective("success_proxy", True),
    Objective("usd", False),
    Objective("risk", False),
    Objective("latency_s", False),
)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def timed(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    """Median seconds over `runs` calls (after one warm-up) and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return median(times), result


def dag(n: int, seed: int = 8) -> tuple[PlanGraph, nx.DiGraph]:
    """A layered-looking random DAG: each node depends on up to 3 of the 50 before it."""
    rng = random.Random(seed)
    nodes = []
    for i in range(n):
        deps = (
            sorted({rng.randrange(max(0, i - 50), i) for _ in range(rng.randint(0, 3))})
            if i
            else []
        )
        nodes.append(
            Node(
                f"n{i}",
                PHASES[i * 4 // n],
                tuple(f"n{d}" for d in deps),
                latency_s=rng.uniform(0.1, 10.0),
                tokens=rng.randint(0, 2000),
            )
        )
    g = nx.DiGraph()
    for node in nodes:
        g.add_edge(node.id, "\0sink", weight=node.latency_s)
        for d in node.depends_on:
            g.add_edge(d, node.id, weight=nodes[int(d[1:])].latency_s)
    return PlanGraph(tuple(nodes)), g


def uniform_candidates(n: int, seed: int = 1) -> list[Candidate]:
    rng = random.Random(seed)
    return [
        Candidate(f"c{i}", (rng.random(), rng.random(), rng.random(), rng.random()))
        for i in range(n)
    ]


def anticorrelated_candidates(n: int, seed: int = 2) -> list[Candidate]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.random(), rng.random()
        out.append(
            Candidate(f"c{i}", (1 - a - 0.1 * rng.random(), a, b, 1 - b + 0.1 * rng.random()))
        )
    return out


def plan_nodes(n: int, seed: int = 3) -> list[Node]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lat, usd = rng.uniform(1, 20), rng.uniform(0.01, 0.3)
        risk, ok = rng.uniform(0, 0.2), rng.uniform(0.8, 0.99)
        deps = (f"n{rng.randrange(max(0, i - 3), i)}",) if i else ()
        out.append(
            Node(
                f"n{i}",
                "build",
                deps,
                lat,
                1000,
                usd,
                risk,
                ok,
                variants=(
                    Variant(
                        "degraded", lat * 0.5, 400, usd * 0.3, min(1.0, risk * 1.5 + 0.05), ok * 0.9
                    ),
                    Variant(
                        "alternative", lat * 1.3, 1500, usd * 1.5, risk * 0.5, min(0.999, ok * 1.05)
                    ),
                ),
            )
        )
    return out


def path_candidates(nodes: list[Node], n: int, seed: int = 4) -> list[Candidate]:
    """Scores of random variant paths through a chain-like plan (sums and products)."""
    rng = random.Random(seed)
    options = [node.options() for node in nodes]
    out = []
    for i in range(n):
        picks = [o[rng.randrange(len(o))] for o in options]
        out.append(
            Candidate(
                f"p{i}",
                (
                    math.prod(v.success_proxy for v in picks),
                    sum(v.usd for v in picks),
                    1 - math.prod(1 - v.risk for v in picks),
                    sum(v.latency_s for v in picks),
                ),
            )
        )
    return out


def trace(n: int, seed: int = 1) -> list[Event]:
    rng = random.Random(seed)
    t = 1_767_225_600_000_000_000
    out = [
        Event(
            1,
            "task.state_changed",
            actor="engine",
            time_unix_nano=t,
            payload_json=b'{"from":"QUEUED","to":"RUNNING","reason":"claimed"}',
        )
    ]
    for seq in range(2, n):
        t += rng.randint(1_000_000, 50_000_000)
        k = rng.randrange(30)
        node, phase, r = f"n{k}", PHASES[k * 4 // 30], rng.random()
        if r < 0.45:
            e = Event(seq, "node.started", phase, node, 2, "engine", t, b'{"attempt":1}')
        elif r < 0.85:
            body = {
                "attempt": 1,
                "variant": "primary",
                "duration_s": 0.5,
                "output": {"ok": True},
                "usage": {
                    "tokens_in": rng.randint(0, 500),
                    "tokens_out": rng.randint(0, 200),
                    "usd": round(rng.random() * 0.01, 6),
                    "tool_seconds": 0.1,
                },
            }
            e = Event(seq, "node.completed", phase, node, 2, "agent:python", t, orjson.dumps(body))
        elif r < 0.9:
            body = {
                "attempt": 1,
                "usage": {"tokens_in": 10, "tokens_out": 0, "usd": 0.0},
                "failure": {"kind": "tool_issue", "message": "exit 1", "signals": {}},
            }
            e = Event(seq, "node.failed", phase, node, 5, "agent:command", t, orjson.dumps(body))
        else:
            action = rng.choice(["continue", "continue", "retry", "degrade", "pause"])
            body = {
                "action": action,
                "rule": rng.choice(["budget", "verify", "tool_error"]),
                "rule_version": 1,
                "reason": "why",
                "conditions_evidence": {"x": 1},
            }
            e = Event(
                seq, "governance.decision", phase, node, 4, "governance", t, orjson.dumps(body)
            )
        out.append(e)
    out.append(
        Event(
            n,
            "task.state_changed",
            actor="engine",
            time_unix_nano=t + 1,
            payload_json=b'{"from":"RUNNING","to":"COMPLETED","reason":"done"}',
        )
    )
    return out


async def through_grpc(events: list[Event]) -> tuple[float, float]:
    """SummarizeEvents and RankSalience round trips with 100,000 events, client encoding in."""
    built = wiring.build(OptimizerSettings.from_env({}), history=InMemoryHistory())
    running = await server.start(built.service, "127.0.0.1:0")
    wire = [
        pb.Event(
            seq=e.seq,
            type=e.type,
            phase=e.phase,
            node_id=e.node_id,
            severity=e.severity,  # type: ignore[arg-type]
            actor=e.actor,
            time_unix_nano=e.time_unix_nano,
            payload_json=e.payload_json,
        )
        for e in events
    ]
    try:
        async with OptimizerClient(f"127.0.0.1:{running.port}", timeout_s=120) as client:
            times: dict[str, list[float]] = {"summary": [], "salience": []}
            for _ in range(2 if QUICK else 3):
                t0 = time.perf_counter()
                await client.summarize_events(wire)
                t1 = time.perf_counter()
                await client.rank_salience(wire)
                times["summary"].append(t1 - t0)
                times["salience"].append(time.perf_counter() - t1)
        return median(times["summary"]), median(times["salience"])
    finally:
        await running.stop(0)
        await built.close()


def main() -> None:
    graph, g = dag(10_000)
    config = SchedulerConfig(DEFAULT_PHASE_WEIGHTS)
    ours, plan = timed(lambda: schedule(graph, config))
    theirs, path = timed(lambda: nx.dag_longest_path(g, weight="weight"))
    length = nx.dag_longest_path_length(g, weight="weight")
    same = math.isclose(plan.critical_path_latency_s, length, rel_tol=1e-9) and len(path) > 1
    uniform = uniform_candidates(100_000)
    paths = path_candidates(plan_nodes(30), 100_000)
    hard = anticorrelated_candidates(100_000)
    t_uniform, f_uniform = timed(lambda: candidate_frontier(uniform, OBJECTIVES, 50))
    t_paths, f_paths = timed(lambda: candidate_frontier(paths, OBJECTIVES, 50))
    t_hard, f_hard = timed(lambda: candidate_frontier(hard, OBJECTIVES, 50), runs=1)
    plan30 = PlanGraph(tuple(plan_nodes(30, seed=5)))
    t_plan30, f_plan30 = timed(lambda: plan_frontier(plan30, ParetoConfig()), runs=RUNS)
    events = trace(100_000)
    t_summary, summary = timed(lambda: summarize(events))
    t_salience, _ = timed(lambda: rank(events, SalienceConfig(DEFAULT_WEIGHTS)))
    rpc_summary, rpc_salience = asyncio.run(through_grpc(events))
    figures: dict[str, Any] = {
        "schedule_10k_ms": ms(ours),
        "networkx_longest_path_10k_ms": ms(theirs),
        "schedule_vs_networkx": round(ours / theirs, 2),
        "critical_path_matches_networkx": same,
        "pareto_100k_uniform_ms": ms(t_uniform),
        "pareto_100k_uniform_front": len(f_uniform.frontier),
        "pareto_100k_plan_paths_ms": ms(t_paths),
        "pareto_100k_plan_paths_front": len(f_paths.frontier),
        "pareto_100k_anticorrelated_ms": ms(t_hard),
        "pareto_100k_anticorrelated_front": len(f_hard.frontier),
        "plan_frontier_30x3_ms": ms(t_plan30),
        "plan_frontier_30x3_paths": len(f_plan30.frontier),
        "plan_frontier_30x3_error_bound": round(f_plan30.error_bound, 4),
        "summarize_100k_ms": ms(t_summary),
        "salience_100k_ms": ms(t_salience),
        "summarize_100k_rpc_ms": ms(rpc_summary),
        "salience_100k_rpc_ms": ms(rpc_salience),
    }
    checks = {
        "schedule": ours <= 0.100 and ours <= 3 * theirs and same,
        "pareto": max(t_uniform, t_paths) <= 1.0,
        "summarize": t_summary <= 2.0 and summary.event_count == 100_000,
        "salience": t_salience <= 1.0,
    }
    table(
        f"B8 optimizer modules (median of {RUNS} runs, one process)",
        ["what", "ms", "reference", "floor", "met"],
        [
            [
                "schedule, 10,000-node DAG (14,700 edges)",
                ms(ours),
                f"networkx {ms(theirs)} ms",
                "<= 100 ms, <= 3x networkx",
                checks["schedule"],
            ],
            [
                "Pareto, 100,000 uniform x 4",
                ms(t_uniform),
                f"front {len(f_uniform.frontier)}",
                "<= 1,000 ms",
                t_uniform <= 1.0,
            ],
            [
                "Pareto, 100,000 plan paths x 4",
                ms(t_paths),
                f"front {len(f_paths.frontier)}",
                "<= 1,000 ms",
                t_paths <= 1.0,
            ],
            [
                "summarize, 100,000 events",
                ms(t_summary),
                f"{len(summary.level1)} clusters",
                "<= 2,000 ms",
                checks["summarize"],
            ],
            ["salience, 100,000 events", ms(t_salience), "", "<= 1,000 ms", checks["salience"]],
        ],
    )
    table(
        "B8 informational (no floor)",
        ["what", "ms", "detail"],
        [
            [
                "Pareto, 100,000 anti-correlated x 4",
                ms(t_hard),
                f"front {len(f_hard.frontier)}, {len(f_hard.frontier) / len(hard):.1%} of the set",
            ],
            [
                "plan frontier, 30 nodes x 3 variants",
                ms(t_plan30),
                f"{len(f_plan30.frontier)} paths of 3^30, error bound {f_plan30.error_bound:.3f}",
            ],
            ["SummarizeEvents RPC, 100,000 events", ms(rpc_summary), "client encoding included"],
            ["RankSalience RPC, 100,000 events", ms(rpc_salience), "client encoding included"],
        ],
    )
    emit("B8", all(checks.values()), **figures)


if __name__ == "__main__":
    main()
