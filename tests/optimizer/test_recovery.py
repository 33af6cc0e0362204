"""Failure classification (each rule), the policy rule table (each rule), the shortest repair
path, and bad input."""

from __future__ import annotations

import math

import pytest

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.failures import RULES as CLASSIFIER_RULES
from services.optimizer.domain.failures import FailureSignals, classify
from services.optimizer.domain.graph import Node, PlanGraph, Variant
from services.optimizer.domain.recovery import (
    RECOVERY_POLICY_MAPPER_VERSION,
    RULES,
    RecoveryConfig,
    RecoveryInput,
    plan_recovery,
)

CONFIG = RecoveryConfig(max_upstream_reruns=1)


@pytest.mark.parametrize(
    ("signals", "kind", "rule"),
    [
        (FailureSignals("n", budget_fractions={"usd": 1.02, "tokens": 0.4}), "cost_issue",
         "budget_exhausted"),
        (FailureSignals("n", validation_errors=("age: not a number",)), "data_issue",
         "validation_errors"),
        (FailureSignals("n", http_status=503), "tool_issue", "http_status"),
        (FailureSignals("n", http_status=429), "tool_issue", "http_status"),
        (FailureSignals("n", http_status=401), "spec_issue", "http_status"),
        (FailureSignals("n", http_status=422), "data_issue", "http_status"),
        (FailureSignals("n", exit_code=127), "spec_issue", "exit_code"),
        (FailureSignals("n", exit_code=124), "tool_issue", "exit_code"),
        (FailureSignals("n", exit_code=137), "execution_issue", "exit_code"),
        (FailureSignals("n", exception_type="TimeoutError"), "tool_issue", "exception_type"),
        (FailureSignals("n", exception_type="KeyError"), "data_issue", "exception_type"),
        (FailureSignals("n", exception_type="ModuleNotFoundError"), "spec_issue",
         "exception_type"),
        (FailureSignals("n", exit_code=1, kind_hint="spec_issue"), "spec_issue",
         "agent_reported_kind"),
        (FailureSignals("n", exit_code=1), "execution_issue", "default_execution_issue"),
        # Order matters: an exhausted budget outranks the HTTP error it caused.
        (FailureSignals("n", http_status=500, budget_fractions={"seconds": 1.0}), "cost_issue",
         "budget_exhausted"),
    ],
)  # fmt: skip
def test_each_classifier_rule(signals: FailureSignals, kind: str, rule: str) -> None:
    c = classify(signals)
    assert (c.kind, c.rule) == (kind, rule)
    assert c.evidence  # every classification says what it rested on


def test_every_classifier_rule_is_exercised_above() -> None:
    assert [r.name for r in CLASSIFIER_RULES] == [
        "budget_exhausted", "validation_errors", "http_status", "exit_code", "exception_type",
        "agent_reported_kind", "default_execution_issue",
    ]  # fmt: skip


def graph() -> PlanGraph:
    """a -> b -> d, a -> c -> d, d -> e; d has two variants."""
    return PlanGraph(
        (
            Node("a", "spec", latency_s=1, tokens=10),
            Node("b", "build", ("a",), latency_s=2, tokens=20),
            Node("c", "build", ("a",), latency_s=3, tokens=30),
            Node(
                "d", "build", ("b", "c"), latency_s=4, tokens=400, usd=0.4,
                max_attempts=3, backoff_s=2.0, max_backoff_s=5.0,
                variants=(
                    Variant("cheap", 2, 100, 0.1, risk=0.3, success_proxy=0.7, kind="degraded"),
                    Variant("alt", 5, 500, 0.5, risk=0.1, success_proxy=0.9, kind="alternative"),
                ),
            ),
            Node("e", "verify", ("d",), latency_s=1, tokens=5),
        )
    )  # fmt: skip


DONE = {"a": "ha", "b": "hb", "c": "hc"}


def test_a_transient_failure_is_retried_with_the_nodes_backoff() -> None:
    plan = plan_recovery(
        RecoveryInput(graph(), FailureSignals("d", http_status=503, attempt=2), DONE), CONFIG
    )
    assert plan.recovery_policy_mapper_version == RECOVERY_POLICY_MAPPER_VERSION
    assert plan.failure_type == "tool_issue"
    sel = plan.selected_policy
    assert (sel.rule, sel.strategy, sel.delay_s) == ("retry_transient", "retry_with_backoff", 4.0)
    assert plan.affected_nodes == ("d",)
    assert [p.strategy for p in plan.available_policies] == [
        "retry_with_backoff", "switch_variant", "degrade"
    ]  # fmt: skip
    assert plan.evidence["classifier"]["rule"] == "http_status"


def test_the_backoff_is_capped() -> None:
    signals = FailureSignals("d", exception_type="TimeoutError", attempt=2)
    g = graph()
    nodes = list(g.nodes)
    nodes[3] = Node("d", "build", ("b", "c"), max_attempts=9, backoff_s=2.0, max_backoff_s=3.0)
    plan = plan_recovery(RecoveryInput(PlanGraph(tuple(nodes)), signals, DONE), CONFIG)
    assert plan.selected_policy.delay_s == 3.0


