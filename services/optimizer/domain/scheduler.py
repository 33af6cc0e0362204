"""SPEC 2.1: critical-path priorities (upward rank), per-phase budgets and the anytime rule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.graph import PHASES, Dag, PlanGraph, check_graph, check_number

SCHEDULER_VERSION = "scheduler-1.0.0"
DEFAULT_PHASE_WEIGHTS: Mapping[str, float] = {
    "spec": 0.15,
    "build": 0.5,
    "verify": 0.25,
    "govern": 0.1,
}
TIE_BREAK = "higher upward rank first; ties: fewer edges from a source, then node id"
ANYTIME_RULE = (
    "best partial result = the completed node in the latest phase; ties: the latest estimated"
    " finish along its critical path, then node id"
)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    phase_weights: Mapping[str, float]
    top_k: int = 5


@dataclass(frozen=True, slots=True)
class Budget:
    """A task's budget; 0 leaves a dimension unlimited."""

    tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Priority:
    node_id: str
    upward_rank: float


@dataclass(frozen=True, slots=True)
class PhaseBudget:
    phase: str
    weight: float
    share: float
    tokens: int
    usd: float
    seconds: float
    nodes: int
    estimated_latency_s: float
    estimated_tokens: int
    estimated_usd: float


@dataclass(frozen=True, slots=True)
class Anytime:
    node_id: str  # empty: nothing completed yet
    phase: str
    completed_subgoals: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    scheduler_version: str
    priorities: tuple[Priority, ...]
    priorities_topk: tuple[Priority, ...]
    critical_path: tuple[str, ...]
    critical_path_latency_s: float
    budget_allocation: tuple[PhaseBudget, ...]
    anytime: Anytime
    evidence: Mapping[str, Any]


def upward_ranks(
    dag: Dag, weights: Sequence[float], transfer: Mapping[tuple[int, int], float] | None = None
) -> list[float]:
    """rank_u(i) = w(i) + max over successors j of (c(i, j) + rank_u(j)) (Topcuoglu et al. 2002)."""
    rank = [0.0] * len(dag.nodes)
    succs = dag.succs
    for i in reversed(dag.order):
        best = 0.0
        # Plans have no transfer costs: their loop skips a dict lookup per edge (10,000 nodes).
        if transfer:
            for j in succs[i]:
                r = transfer.get((i, j), 0.0) + rank[j]
                if r > best:
                    best = r
        else:
            for j in succs[i]:
                r = rank[j]
                if r > best:
                    best = r
        rank[i] = weights[i] + best
    return rank


def _depths(dag: Dag) -> list[int]:
    """Edges on the longest path from a source: a parent is always shallower than its child."""
    depth = [0] * len(dag.nodes)
    preds = dag.preds
    for i in dag.order:
        for p in preds[i]:
            if depth[p] >= depth[i]:
                depth[i] = depth[p] + 1
    return depth


def priority_order(dag: Dag, rank: Sequence[float]) -> list[int]:
    """Positions by descending rank; the tie-break keeps it a topological order."""
    depth = _depths(dag)
    ids = [n.id for n in dag.nodes]
    # Ranks equal up to float noise (sums in another order) tie: nanosecond resolution.
    return sorted(range(len(ids)), key=lambda i: (-round(rank[i], 9), depth[i], ids[i]))


def critical_path(
    dag: Dag,
    rank: Sequence[float],
    order: Sequence[int],
    transfer: Mapping[tuple[int, int], float] | None = None,
) -> list[int]:
    """From the highest-ranked node, follow the successor that carries its rank."""
    at = {p: k for k, p in enumerate(order)}
    cost = transfer or {}
    path = [order[0]]
    while dag.succs[path[-1]]:
        i = path[-1]
        path.append(
            min(dag.succs[i], key=lambda j: (-round(cost.get((i, j), 0.0) + rank[j], 9), at[j]))
        )
    return path


def check_transfers(
    dag: Dag, transfer_s: Mapping[tuple[str, str], float]
) -> dict[tuple[int, int], float]:
    """Communication costs keyed by (from id, to id): each must be an edge of the graph."""
    out: dict[tuple[int, int], float] = {}
    for (a, b), cost in transfer_s.items():
        i, j = dag.position(a, "transfer source"), dag.position(b, "transfer target")
        if i not in dag.preds[j]:
            raise InvalidArgument(f"transfer {a!r} -> {b!r} is not an edge of the plan graph")
        check_number(cost, f"transfer {a!r} -> {b!r}")
        out[(i, j)] = cost
    return out


