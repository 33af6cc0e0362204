"""GovernanceEngine: each rule fires and stays quiet, with its evidence and rejected alternatives."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from services.engine.domain.agents.base import DataIssue as DataIssueError
from services.engine.domain.agents.base import Failure, ToolIssue, Usage
from services.engine.domain.decisions import (
    BudgetState,
    Checkpoint,
    Conflict,
    Decision,
    NodeOutcome,
)
from services.engine.domain.failures import classify_exception
from services.engine.domain.governance import DEFAULT_RULES, GovernanceEngine, Rule
from services.engine.domain.plan import (
    Estimates,
    GovernanceSettings,
    PlanNode,
    RetryPolicy,
    Variant,
)

# -- builders -------------------------------------------------------------------------------


def variant(
    name: str, kind: str = "degraded", *, usd: float = 0.1, tokens: int = 100, sp: float = 1.0
) -> Variant:
    return Variant(name, kind, "python", {}, Estimates(1.0, tokens, usd), success_proxy=sp)


def node(
    node_id: str = "build",
    *,
    max_attempts: int = 1,
    backoff_s: float = 0.0,
    max_backoff_s: float = 60.0,
    variants: tuple[Variant, ...] = (),
) -> PlanNode:
    return PlanNode(
        node_id,
        "build",
        "python",
        {},
        estimates=Estimates(1.0, 1000, 1.0),
        retry=RetryPolicy(max_attempts, backoff_s, max_backoff_s),
        variants=variants,
    )


def budget(
    *,
    usd: float = 0.0,
    usd_limit: float | None = None,
    tokens: int = 0,
    tokens_limit: int | None = None,
    seconds: float = 0.0,
    seconds_limit: float | None = None,
) -> BudgetState:
    return BudgetState(tokens, usd, seconds, tokens_limit, usd_limit, seconds_limit)


def outcome(
    node_id: str = "build",
    *,
    status: str = "completed",
    attempt: int = 1,
    variant: str = "primary",
    failure: Failure | None = None,
    **kw: Any,
) -> NodeOutcome:
    return NodeOutcome(node_id, "build", status, attempt, variant, Usage(), failure=failure, **kw)


def failed(kind: str, message: str = "boom", **kw: Any) -> NodeOutcome:
    return outcome(status="failed", failure=Failure(kind, message, {"code": 7}), **kw)


def after(
    n: PlanNode,
    o: NodeOutcome,
    *,
    settings: GovernanceSettings | None = None,
    budget_state: BudgetState | None = None,
    claims: dict[str, dict[str, Any]] | None = None,
    tried: tuple[str, ...] = (),
    proposals: dict[str, Any] | None = None,
) -> Checkpoint:
    return Checkpoint(
        "after_node",
        budget_state or budget(),
        settings or GovernanceSettings(),
        "balanced",
        node=n,
        outcome=o,
        claims_by_node=claims or {},
        tried_variants=tried,
        proposals=proposals or {},
    )


def before(n: PlanNode | None, b: BudgetState, *, tried: tuple[str, ...] = ()) -> Checkpoint:
    return Checkpoint("budget", b, GovernanceSettings(), "balanced", node=n, tried_variants=tried)


def decide(cp: Checkpoint) -> Decision:
    return GovernanceEngine().evaluate(cp)


def rejected(d: Decision) -> dict[str, str]:
    return {r.action: r.why for r in d.alternatives_rejected}


# -- PolicyViolation ------------------------------------------------------------------------


def test_policy_violation_fails_as_spec_issue_with_the_violations() -> None:
    d = decide(after(node(), outcome(policy_violations=("wrote outside work_dir",))))
    assert (d.action, d.rule, d.rule_version, d.failure_type) == (
        "fail",
        "PolicyViolation",
        1,
        "spec_issue",
    )
    assert d.conditions_evidence["policy_violations"] == ["wrote outside work_dir"]
    assert set(rejected(d)) == {"retry", "degrade", "pause", "continue"}


def test_policy_violation_beats_retry() -> None:
    o = failed("tool_issue", policy_violations=("leaked a secret",))
    d = decide(after(node(max_attempts=3), o))
    assert (d.action, d.rule) == ("fail", "PolicyViolation")


# -- BudgetExceeded -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["after_node", "budget"])
def test_budget_exceeded_fails_as_cost_issue_with_every_dimension(kind: str) -> None:
    b = budget(usd=1.2, usd_limit=1.0, tokens=10, tokens_limit=100)
    cp = after(node(), outcome(), budget_state=b) if kind == "after_node" else before(None, b)
    d = decide(cp)
    assert (d.action, d.rule, d.failure_type) == ("fail", "BudgetExceeded", "cost_issue")
    assert d.conditions_evidence == {
        "exceeded": ["usd"],
        "tokens_used": 10,
        "tokens_limit": 100,
        "usd_used": 1.2,
        "usd_limit": 1.0,
        "seconds_used": 0.0,
        "seconds_limit": None,
    }
    assert "retry" in rejected(d)


def test_budget_exceeded_fires_at_exactly_the_limit_and_not_below_or_without_limit() -> None:
    assert decide(before(None, budget(tokens=100, tokens_limit=100))).rule == "BudgetExceeded"
    assert decide(before(None, budget(tokens=99, tokens_limit=100))).action == "continue"
    assert decide(before(None, budget(usd=50.0))).action == "continue"


def test_budget_exceeded_beats_verification_retry() -> None:
    cp = after(
        node(max_attempts=3),
        outcome(verified=False),
        budget_state=budget(seconds=9, seconds_limit=5),
    )
    assert decide(cp).rule == "BudgetExceeded"


# -- BudgetPressure -------------------------------------------------------------------------

PRESSED = budget(usd=0.85, usd_limit=1.0)


def test_budget_pressure_degrades_to_the_cheapest_untried_degraded_variant() -> None:
    n = node(
        variants=(
            variant("alt", "alternative", usd=0.01),
            variant("small", usd=0.5),
            variant("tiny", usd=0.2),
            variant("tiny2", usd=0.2),
        )
    )
    d = decide(before(n, PRESSED))
    assert (d.action, d.rule, d.variant) == ("degrade", "BudgetPressure", "tiny")
    ev = d.conditions_evidence
    assert ev["pressed"] == ["usd"] and ev["threshold"] == 0.8
    assert ev["fractions"] == {"usd": 0.85}
    assert ev["variant_estimates"] == {"usd": 0.2, "tokens": 100}
    assert set(rejected(d)) == {"continue", "fail", "pause"}


@pytest.mark.parametrize(
    ("n", "b", "tried"),
    [
        (node(variants=(variant("tiny"),)), budget(usd=0.5, usd_limit=1.0), ()),  # below threshold
        (node(variants=(variant("tiny"),)), PRESSED, ("tiny",)),  # already tried
        (node(variants=(variant("big", usd=2.0),)), PRESSED, ()),  # not cheaper
        (node(variants=(variant("alt", "alternative"),)), PRESSED, ()),  # not a degraded variant
        (node(), PRESSED, ()),  # no variants
    ],
)
def test_budget_pressure_does_not_fire(n: PlanNode, b: BudgetState, tried: tuple[str, ...]) -> None:
    assert decide(before(n, b, tried=tried)).action == "continue"


def test_budget_pressure_only_at_budget_checkpoints() -> None:
    n = node(variants=(variant("tiny"),))
    assert decide(after(n, outcome(), budget_state=PRESSED)).action == "continue"


# -- ConflictBetweenAgents ------------------------------------------------------------------

CLAIMS = {"build": {"status": "done"}, "alpha": {"status": "done"}, "lint": {"status": "ok"}}


def test_conflict_pauses_with_both_sides_and_picks_the_first_node_by_id() -> None:
    o = outcome("verify", claims={"status": "broken", "tests": 3})
    d = decide(after(node("verify"), o, claims=CLAIMS))
    assert (d.action, d.rule, d.failure_type) == ("pause", "ConflictBetweenAgents", "")
    assert d.conflict == Conflict("status", "alpha", "done", "verify", "broken")
    assert "'alpha'" in d.question and "'verify'" in d.question
    assert "'done'" in d.question and "'broken'" in d.question
    assert d.conditions_evidence["left_value"] == "done"
    assert d.conditions_evidence["right_value"] == "broken"
    assert "fail" in rejected(d)


def test_conflict_fails_when_the_plan_says_so() -> None:
    o = outcome("verify", claims={"status": "broken"})
    settings = GovernanceSettings(on_conflict="fail")
    d = decide(after(node("verify"), o, claims=CLAIMS, settings=settings))
    assert (d.action, d.failure_type, d.question) == ("fail", "execution_issue", "")
    assert d.conflict is not None and d.conflict.right_value == "broken"
    assert "pause" in rejected(d)


@pytest.mark.parametrize(
    "o",
    [
        outcome("verify", claims={"status": "done"}),  # agrees
        outcome("verify", claims={"other": 1}),  # nobody else claims it
        outcome("build", claims={"status": "rebuilt"}),  # its own earlier claims do not count
        outcome("verify", status="needs_input", claims={"status": "broken"}),  # not completed
    ],
)
def test_conflict_does_not_fire(o: NodeOutcome) -> None:
    claims = {"build": {"status": "done"}}
    assert decide(after(node(o.node_id), o, claims=claims)).rule != "ConflictBetweenAgents"


# -- VerificationFailed ---------------------------------------------------------------------


def test_verification_failed_retries_while_attempts_are_left() -> None:
    d = decide(after(node(max_attempts=3, backoff_s=1.5), outcome(verified=False, attempt=2)))
    assert (d.action, d.rule, d.retry_delay_s) == ("retry", "VerificationFailed", 3.0)
    assert d.conditions_evidence["attempt"] == 2 and d.conditions_evidence["verified"] is False


def test_verification_failed_degrades_then_fails() -> None:
    n = node(max_attempts=2, variants=(variant("slow", "alternative"),))
    d = decide(after(n, outcome(verified=False, attempt=2)))
    assert (d.action, d.variant) == ("degrade", "slow")
    assert rejected(d)["retry"] == "attempt 2 of max 2"
    d = decide(after(n, outcome(verified=False, attempt=2, variant="slow"), tried=("primary",)))
    assert (d.action, d.failure_type) == ("fail", "execution_issue")
    assert "tried: primary, slow" in rejected(d)["degrade"]


@pytest.mark.parametrize("verified", [None, True])
def test_verification_failed_does_not_fire(verified: bool | None) -> None:
    assert decide(after(node(max_attempts=3), outcome(verified=verified))).action == "continue"


# -- NeedsInput -----------------------------------------------------------------------------


def test_needs_input_pauses_with_the_nodes_question_and_fields() -> None:
    o = outcome(status="needs_input", output={"question": "Which region?", "fields": ["region"]})
    d = decide(after(node(), o))
    assert (d.action, d.rule, d.question) == ("pause", "NeedsInput", "Which region?")
    assert d.conditions_evidence == {"node_id": "build", "fields": ["region"]}


def test_needs_input_without_a_question_still_asks() -> None:
    d = decide(after(node(), outcome(status="needs_input")))
    assert d.action == "pause" and "'build'" in d.question


# -- DataIssue ------------------------------------------------------------------------------


def test_data_issue_pauses_for_data_and_rejects_retry() -> None:
    d = decide(after(node(max_attempts=3), failed("data_issue", "column 'id' is missing")))
    assert (d.action, d.rule, d.failure_type) == ("pause", "DataIssue", "data_issue")
    assert "'build'" in d.question and "column 'id' is missing" in d.question
    assert d.conditions_evidence["signals"] == {"code": 7}
    assert "won't fix bad data" in rejected(d)["retry"]


# -- SpecIssue ------------------------------------------------------------------------------


def test_spec_issue_fails_without_retrying() -> None:
    d = decide(after(node(max_attempts=3), failed("spec_issue")))
    assert (d.action, d.rule, d.failure_type) == ("fail", "SpecIssue", "spec_issue")
    assert rejected(d)["retry"] == "the same spec fails again"


def test_spec_issue_degrades_to_an_untried_variant() -> None:
    n = node(max_attempts=3, variants=(variant("v1", "alternative"), variant("v2")))
    d = decide(after(n, failed("spec_issue"), tried=("v1",)))
    assert (d.action, d.variant) == ("degrade", "v2")


# -- ToolError ------------------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "delay"), [(1, 2.0), (2, 4.0), (3, 8.0), (4, 10.0)])
def test_tool_error_retries_with_capped_exponential_backoff(attempt: int, delay: float) -> None:
    n = node(max_attempts=9, backoff_s=2.0, max_backoff_s=10.0)
    d = decide(after(n, failed("tool_issue", attempt=attempt)))
    assert (d.action, d.rule, d.retry_delay_s, d.failure_type) == (
        "retry",
        "ToolError",
        delay,
        "tool_issue",
    )
    assert d.conditions_evidence["backoff_s"] == 2.0


def test_tool_error_degrades_alternatives_first_in_declaration_order_never_a_tried_one() -> None:
    n = node(
        max_attempts=1,
        variants=(variant("d1"), variant("a1", "alternative"), variant("a2", "alternative")),
    )
    picks = [decide(after(n, failed("tool_issue"), tried=t)).variant for t in [(), ("a1",)]]
    assert picks == ["a1", "a2"]
    # The outcome's own variant counts as tried even when the engine did not list it.
    assert decide(after(n, failed("tool_issue", variant="a1"), tried=())).variant == "a2"
    assert decide(after(n, failed("tool_issue"), tried=("a1", "a2"))).variant == "d1"


def test_a_degrade_takes_the_pareto_proposal_when_it_is_a_candidate() -> None:
    n = node(max_attempts=1, variants=(variant("a1", "alternative"), variant("d1")))
    pareto = {"pareto": {n.id: "d1"}}
    d = decide(after(n, failed("tool_issue"), proposals=pareto))
    assert (d.action, d.variant) == ("degrade", "d1")
    assert d.conditions_evidence["pareto_proposal"] == "d1"
    # A proposal that is no candidate (tried, or unknown) changes nothing.
    assert decide(after(n, failed("tool_issue"), tried=("d1",), proposals=pareto)).variant == "a1"


@pytest.mark.parametrize("kind", ["tool_issue", "execution_issue", "cost_issue"])
def test_tool_error_fails_with_the_failure_kind_when_nothing_is_left(kind: str) -> None:
    n = node(max_attempts=3, variants=(variant("d1"),))
    d = decide(after(n, failed(kind, attempt=3), tried=("primary", "d1")))
    assert (d.action, d.rule, d.failure_type) == ("fail", "ToolError", kind)
    assert rejected(d)["retry"] == "attempt 3 of max 3"
    assert d.conditions_evidence["tried_variants"] == ["d1", "primary"]


@pytest.mark.parametrize("failure", [None, Failure("gremlins", "odd")])
def test_a_failure_without_a_known_kind_is_an_execution_issue(failure: Failure | None) -> None:
    d = decide(after(node(), outcome(status="failed", failure=failure)))
    assert (d.rule, d.action, d.failure_type) == ("ToolError", "fail", "execution_issue")


# -- LowSuccessProxy ------------------------------------------------------------------------


def test_low_success_proxy_degrades_to_the_untried_variant_promising_most() -> None:
    n = node(variants=(variant("v1", sp=0.6), variant("v2", sp=0.9), variant("v3", sp=0.95)))
    d = decide(after(n, outcome(success_proxy=0.3), tried=("v3",)))
    assert (d.action, d.rule, d.variant) == ("degrade", "LowSuccessProxy", "v2")
    assert d.conditions_evidence == {
        "node_id": "build",
        "success_proxy": 0.3,
        "threshold": 0.5,
        "variant_success_proxy": 0.9,
    }


def test_low_success_proxy_pauses_when_no_variant_promises_more() -> None:
    n = node(variants=(variant("v1", sp=0.2),))
    d = decide(after(n, outcome(success_proxy=0.3)))
    assert (d.action, d.rule) == ("pause", "LowSuccessProxy")
    assert "Accept" in d.question
    assert d.conditions_evidence == {"node_id": "build", "success_proxy": 0.3, "threshold": 0.5}
    assert "degrade" in rejected(d)


@pytest.mark.parametrize("sp", [None, 0.5, 0.9])
def test_low_success_proxy_does_not_fire(sp: float | None) -> None:
    assert decide(after(node(), outcome(success_proxy=sp))).action == "continue"


# -- DefaultContinue, ordering, custom rules ------------------------------------------------


def test_default_continue_names_every_rule_checked() -> None:
    d = decide(after(node(), outcome()))
    assert (d.action, d.rule, d.rule_version) == ("continue", "DefaultContinue", 1)
    assert d.conditions_evidence["rules_checked"] == [r.name for r in DEFAULT_RULES]
    assert set(rejected(d)) == {"retry", "degrade", "pause", "fail"}


def test_rule_order_is_the_documented_one() -> None:
    assert [r.name for r in DEFAULT_RULES] == [
        "PolicyViolation",
        "BudgetExceeded",
        "BudgetPressure",
        "ConflictBetweenAgents",
        "VerificationFailed",
        "NeedsInput",
        "DataIssue",
        "SpecIssue",
        "ToolError",
        "LowSuccessProxy",
    ]
    assert all(r.version == 1 for r in DEFAULT_RULES)


class AlwaysPause:
    name = "AlwaysPause"
    version = 7

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        return Decision("pause", self.name, self.version, "Always.")


def test_the_first_rule_that_decides_wins() -> None:
    rules: list[Rule] = [AlwaysPause(), *DEFAULT_RULES]
    d = GovernanceEngine(rules).evaluate(after(node(), failed("tool_issue")))
    assert (d.rule, d.rule_version) == ("AlwaysPause", 7)


# -- proposals, determinism, payloads -------------------------------------------------------

PROPOSAL = {"recovery": {"selected_policy": "fail_fast", "available_policies": ["retry"]}}


def test_a_recovery_proposal_is_evidence_only() -> None:
    d = decide(after(node(max_attempts=2), failed("tool_issue"), proposals=PROPOSAL))
    assert d.action == "retry"  # the proposal said fail_fast: the rule decides
    assert d.conditions_evidence["proposal"] == PROPOSAL["recovery"]
    assert (
        "proposal" not in decide(after(node(), outcome(), proposals=PROPOSAL)).conditions_evidence
    )


CHECKPOINTS = [
    after(node(), outcome(policy_violations=("p",))),
    before(None, budget(usd=2.0, usd_limit=1.0)),
    before(node(variants=(variant("tiny"),)), PRESSED),
    after(node("v"), outcome("v", claims={"s": [1, 2]}), claims={"b": {"s": {"x": 1}}}),
    after(node(max_attempts=2, backoff_s=0.5), outcome(verified=False), proposals=PROPOSAL),
    after(node(), outcome(status="needs_input", output={"question": "?", "fields": ["a"]})),
    after(node(), failed("data_issue"), proposals=PROPOSAL),
    after(node(variants=(variant("v1"),)), failed("spec_issue")),
    after(node(), failed("cost_issue")),
    after(node(), outcome(success_proxy=0.1)),
    after(node(), outcome()),
]


@pytest.mark.parametrize("cp", CHECKPOINTS)
def test_decisions_are_deterministic_and_serialize(cp: Checkpoint) -> None:
    first, second = decide(cp), GovernanceEngine().evaluate(cp)
    assert first == second
    payload = first.as_payload()
    assert json.loads(orjson.dumps(payload)) == payload
    assert first.reason.endswith((".", "?")) and first.reason[0].isupper()
    assert first.rule_version >= 1


def test_every_action_is_covered_by_the_checkpoints() -> None:
    assert {decide(cp).action for cp in CHECKPOINTS} == {
        "continue",
        "retry",
        "degrade",
        "pause",
        "fail",
    }


# -- classify_exception ---------------------------------------------------------------------


def _decode_error() -> BaseException:
    try:
        json.loads("{")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), "tool_issue"),
        (ConnectionRefusedError("refused"), "tool_issue"),
        (FileNotFoundError("in.csv"), "data_issue"),
        (ValueError("not a number"), "data_issue"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "data_issue"),
        (_decode_error(), "data_issue"),
        (KeyError("x"), "execution_issue"),
        (TypeError("bad"), "execution_issue"),
        (RuntimeError(), "execution_issue"),
    ],
)
def test_classify_exception_table(exc: BaseException, kind: str) -> None:
    f = classify_exception(exc)
    assert f.kind == kind
    assert f.signals["exception_type"] == type(exc).__name__
    assert f.message


def test_classify_exception_keeps_an_agent_failure_as_classified() -> None:
    f = classify_exception(ToolIssue("HTTP 503", signals={"status": 503}))
    assert f == Failure("tool_issue", "HTTP 503", {"status": 503})
    assert classify_exception(DataIssueError("empty file")).kind == "data_issue"
    assert classify_exception(TimeoutError("slow")).message == "timed out"
    assert classify_exception(RuntimeError()).signals["message"] == "RuntimeError"