def test_attempts_used_up_switch_to_the_best_untried_variant() -> None:
    plan = plan_recovery(
        RecoveryInput(graph(), FailureSignals("d", exit_code=137, attempt=3), DONE), CONFIG
    )
    sel = plan.selected_policy
    assert (sel.rule, sel.variant) == ("switch_variant", "alt")  # success proxy 0.9 > 0.7
    assert (sel.estimated_tokens, sel.estimated_usd) == (500, 0.5)
    tried = FailureSignals(
        "d", exit_code=137, attempt=3, variant="alt", tried_variants=("primary", "alt")
    )
    again = plan_recovery(RecoveryInput(graph(), tried, DONE), CONFIG).selected_policy
    assert again.variant == "cheap"
    all_tried = FailureSignals("d", exit_code=137, attempt=3, tried_variants=("alt", "cheap"))
    last = plan_recovery(RecoveryInput(graph(), all_tried, DONE), CONFIG).selected_policy
    assert (last.rule, last.strategy, last.rerun) == ("stop_with_partial_result", "degrade", ())


def test_a_cost_issue_degrades_to_the_cheapest_variant() -> None:
    signals = FailureSignals("d", budget_fractions={"usd": 1.1})
    plan = plan_recovery(RecoveryInput(graph(), signals, DONE), CONFIG)
    assert plan.failure_type == "cost_issue"
    assert (plan.selected_policy.strategy, plan.selected_policy.variant) == ("degrade", "cheap")
    on_cheap = FailureSignals("d", budget_fractions={"usd": 1.1}, variant="cheap")
    again = plan_recovery(RecoveryInput(graph(), on_cheap, DONE), CONFIG).selected_policy
    assert again.rule == "stop_with_partial_result"  # nothing cheaper is left


def test_a_data_issue_reruns_the_producers_then_asks_the_user() -> None:
    signals = FailureSignals("d", validation_errors=("field x missing",))
    plan = plan_recovery(RecoveryInput(graph(), signals, DONE), CONFIG)
    sel = plan.selected_policy
    assert (sel.rule, sel.strategy) == ("rerun_upstream", "rerun_upstream")
    assert sel.rerun == ("b", "c", "d") and sel.reused == ("a",)
    assert sel.estimated_tokens == 20 + 30 + 400
    assert [p.strategy for p in plan.available_policies] == [
        "rerun_upstream", "ask_user_data", "degrade"
    ]  # fmt: skip
    exhausted = FailureSignals("d", validation_errors=("x",), upstream_reruns=1)
    plan = plan_recovery(RecoveryInput(graph(), exhausted, DONE), CONFIG)
    assert plan.selected_policy.strategy == "ask_user_data"


def test_the_repair_path_skips_nodes_whose_inputs_did_not_change() -> None:
    # Only c's inputs changed (say the user corrected a field only c reads): a and b are reused.
    signals = FailureSignals("d", validation_errors=("x",), upstream_reruns=5)
    plan = plan_recovery(
        RecoveryInput(graph(), signals, DONE, current_digests={"a": "ha", "b": "hb", "c": "new"}),
        CONFIG,
    )
    sel = plan.selected_policy
    assert sel.rerun == ("c", "d") and sel.reused == ("a", "b")
    assert plan.evidence["changed_inputs"] == ["c"]
    # a changed: everything downstream of it that completed is stale and re-runs.
    plan = plan_recovery(
        RecoveryInput(graph(), signals, DONE, current_digests={"a": "new"}), CONFIG
    )
    assert plan.selected_policy.rerun == ("a", "b", "c", "d")


def test_a_data_issue_at_a_source_asks_the_user() -> None:
    plan = plan_recovery(
        RecoveryInput(graph(), FailureSignals("a", exception_type="ValueError")), CONFIG
    )
    assert plan.selected_policy.strategy == "ask_user_data"


def test_a_spec_issue_asks_for_a_spec_change() -> None:
    plan = plan_recovery(RecoveryInput(graph(), FailureSignals("d", exit_code=127), DONE), CONFIG)
    assert (plan.failure_type, plan.selected_policy.strategy) == ("spec_issue", "ask_user_spec")


def test_every_policy_rule_is_exercised_above() -> None:
    assert [r.name for r in RULES] == [
        "retry_transient", "switch_variant", "degrade_to_cheaper_variant", "rerun_upstream",
        "ask_user_for_data", "ask_user_for_spec_change", "stop_with_partial_result",
    ]  # fmt: skip


def test_the_same_input_gives_the_same_plan() -> None:
    signals = FailureSignals("d", validation_errors=("x",))
    a = plan_recovery(RecoveryInput(graph(), signals, dict(DONE)), CONFIG)
    b = plan_recovery(RecoveryInput(graph(), signals, dict(reversed(DONE.items()))), CONFIG)
    assert a == b


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (RecoveryInput(graph(), FailureSignals("zz")), "failed node 'zz' is not a node"),
        (RecoveryInput(graph(), FailureSignals("")), "node_id is empty"),
        (RecoveryInput(graph(), FailureSignals("d", kind_hint="oops")), "kind hint 'oops'"),
        (RecoveryInput(graph(), FailureSignals("d", http_status=999)), "http_status 999"),
        (RecoveryInput(graph(), FailureSignals("d", attempt=0)), "attempt is 0"),
        (RecoveryInput(graph(), FailureSignals("d", budget_fractions={"usd": math.nan})),
         "budget fraction 'usd' is nan"),
        (RecoveryInput(graph(), FailureSignals("d", variant="turbo")), "variant 'turbo'"),
        (RecoveryInput(graph(), FailureSignals("d"), {"d": "x"}), "both as failed and as"),
        (RecoveryInput(graph(), FailureSignals("d"), {"q": "x"}), "completed node 'q'"),
        (RecoveryInput(graph(), FailureSignals("d"), {}, {"a": "x"}), "not completed"),
        (RecoveryInput(PlanGraph(()), FailureSignals("d")), "no nodes"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_by_name(request_: RecoveryInput, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        plan_recovery(request_, CONFIG)