def allocate_budget(
    dag: Dag, budget: Budget, phase_weights: Mapping[str, float]
) -> tuple[PhaseBudget, ...]:
    """Splits the budget over the phases the plan uses, in proportion to their weights."""
    check_number(budget.tokens, "budget tokens")
    check_number(budget.usd, "budget usd")
    check_number(budget.seconds, "budget seconds")
    for phase, w in phase_weights.items():
        if phase not in PHASES:
            raise InvalidArgument(f"phase weight for {phase!r}; phases are {', '.join(PHASES)}")
        check_number(w, f"phase weight {phase!r}")
    nodes = {p: [n for n in dag.nodes if n.phase == p] for p in PHASES}
    present = [p for p in PHASES if nodes[p]]
    total = sum(phase_weights.get(p, 0.0) for p in present)
    if total <= 0:
        raise InvalidArgument(
            f"the phase weights of the plan's phases ({', '.join(present)}) sum to 0;"
            " give at least one of them a positive weight"
        )
    shares = {p: phase_weights.get(p, 0.0) / total for p in present}
    tokens = _largest_remainder(budget.tokens, [shares[p] for p in present])
    return tuple(
        PhaseBudget(
            phase=p,
            weight=phase_weights.get(p, 0.0),
            share=shares[p],
            tokens=tokens[k],
            usd=budget.usd * shares[p],
            seconds=budget.seconds * shares[p],
            nodes=len(nodes[p]),
            estimated_latency_s=math.fsum(n.latency_s for n in nodes[p]),
            estimated_tokens=sum(n.tokens for n in nodes[p]),
            estimated_usd=math.fsum(n.usd for n in nodes[p]),
        )
        for k, p in enumerate(present)
    )


def _largest_remainder(total: int, shares: Sequence[float]) -> list[int]:
    # Whole tokens that add up to the budget exactly; leftovers go to the largest remainders.
    exact = [total * s for s in shares]
    out = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda k: (-(exact[k] - out[k]), k))
    for k in by_remainder[: total - sum(out)]:
        out[k] += 1
    return out


def anytime_result(dag: Dag, completed: frozenset[str]) -> Anytime:
    """Names the best partial result among the completed nodes (see ANYTIME_RULE)."""
    done = {dag.position(c, "completed node") for c in completed}
    if not done:
        return Anytime("", "", (), "no node has completed: there is no partial result yet")
    finish = [0.0] * len(dag.nodes)
    for i in dag.order:
        finish[i] = dag.nodes[i].latency_s + max((finish[p] for p in dag.preds[i]), default=0.0)
    best = min(
        done,
        key=lambda i: (-PHASES.index(dag.nodes[i].phase), -finish[i], dag.nodes[i].id),
    )
    subgoals: dict[str, bool] = {}
    for i, n in enumerate(dag.nodes):
        if n.subgoal:
            subgoals[n.subgoal] = subgoals.get(n.subgoal, True) and i in done
    node = dag.nodes[best]
    return Anytime(
        node.id,
        node.phase,
        tuple(sorted(s for s, ok in subgoals.items() if ok)),
        f"{node.id!r} is the completed node in the latest phase ({node.phase}) with the latest"
        f" estimated finish ({finish[best]:.3f} s)",
    )


def schedule(
    graph: PlanGraph,
    config: SchedulerConfig,
    budget: Budget = Budget(),
    completed: frozenset[str] = frozenset(),
    *,
    top_k: int = 0,
    phase_weights: Mapping[str, float] | None = None,
    transfer_s: Mapping[tuple[str, str], float] | None = None,
) -> SchedulePlan:
    """The SchedulePlan of a plan graph; weights are estimated latencies."""
    dag = check_graph(graph)
    if top_k < 0:
        raise InvalidArgument(f"top_k is {top_k}; use 0 for the default or a positive number")
    k = top_k or config.top_k
    weights = phase_weights or config.phase_weights
    transfer = check_transfers(dag, transfer_s) if transfer_s else None
    rank = upward_ranks(dag, [n.latency_s for n in dag.nodes], transfer)
    order = priority_order(dag, rank)
    path = critical_path(dag, rank, order, transfer)
    priorities = tuple(Priority(dag.nodes[i].id, rank[i]) for i in order)
    allocation = allocate_budget(dag, budget, weights)
    return SchedulePlan(
        scheduler_version=SCHEDULER_VERSION,
        priorities=priorities,
        priorities_topk=priorities[:k],
        critical_path=tuple(dag.ids(path)),
        critical_path_latency_s=rank[order[0]],
        budget_allocation=allocation,
        anytime=anytime_result(dag, completed),
        evidence={
            "weights": "estimated latency_s of each node's primary variant",
            "transfer_costs": len(transfer or {}),
            "tie_break": TIE_BREAK,
            "nodes": len(dag.nodes),
            "edges": dag.edges,
            "top_k": k,
            "phase_weights": {p: weights.get(p, 0.0) for p in PHASES},
            "budget": {"tokens": budget.tokens, "usd": budget.usd, "seconds": budget.seconds},
            "budget_rule": "share = phase weight / sum of the weights of the phases the plan"
            " uses; a budget dimension of 0 is unlimited and allocates 0",
            "anytime_rule": ANYTIME_RULE,
            "completed": sorted(completed),
        },
    )
