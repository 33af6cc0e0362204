"""The scheduler against published results (HEFT's example graph), real workflows (WfCommons,
checked with networkx), and its own rules: budget shares, the anytime rule, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.graph import Node, PlanGraph, Variant, check_graph
from services.optimizer.domain.scheduler import (
    DEFAULT_PHASE_WEIGHTS,
    SCHEDULER_VERSION,
    Budget,
    SchedulerConfig,
    schedule,
)
from tests.optimizer.wfcommons import instances, load, networkx_critical_path

CONFIG = SchedulerConfig(DEFAULT_PHASE_WEIGHTS, top_k=3)

# Topcuoglu, Hariri & Wu (IEEE TPDS 2002), Fig. 2: the computation cost of tasks 1..10 on
# processors P1, P2, P3, and the communication cost of each edge.
HEFT_COSTS = {
    1: (14, 16, 9), 2: (13, 19, 18), 3: (11, 13, 19), 4: (13, 8, 17), 5: (12, 13, 10),
    6: (13, 16, 9), 7: (7, 15, 11), 8: (5, 11, 14), 9: (18, 12, 20), 10: (21, 7, 16),
}  # fmt: skip
HEFT_EDGES = {
    (1, 2): 18, (1, 3): 12, (1, 4): 9, (1, 5): 11, (1, 6): 14, (2, 8): 19, (2, 9): 16,
    (3, 7): 23, (4, 8): 27, (4, 9): 23, (5, 9): 13, (6, 8): 15, (7, 10): 17, (8, 10): 11,
    (9, 10): 13,
}  # fmt: skip
# The paper's table of upward ranks (Table 1, rank_u), three decimals as published.
HEFT_RANK_U = {
    1: 108.000, 2: 77.000, 3: 80.000, 4: 80.000, 5: 69.000,
    6: 63.333, 7: 42.667, 8: 35.667, 9: 44.333, 10: 14.667,
}  # fmt: skip


def heft_graph() -> PlanGraph:
    return PlanGraph(
        tuple(
            Node(
                id=f"n{t}",
                phase="build",
                depends_on=tuple(f"n{a}" for a, b in sorted(HEFT_EDGES) if b == t),
                latency_s=sum(costs) / len(costs),  # HEFT's average over the processors
            )
            for t, costs in HEFT_COSTS.items()
        )
    )


def test_upward_ranks_match_the_heft_paper() -> None:
    transfer = {(f"n{a}", f"n{b}"): float(c) for (a, b), c in HEFT_EDGES.items()}
    plan = schedule(heft_graph(), CONFIG, transfer_s=transfer, top_k=10)
    ranks = {p.node_id: p.upward_rank for p in plan.priorities}
    assert {t: round(ranks[f"n{t}"], 3) for t in HEFT_COSTS} == HEFT_RANK_U
    # The paper's scheduling order: n1, n3, n4, n2, n5, n6, n9, n7, n8, n10 (n3/n4 tie at 80).
    assert [p.node_id for p in plan.priorities] == [
        "n1", "n3", "n4", "n2", "n5", "n6", "n9", "n7", "n8", "n10"
    ]  # fmt: skip
    assert plan.critical_path == ("n1", "n2", "n9", "n10")
    assert plan.critical_path_latency_s == pytest.approx(108.0)


@pytest.mark.parametrize("path", instances(), ids=lambda p: Path(p).stem)
def test_critical_path_of_real_workflows_equals_networkx(path: Path) -> None:
    graph, runtime, edges = load(path)
    plan = schedule(graph, CONFIG)
    expected_length, _ = networkx_critical_path(runtime, edges)
    assert plan.critical_path_latency_s == pytest.approx(expected_length, rel=1e-12)
    # Our path is a real path of the graph whose runtimes add up to that length.
    hops = list(zip(plan.critical_path, plan.critical_path[1:], strict=False))
    assert all(hop in edges for hop in hops)
    assert math.fsum(runtime[n] for n in plan.critical_path) == pytest.approx(expected_length)
    # It starts at a source and ends at a sink.
    assert not any(b == plan.critical_path[0] for _, b in edges)
    assert not any(a == plan.critical_path[-1] for a, _ in edges)


@pytest.mark.parametrize("path", instances(), ids=lambda p: Path(p).stem)
def test_priorities_are_a_topological_order(path: Path) -> None:
    graph, _, edges = load(path)
    plan = schedule(graph, CONFIG)
    at = {p.node_id: k for k, p in enumerate(plan.priorities)}
    assert len(at) == len(graph.nodes)
    assert all(at[a] < at[b] for a, b in edges)


def test_zero_latency_ties_still_put_parents_first() -> None:
    graph = PlanGraph(
        (
            Node("z", "spec", latency_s=0.0),
            Node("b", "build", ("z",), latency_s=0.0),
            Node("a", "build", ("b",), latency_s=0.0),
        )
    )
    assert [p.node_id for p in schedule(graph, CONFIG).priorities] == ["z", "b", "a"]


def test_the_same_graph_gives_the_same_plan_whatever_its_node_order() -> None:
    graph = heft_graph()
    shuffled = PlanGraph(tuple(reversed(graph.nodes)))
    assert schedule(graph, CONFIG) == schedule(shuffled, CONFIG)


def plan_graph() -> PlanGraph:
    return PlanGraph(
        (
            Node("spec", "spec", latency_s=2, tokens=100, subgoal="g1"),
            Node("build", "build", ("spec",), latency_s=10, tokens=1000, usd=0.5, subgoal="g1"),
            Node("docs", "build", ("spec",), latency_s=3, tokens=300, subgoal="g2"),
            Node("verify", "verify", ("build",), latency_s=4, tokens=200, subgoal="g1"),
        )
    )


def test_budget_is_split_over_the_phases_the_plan_uses() -> None:
    plan = schedule(plan_graph(), CONFIG, Budget(tokens=1001, usd=2.0, seconds=0))
    table = {b.phase: b for b in plan.budget_allocation}
    assert list(table) == ["spec", "build", "verify"]  # no govern node: its weight is shared
    total = 0.15 + 0.5 + 0.25
    assert table["build"].share == pytest.approx(0.5 / total)
    assert sum(b.tokens for b in plan.budget_allocation) == 1001  # whole tokens, none lost
    assert table["build"].usd == pytest.approx(2.0 * 0.5 / total)
    assert all(b.seconds == 0 for b in plan.budget_allocation)  # unlimited stays unlimited
    assert table["build"].nodes == 2 and table["build"].estimated_tokens == 1300
    assert plan.scheduler_version == SCHEDULER_VERSION
    assert [p.node_id for p in plan.priorities_topk] == ["spec", "build", "verify"]
    assert plan.evidence["budget"] == {"tokens": 1001, "usd": 2.0, "seconds": 0}


def test_phase_weights_can_be_overridden_per_call() -> None:
    plan = schedule(plan_graph(), CONFIG, Budget(tokens=100), phase_weights={"build": 1.0})
    assert [(b.phase, b.tokens) for b in plan.budget_allocation] == [
        ("spec", 0), ("build", 100), ("verify", 0)
    ]  # fmt: skip


def test_anytime_names_the_best_partial_result() -> None:
    graph = plan_graph()
    nothing = schedule(graph, CONFIG).anytime
    assert nothing.node_id == "" and "no node has completed" in nothing.reason
    some = schedule(graph, CONFIG, completed=frozenset({"spec", "docs", "build"})).anytime
    # build and docs are both in the build phase; build finishes later on its critical path.
    assert (some.node_id, some.phase) == ("build", "build")
    assert some.completed_subgoals == ("g2",)
    done = schedule(graph, CONFIG, completed=frozenset({"spec", "build", "verify", "docs"}))
    assert done.anytime.node_id == "verify"
    assert done.anytime.completed_subgoals == ("g1", "g2")


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (PlanGraph(()), "no nodes"),
        (PlanGraph((Node("a", "build", ("b",)),)), "depends on 'b', which is not a node"),
        (
            PlanGraph(
                (Node("a", "build", ("c",)), Node("b", "build", ("a",)), Node("c", "build", ("b",)))
            ),
            "cycle: a -> b -> c -> a",
        ),
        (PlanGraph((Node("a", "build", ("a",)),)), "depends on itself"),
        (PlanGraph((Node("a", "build"), Node("a", "spec"))), "appears twice"),
        (PlanGraph((Node("a", "deploy"),)), "phase 'deploy'"),
        (PlanGraph((Node("a", "build", latency_s=-1),)), "latency_s is -1"),
        (PlanGraph((Node("a", "build", latency_s=math.nan),)), "latency_s is nan"),
        (PlanGraph((Node("a", "build", usd=math.inf),)), "usd is inf"),
        (PlanGraph((Node("a", "build", risk=1.5),)), "risk is 1.5"),
        (
            PlanGraph((Node("a", "build", variants=(Variant("primary", 1, 0, 0),)),)),
            "variant names",
        ),
        (
            PlanGraph((Node("a", "build", variants=(Variant("d", 1, -5, 0),)),)),
            "variant 'd': tokens is -5",
        ),
    ],
)
def test_bad_graphs_are_refused_by_name(graph: PlanGraph, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        schedule(graph, CONFIG)


def test_bad_budgets_weights_and_transfers_are_refused() -> None:
    graph = plan_graph()
    with pytest.raises(InvalidArgument, match="budget usd is -1"):
        schedule(graph, CONFIG, Budget(usd=-1))
    with pytest.raises(InvalidArgument, match="sum to 0"):
        schedule(graph, CONFIG, phase_weights={"govern": 1.0})
    with pytest.raises(InvalidArgument, match="phase weight 'build' is nan"):
        schedule(graph, CONFIG, phase_weights={"build": math.nan})
    with pytest.raises(InvalidArgument, match="'verify' -> 'spec' is not an edge"):
        schedule(graph, CONFIG, transfer_s={("verify", "spec"): 1.0})
    with pytest.raises(InvalidArgument, match="completed node 'nope'"):
        schedule(graph, CONFIG, completed=frozenset({"nope"}))
    with pytest.raises(InvalidArgument, match="top_k is -1"):
        schedule(graph, CONFIG, top_k=-1)


def test_check_graph_orders_topologically() -> None:
    dag = check_graph(plan_graph())
    assert dag.ids(dag.order) == ["spec", "build", "docs", "verify"]
