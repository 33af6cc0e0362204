"""SPEC 2.3: the Pareto frontier of a plan's candidate paths (one variant per node), built node
by node with dominated partial paths pruned as they appear, never enumerating the product.

A partial path is scored by what its completions can still reach: success proxy so far
(product), cost and tokens (sums), survival from risk (product of 1 - risk), the latest finish
of a sink so far, and, for each group of placed nodes with the same pending successors, their
latest finish. Every final objective is monotone in each of these, so a partial path that
another dominates can never complete into a frontier path: pruning it is exact.

The exact frontier of 30 nodes x 3 variants can hold millions of paths, so when a step keeps
more than `max_states` partial paths it is coarsened: partial paths are compared on a relative
grid (one kept per cell; a cell dominated by another is pruned) whose width starts at half the
previous step's (never below `epsilon`) and doubles until the bound holds. A kept path then
stands for paths up to (1 + width) better than it on some score, and may be replaced in turn
later. Each partial path carries the worst ratio it stands for, multiplied along such chains,
which holds through completions (sums, products and maxima keep relative gaps); the result
reports the largest as `error_bound`: every path of the full product has a frontier path at
most (1 + error_bound) times worse on each score (the success proxy as the ratio of the better
to the worse).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.dominance import PARETO_VERSION, nondominated
from services.optimizer.domain.graph import Dag, PlanGraph, check_graph

AGGREGATION = {
    "success_proxy": "product over nodes (maximised)",
    "usd": "sum over nodes (minimised)",
    "risk": "1 - product of (1 - risk) over nodes (minimised)",
    "latency_s": "critical path through the DAG with the chosen variants (minimised)",
    "tokens": "sum over nodes (reported, not an objective)",
}


@dataclass(frozen=True, slots=True)
class ParetoConfig:
    max_states: int = 256
    epsilon: float = 0.001
    record_limit: int = 50


@dataclass(frozen=True, slots=True)
class PathScore:
    success_proxy: float
    usd: float
    risk: float
    latency_s: float
    tokens: int


@dataclass(frozen=True, slots=True)
class CandidatePath:
    choices: tuple[tuple[str, str], ...]  # (node id, variant name), in a topological order
    score: PathScore


@dataclass(frozen=True, slots=True)
class RejectedPath:
    step: int  # how many nodes the partial paths had
    path: tuple[tuple[str, str], ...]
    dominated_by: tuple[tuple[str, str], ...]
    how: str  # "dominated" | "same grid cell" | "grid cell dominated"


@dataclass(frozen=True, slots=True)
class PlanFrontier:
    pareto_version: str
    frontier: tuple[CandidatePath, ...]
    candidate_space: float  # the size of the full product of variants
    partial_paths_built: int
    pruned: int
    rejected: tuple[RejectedPath, ...]
    exact: bool
    error_bound: float  # relative, per score; 0 when exact
    evidence: dict[str, Any]


# A partial path: (minimisation vector, choices, success, usd, survival, tokens, error), where
# error >= 1 is the worst ratio by which it may be worse than a path it stands for.
_State = tuple[tuple[float, ...], tuple[int, ...], float, float, float, int, float]


def plan_frontier(graph: PlanGraph, config: ParetoConfig) -> PlanFrontier:
    dag = check_graph(graph)
    if config.max_states < 1 or not 0 < config.epsilon < 1 or config.record_limit < 0:
        raise InvalidArgument(
            f"pareto settings {config}: max_states >= 1, 0 < epsilon < 1, record_limit >= 0"
        )
    order = _depth_first_order(dag)
    options = [dag.nodes[i].options() for i in order]
    states: list[_State] = [((0.0, 0.0, 0.0, 0.0), (), 1.0, 0.0, 1.0, 0, 1.0)]
    built = pruned = 0
    rejected: list[RejectedPath] = []
    eps = 0.0
    for step, (feeds, layout, is_sink) in enumerate(_layouts(dag, order)):
        grown: list[_State] = []
        own = next((k for k, (_, mine) in enumerate(layout) if mine), -1)
        for vec, choices, success, usd, survival, tokens, err in states:
            times = vec[4:]
            start = max((times[k] for k in feeds), default=0.0)
            base = [max((times[k] for k in group), default=0.0) for group, _ in layout]
            for v_index, v in enumerate(options[step]):
                finish = start + v.latency_s
                s, sv = success * v.success_proxy, survival * (1.0 - v.risk)
                c = usd + v.usd
                tail = list(base)
                if own >= 0 and finish > tail[own]:
                    tail[own] = finish
                ends = max(vec[3], finish) if is_sink else vec[3]
                # Rounded past float noise, so that products taken in another order still tie:
                # probabilities to 1e-14, seconds and dollars to 1e-9.
                vector = (
                    -round(s, 14), round(c, 9), round(1.0 - sv, 14), round(ends, 9),
                    *(round(t, 9) for t in tail),
                )  # fmt: skip
                grown.append((vector, (*choices, v_index), s, c, sv, tokens + v.tokens, err))
        built += len(grown)
        states, eps = _prune(grown, config, dag, order, step, rejected, eps)
        pruned += len(grown) - len(states)
    frontier = sorted(
        (_path(dag, order, st) for st in states),
        key=lambda p: (-p.score.success_proxy, p.score.usd, p.score.risk, p.score.latency_s,
                       p.choices),
    )  # fmt: skip
    return PlanFrontier(
        pareto_version=PARETO_VERSION,
        frontier=tuple(frontier),
        candidate_space=math.prod(float(len(o)) for o in options),
        partial_paths_built=built,
        pruned=pruned,
        rejected=tuple(rejected),
        exact=eps == 0.0,
        error_bound=max(st[6] for st in states) - 1.0,
        evidence={
            "aggregation": AGGREGATION,
            "max_states": config.max_states,
            "epsilon_start": config.epsilon,
            "epsilon_final": eps,
            "error_bound_rule": "each path of the full product has a frontier path at most"
            " (1 + error_bound) times worse on every score; success proxy compared as itself"
            " (ratio of the better to the worse), risk as 1 - product of (1 - risk)",
            "nodes": len(dag.nodes),
            "order": dag.ids(order),
        },
    )


def _depth_first_order(dag: Dag) -> list[int]:
    """A topological order that finishes a branch before starting the next (ready nodes on a
    stack): fewer nodes wait on pending successors, so partial paths carry fewer times."""
    missing = [len(p) for p in dag.preds]
    ready = [i for i in reversed(range(len(dag.nodes))) if not missing[i]]
    order: list[int] = []
    while ready:
        i = ready.pop()
        order.append(i)
        for j in reversed(dag.succs[i]):
            missing[j] -= 1
            if not missing[j]:
                ready.append(j)
    return order


# Per step: the slots holding the new node's predecessors; the slots after the step, each as
# (the slots before it that merge into it, whether the new node's finish joins it); and whether
# the new node is a sink.
_Layout = tuple[tuple[int, ...], tuple[tuple[tuple[int, ...], bool], ...], bool]


def _layouts(dag: Dag, order: list[int]) -> list[_Layout]:
    """What a partial path must remember are finish times of placed nodes with successors still
    to place, and only through the max over each one's pending successors' predecessors: placed
    nodes with the same pending successors share one slot (their latest finish). A slot whose
    successors are all placed is dropped: its time is below a placed successor's finish."""
    placed: set[int] = set()
    slots: list[frozenset[int]] = []  # each slot's pending successors
    out: list[_Layout] = []
    for i in order:
        feeds = tuple(k for k, key in enumerate(slots) if i in key)
        placed.add(i)
        merged: dict[frozenset[int], tuple[list[int], bool]] = {}
        for k, key in enumerate(slots):
            rest = key - {i}
            if rest:
                merged.setdefault(rest, ([], False))[0].append(k)
        own = frozenset(j for j in dag.succs[i] if j not in placed)
        if own:
            merged[own] = (merged.get(own, ([], False))[0], True)
        slots = list(merged)
        layout = tuple((tuple(g), mine) for g, mine in merged.values())
        out.append((feeds, layout, not dag.succs[i]))
    return out


