"""The Pareto frontier: exact against brute force on small plans, the coarsening's error bound
holds, 30 nodes x 3 variants never enumerates the product, and explicit candidate sets."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction
from typing import Any

import pytest

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.dominance import (
    Candidate,
    Objective,
    candidate_frontier,
    nondominated,
)
from services.optimizer.domain.graph import Node, PlanGraph, Variant
from services.optimizer.domain.pareto import ParetoConfig, plan_frontier

Score = tuple[Any, Any, Any, Any]  # success, usd, risk, latency: Fractions or floats


def dyadic(rng: random.Random, low: int, high: int, bits: int = 4) -> float:
    """k / 2**bits: exact in binary floating point, so float sums and products of a few of
    them are exact and ties are real ties."""
    return rng.randint(low, high) / float(2**bits)


def random_plan(n: int, seed: int, shape: str, *, exact: bool = False) -> PlanGraph:
    rng = random.Random(seed)

    def pick(lo: int, hi: int) -> float:
        return dyadic(rng, lo, hi) if exact else rng.uniform(lo, hi) / 16

    layers: list[list[int]] = []
    while sum(map(len, layers)) < n:
        width = 1 if shape == "chain" else rng.randint(1, 3)
        start = sum(map(len, layers))
        layers.append(list(range(start, min(n, start + width))))
    nodes = []
    for depth, layer in enumerate(layers):
        for i in layer:
            deps = (
                ()
                if depth == 0
                else tuple(
                    sorted({f"n{rng.choice(layers[depth - 1])}" for _ in range(rng.randint(1, 2))})
                )
            )

            def variant(name: str) -> Variant:
                return Variant(name, pick(8, 160), 10, pick(1, 40), pick(0, 3), pick(12, 16))

            p = variant("primary")
            nodes.append(
                Node(f"n{i}", "build", deps, p.latency_s, p.tokens, p.usd, p.risk,
                     p.success_proxy, variants=(variant("cheap"), variant("alt")))
            )  # fmt: skip
    return PlanGraph(tuple(nodes))


def brute_force(
    graph: PlanGraph, number: type[Fraction] | type[float] = Fraction
) -> dict[frozenset[tuple[str, str]], Score]:
    """Every candidate path scored, by default in exact rational arithmetic."""
    options = [n.options() for n in graph.nodes]
    out = {}
    for combo in itertools.product(*options):
        finish: dict[str, Any] = {}
        success, usd, survival = number(1), number(0), number(1)
        for node, v in zip(graph.nodes, combo, strict=True):
            start = max((finish[d] for d in node.depends_on), default=number(0))
            finish[node.id] = start + number(v.latency_s)
            success *= number(v.success_proxy)
            usd += number(v.usd)
            survival *= 1 - number(v.risk)
        key = frozenset((n.id, v.name) for n, v in zip(graph.nodes, combo, strict=True))
        out[key] = (success, usd, 1 - survival, max(finish.values()))
    return out


def exact_front(scores: dict[frozenset[tuple[str, str]], Score]) -> set[frozenset[tuple[str, str]]]:
    keys = list(scores)
    points = [(-s, u, r, t) for s, u, r, t in (scores[k] for k in keys)]
    return {k for k, d in zip(keys, nondominated(points), strict=True) if d < 0}


@pytest.mark.parametrize("shape", ["chain", "layered"])
@pytest.mark.parametrize("seed", [1, 2])
def test_small_plans_get_the_exact_frontier(shape: str, seed: int) -> None:
    graph = random_plan(7, seed, shape, exact=True)
    result = plan_frontier(graph, ParetoConfig(max_states=100_000))
    assert result.exact and result.error_bound == 0.0
    scores = brute_force(graph)
    assert {frozenset(p.choices) for p in result.frontier} == exact_front(scores)
    for p in result.frontier:
        s, u, r, t = scores[frozenset(p.choices)]
        assert (p.score.success_proxy, p.score.usd, p.score.latency_s) == (s, u, t)
        assert p.score.risk == pytest.approx(float(r), abs=1e-12)
    assert result.candidate_space == 3.0**7
    assert result.partial_paths_built < 3**7  # pruned while building, not enumerated
    assert result.pruned > 0


@pytest.mark.parametrize("shape", ["chain", "layered"])
def test_a_coarsened_frontier_keeps_its_error_bound(shape: str) -> None:
    graph = random_plan(8, 5, shape)
    result = plan_frontier(graph, ParetoConfig(max_states=12, epsilon=0.01))
    assert not result.exact and result.error_bound > 0
    assert len(result.frontier) <= 12
    scores = brute_force(graph, float)
    bound = 1.0 + result.error_bound + 1e-9
    kept = [scores[frozenset(p.choices)] for p in result.frontier]
    for s, u, r, t in (scores[k] for k in exact_front(scores)):
        # Some frontier path is within the bound of every exact-frontier path on every score.
        assert any(
            float(s) <= float(ks) * bound
            and float(ku) <= float(u) * bound
            and float(kr) <= float(r) * bound
            and float(kt) <= float(t) * bound
            for ks, ku, kr, kt in kept
        )


def test_thirty_nodes_with_three_variants_never_enumerate_the_product() -> None:
    graph = random_plan(30, 7, "layered")
    config = ParetoConfig(max_states=256)
    result = plan_frontier(graph, config)
    assert result.candidate_space == 3.0**30
    assert result.partial_paths_built <= 30 * 3 * config.max_states
    assert 0 < len(result.frontier) <= config.max_states
    assert len(result.rejected) == ParetoConfig().record_limit
    assert all(r.path != r.dominated_by and len(r.path) == r.step for r in result.rejected)
    assert result.evidence["epsilon_final"] > 0 and math.isfinite(result.error_bound)


def test_the_same_plan_gives_the_same_frontier() -> None:
    graph = random_plan(12, 3, "layered")
    assert plan_frontier(graph, ParetoConfig()) == plan_frontier(graph, ParetoConfig())


def test_a_plan_without_variants_has_one_path() -> None:
    graph = PlanGraph((Node("a", "spec", latency_s=2), Node("b", "build", ("a",), latency_s=3)))
    result = plan_frontier(graph, ParetoConfig())
    assert [p.choices for p in result.frontier] == [(("a", "primary"), ("b", "primary"))]
    assert result.frontier[0].score.latency_s == 5.0 and result.pruned == 0


def test_bad_plans_and_settings_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="no nodes"):
        plan_frontier(PlanGraph(()), ParetoConfig())
    with pytest.raises(InvalidArgument, match="success_proxy is nan"):
        plan_frontier(
            PlanGraph((Node("a", "build", variants=(Variant("v", 1, 1, 1, 0, math.nan),)),)),
            ParetoConfig(),
        )
    with pytest.raises(InvalidArgument, match="max_states >= 1"):
        plan_frontier(random_plan(3, 1, "chain"), ParetoConfig(max_states=0))


OBJECTIVES = (
    Objective("success_proxy", True),
    Objective("usd", False),
    Objective("risk", False),
    Objective("latency_s", False),
)


def test_explicit_candidates_frontier_names_each_dominator() -> None:
    candidates = [
        Candidate("a", (0.9, 1.0, 0.1, 10.0)),
        Candidate("b", (0.8, 2.0, 0.2, 20.0)),  # a is better on everything
        Candidate("c", (0.95, 3.0, 0.1, 10.0)),  # better success, costlier: a trade-off
        Candidate("d", (0.9, 1.0, 0.1, 10.0)),  # equal to a: both stay
        Candidate("e", (0.95, 3.0, 0.1, 11.0)),  # c is as good and faster
    ]
    result = candidate_frontier(candidates, OBJECTIVES, record_limit=10)
    assert [c.id for c in result.frontier] == ["a", "c", "d"]
    assert result.pruned == 2
    assert [(r.id, r.dominated_by) for r in result.rejected] in (
        [("b", "a"), ("e", "c")],
        [("b", "d"), ("e", "c")],
    )
    assert candidate_frontier(candidates, OBJECTIVES, record_limit=1).rejected[0].id == "b"


def test_explicit_candidates_match_a_quadratic_check() -> None:
    rng = random.Random(11)
    candidates = [
        Candidate(f"c{i}", tuple(float(rng.randint(0, 6)) for _ in range(4))) for i in range(400)
    ]
    result = candidate_frontier(candidates, OBJECTIVES, record_limit=0)
    sign = (-1, 1, 1, 1)

    def dominates(a: Candidate, b: Candidate) -> bool:
        pa = [s * v for s, v in zip(sign, a.values, strict=True)]
        pb = [s * v for s, v in zip(sign, b.values, strict=True)]
        return all(x <= y for x, y in zip(pa, pb, strict=True)) and pa != pb

    expected = [c.id for c in candidates if not any(dominates(o, c) for o in candidates)]
    assert [c.id for c in result.frontier] == expected


@pytest.mark.parametrize(
    ("candidates", "objectives", "message"),
    [
        ([], OBJECTIVES, "candidate set is empty"),
        ([Candidate("a", (1.0,))], (), "no objectives"),
        ([Candidate("a", (1.0, 2.0, 3.0))], OBJECTIVES, "has 3 objective values, but there are 4"),
        ([Candidate("a", (1.0, math.nan, 0.0, 0.0))], OBJECTIVES, "NaN or infinite"),
        ([Candidate("a", (1.0,)), Candidate("a", (2.0,))], OBJECTIVES[:1], "repeated"),
        ([Candidate("a", (1.0,))], (Objective("x", True), Objective("x", False)), "unique"),
    ],
)
def test_bad_candidate_sets_are_refused_by_name(
    candidates: list[Candidate], objectives: tuple[Objective, ...], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        candidate_frontier(candidates, objectives, record_limit=5)