def _prune(
    grown: list[_State],
    config: ParetoConfig,
    dag: Dag,
    order: list[int],
    step: int,
    rejected: list[RejectedPath],
    eps: float,
) -> tuple[list[_State], float]:
    """Drops dominated partial paths; coarsens (see the module docstring) when too many stay.
    Answers the kept paths and the grid width in use (0: none yet)."""
    dominator = nondominated([s[0] for s in grown])
    _record(rejected, config, dag, order, step, grown, enumerate(dominator), "dominated")
    states = list(grown)
    kept = _absorb(states, [(k, d) for k, d in enumerate(dominator) if d >= 0])
    if len(kept) <= config.max_states:
        return [states[k] for k in kept], eps
    eps = max(config.epsilon, eps / 2)
    while True:
        survivors, same_cell, dominated_cell = _grid(states, kept, eps)
        if len(survivors) <= config.max_states:
            break
        eps *= 2.0
    # A path merged into its cell's first one, which may in turn lose to a dominating cell.
    for pairs, how in ((same_cell, "same grid cell"), (dominated_cell, "grid cell dominated")):
        _record(rejected, config, dag, order, step, grown, pairs, how)
        _absorb(states, pairs)
    return [states[k] for k in survivors], eps


def _absorb(states: list[_State], pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Each dropped path k hands its error, times how much worse its stand-in d is, to d.
    Answers the positions not dropped."""
    dropped = set()
    for k, d in pairs:
        dropped.add(k)
        ratio = states[k][6] * max(1.0, *map(_ratio, states[d][0], states[k][0]))
        if ratio > states[d][6]:
            states[d] = (*states[d][:6], ratio)
    return [k for k in range(len(states)) if k not in dropped]


def _ratio(kept: float, dropped: float) -> float:
    """How many times worse `kept` is than `dropped` on a minimised score (the negated success
    proxy compares as success proxies)."""
    if kept <= dropped:
        return 1.0
    if dropped < 0:
        return dropped / kept if kept < 0 else math.inf
    return kept / dropped if dropped > 0 else math.inf


def _grid(
    states: list[_State], kept: list[int], eps: float
) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]]]:
    scale = math.log1p(eps)
    cells: dict[tuple[int, ...], int] = {}
    same: list[tuple[int, int]] = []
    for k in kept:  # kept is in input order, so the first of a cell stays: deterministic
        cell = tuple(_cell(x, scale) for x in states[k][0])
        first = cells.setdefault(cell, k)
        if first != k:
            same.append((k, first))
    keys = list(cells)
    dominator = nondominated([tuple(float(c) for c in key) for key in keys])
    beaten = [
        (cells[key], cells[keys[d]]) for key, d in zip(keys, dominator, strict=True) if d >= 0
    ]
    survivors = sorted(cells[key] for key, d in zip(keys, dominator, strict=True) if d < 0)
    return survivors, same, beaten


def _cell(x: float, scale: float) -> int:
    # Scores are >= 0 except the negated success proxy, graded by magnitude with its sign kept.
    if x == 0.0:
        return 0
    magnitude = 1 + math.floor(math.log(abs(x)) / scale) + 100_000_000
    return magnitude if x > 0 else -magnitude


def _record(
    rejected: list[RejectedPath],
    config: ParetoConfig,
    dag: Dag,
    order: list[int],
    step: int,
    grown: Sequence[_State],
    pairs: Iterable[tuple[int, int]],
    how: str,
) -> None:
    for k, d in pairs:
        if len(rejected) >= config.record_limit:
            return
        if d >= 0:
            rejected.append(
                RejectedPath(
                    step + 1,
                    _choices(dag, order, grown[k][1]),
                    _choices(dag, order, grown[d][1]),
                    how,
                )
            )


def _choices(dag: Dag, order: list[int], picks: tuple[int, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (dag.nodes[i].id, dag.nodes[i].options()[v].name)
        for i, v in zip(order, picks, strict=False)
    )


def _path(dag: Dag, order: list[int], st: _State) -> CandidatePath:
    vec, picks, success, usd, survival, tokens, _ = st
    return CandidatePath(
        _choices(dag, order, picks), PathScore(success, usd, 1.0 - survival, vec[3], tokens)
    )
