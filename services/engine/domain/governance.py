"""The GovernanceEngine: an ordered list of small rules decides what happens at each checkpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any, Protocol

from services.engine.domain.agents.base import FAILURE_KINDS, Failure
from services.engine.domain.decisions import Checkpoint, Conflict, Decision, NodeOutcome, Rejected
from services.engine.domain.plan import PlanNode, Variant

# Degrade prefers an alternative (another way to do the same job) over a degraded variant (a
# cheaper, weaker one); within a kind, the plan's declaration order.
_DEGRADE_KINDS = ("alternative", "degraded")


class Rule(Protocol):
    """One governance rule: a `Decision` when it applies to the checkpoint, else None."""

    name: str
    version: int

    def evaluate(self, cp: Checkpoint) -> Decision | None: ...


class _RuleBase:
    name = ""
    version = 1

    def _decide(
        self,
        action: str,
        reason: str,
        evidence: Mapping[str, Any],
        rejected: Sequence[Rejected],
        **extra: Any,
    ) -> Decision:
        return Decision(
            action=action,
            rule=self.name,
            rule_version=self.version,
            reason=reason,
            conditions_evidence=dict(evidence),
            alternatives_rejected=tuple(rejected),
            **extra,
        )


def _after_node(cp: Checkpoint) -> tuple[PlanNode, NodeOutcome] | None:
    if cp.node is None or cp.outcome is None:
        return None
    return cp.node, cp.outcome


def _failure(outcome: NodeOutcome) -> Failure | None:
    """The failure of a failed outcome, with unknown kinds and a missing record read as
    execution issues so that `ToolError` still handles them."""
    if outcome.status != "failed":
        return None
    f = outcome.failure
    if f is None:
        return Failure("execution_issue", "the node failed without a failure record")
    return f if f.kind in FAILURE_KINDS else Failure("execution_issue", f.message, f.signals)


def _failed(cp: Checkpoint, kinds: tuple[str, ...]) -> tuple[PlanNode, NodeOutcome, Failure] | None:
    """The node, outcome and failure when the checkpoint's node failed with one of `kinds`."""
    if cp.node is None or cp.outcome is None:
        return None
    f = _failure(cp.outcome)
    return (cp.node, cp.outcome, f) if f is not None and f.kind in kinds else None


def _facts(f: Failure) -> dict[str, Any]:
    return {"failure_kind": f.kind, "message": f.message, "signals": dict(f.signals)}


def _failure_evidence(cp: Checkpoint, **values: Any) -> dict[str, Any]:
    """Evidence of a failure-handling decision; the optimizer's recovery proposal rides along as
    evidence only: the rules decide (SPEC invariants 5 and 6)."""
    recovery = cp.proposals.get("recovery")
    if recovery is not None:
        values["proposal"] = dict(recovery) if isinstance(recovery, Mapping) else recovery
    return values


def _untried(cp: Checkpoint, node: PlanNode, kinds: tuple[str, ...]) -> list[Variant]:
    """Variants of `kinds` never run on this node, in preference order: degrade never loops."""
    tried = set(cp.tried_variants)
    if cp.outcome is not None:
        tried.add(cp.outcome.variant or "primary")
    fresh = [v for v in node.variants if v.kind in kinds and v.name not in tried]
    return sorted(fresh, key=lambda v: kinds.index(v.kind))  # stable: keeps declaration order


def _backoff_s(node: PlanNode, attempt: int) -> float:
    r = node.retry
    return min(r.backoff_s * 2.0 ** (max(attempt, 1) - 1), r.max_backoff_s)


def _ladder(
    rule: _RuleBase,
    cp: Checkpoint,
    node: PlanNode,
    outcome: NodeOutcome,
    what: str,
    failure_type: str,
    facts: Mapping[str, Any],
    no_retry_why: str = "",
) -> Decision:
    """Retry while attempts are left (unless `no_retry_why`), then degrade to the first untried
    variant, then fail."""
    attempts = f"attempt {outcome.attempt} of max {node.retry.max_attempts}"
    evidence = _failure_evidence(cp, node_id=node.id, variant=outcome.variant, **facts)
    evidence |= {"attempt": outcome.attempt, "max_attempts": node.retry.max_attempts}
    if not no_retry_why and outcome.attempt < node.retry.max_attempts:
        delay = _backoff_s(node, outcome.attempt)
        evidence |= {"backoff_s": node.retry.backoff_s, "max_backoff_s": node.retry.max_backoff_s}
        return rule._decide(
            "retry",
            f"{what}; retrying after {delay:g} s ({attempts}).",
            evidence,
            [
                Rejected("degrade", f"attempts are left on the current variant ({attempts})"),
                Rejected("fail", f"attempts are left ({attempts})"),
                Rejected("continue", what),
            ],
            retry_delay_s=delay,
            failure_type=failure_type,
        )
    retry_rejected = Rejected("retry", no_retry_why or attempts)
    tried = sorted(set(cp.tried_variants) | {outcome.variant or "primary"})
    evidence["tried_variants"] = tried
    untried = _untried(cp, node, _DEGRADE_KINDS)
    # The optimizer's Pareto choice for this node, when it is one of the candidates, goes
    # first: a proposal this rule accepts, recorded as evidence.
    pareto = cp.proposals.get("pareto")
    proposed = pareto.get(node.id) if isinstance(pareto, Mapping) else None
    if proposed:
        evidence["pareto_proposal"] = proposed
        untried.sort(key=lambda v: v.name != proposed)
    if untried:
        v = untried[0]
        return rule._decide(
            "degrade",
            f"{what}; switching to {v.kind} variant {v.name!r}.",
            evidence,
            [
                retry_rejected,
                Rejected("fail", f"{v.kind} variant {v.name!r} is untried"),
                Rejected("continue", what),
            ],
            variant=v.name,
            failure_type=failure_type,
        )
    return rule._decide(
        "fail",
        f"{what}; no attempt or variant is left.",
        evidence,
        [
            retry_rejected,
            Rejected("degrade", f"no untried variant (tried: {', '.join(tried)})"),
            Rejected("continue", what),
        ],
        failure_type=failure_type,
    )


class PolicyViolation(_RuleBase):
    """A node's output broke a policy: fail; no retry or variant makes the output acceptable."""

    name = "PolicyViolation"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        outcome = cp.outcome
        if outcome is None or not outcome.policy_violations:
            return None
        violations = list(outcome.policy_violations)
        return self._decide(
            "fail",
            f"Node {outcome.node_id!r} violated policy: {'; '.join(violations)}.",
            _failure_evidence(cp, node_id=outcome.node_id, policy_violations=violations),
            [
                Rejected("retry", "the same spec would violate the same policy again"),
                Rejected("degrade", "a policy binds every variant of the node"),
                Rejected("pause", "a policy violation is not the user's to waive"),
                Rejected("continue", "a violating output is never passed downstream"),
            ],
            failure_type="spec_issue",
        )


def _budget_dimensions(cp: Checkpoint) -> tuple[tuple[str, float, float | None], ...]:
    b = cp.budget
    return (
        ("tokens", b.tokens_used, b.tokens_limit),
        ("usd", b.usd_used, b.usd_limit),
        ("seconds", b.seconds_used, b.seconds_limit),
    )


class BudgetExceeded(_RuleBase):
    """Any budget dimension used up (used >= limit): fail as a cost issue. A limit of 0 or None
    is no limit, as in `BudgetState.fractions()`."""

    name = "BudgetExceeded"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        dims = _budget_dimensions(cp)
        over = [(d, used, limit) for d, used, limit in dims if limit and used >= limit]
        if not over:
            return None
        evidence = _failure_evidence(cp, exceeded=[d for d, _, _ in over])
        for d, used, limit in dims:
            evidence |= {f"{d}_used": used, f"{d}_limit": limit}
        spent = ", ".join(f"{d} {used:g} of {limit:g}" for d, used, limit in over)
        return self._decide(
            "fail",
            f"The task's budget is exceeded ({spent}).",
            evidence,
            [
                Rejected("retry", f"the budget is spent ({spent}): another attempt spends more"),
                Rejected("degrade", "even a cheaper variant needs budget, and none is left"),
                Rejected("pause", "the budget is the task's hard limit, not a question"),
                Rejected("continue", f"used >= limit ({spent})"),
            ],
            failure_type="cost_issue",
        )


def _cheaper(v: Variant, primary: Variant) -> bool:
    a, b = v.estimates, primary.estimates
    return a.usd <= b.usd and a.tokens <= b.tokens and (a.usd < b.usd or a.tokens < b.tokens)


class BudgetPressure(_RuleBase):
    """Before a node starts, with a budget fraction at or past the plan's degrade threshold:
    degrade to the cheapest untried degraded variant cheaper than the primary (usd, then tokens;
    ties in declaration order)."""

    name = "BudgetPressure"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        node = cp.node
        if cp.kind != "budget" or node is None:
            return None
        threshold = cp.settings.degrade_at_budget_fraction
        fractions = cp.budget.fractions()
        pressed = sorted(d for d, f in fractions.items() if f >= threshold)
        primary = node.primary()
        cheaper = [v for v in _untried(cp, node, ("degraded",)) if _cheaper(v, primary)]
        if not pressed or not cheaper:
            return None
        v = min(cheaper, key=lambda v: (v.estimates.usd, v.estimates.tokens))
        evidence = {
            "node_id": node.id,
            "fractions": fractions,
            "threshold": threshold,
            "pressed": pressed,
            "primary_estimates": {"usd": primary.estimates.usd, "tokens": primary.estimates.tokens},
            "variant_estimates": {"usd": v.estimates.usd, "tokens": v.estimates.tokens},
        }
        used = ", ".join(f"{d} {fractions[d]:.0%}" for d in pressed)
        return self._decide(
            "degrade",
            f"Budget use ({used}) is at or past {threshold:.0%}, so node {node.id!r} runs its "
            f"cheaper variant {v.name!r}.",
            evidence,
            [
                Rejected(
                    "continue", f"budget use {used} >= {threshold:.0%}: the primary costs more"
                ),
                Rejected("fail", "no budget dimension is exceeded yet"),
                Rejected("pause", f"the plan declares a cheaper variant ({v.name!r})"),
            ],
            variant=v.name,
        )


def _find_conflict(
    outcome: NodeOutcome, claims_by_node: Mapping[str, Mapping[str, Any]]
) -> Conflict | None:
    """The first disagreement on this node's claims: claims by name, other nodes by id."""
    for claim in sorted(outcome.claims):
        mine = outcome.claims[claim]
        for other in sorted(claims_by_node):
            theirs = claims_by_node[other]
            if other != outcome.node_id and claim in theirs and theirs[claim] != mine:
                return Conflict(claim, other, theirs[claim], outcome.node_id, mine)
    return None


class ConflictBetweenAgents(_RuleBase):
    """A completed node claims something another node claimed differently: pause or fail, as the
    plan's `on_conflict` says, with both sides in the decision's `conflict`."""

    name = "ConflictBetweenAgents"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        outcome = cp.outcome
        if outcome is None or outcome.status != "completed":
            return None
        c = _find_conflict(outcome, cp.claims_by_node)
        if c is None:
            return None
        on_conflict = cp.settings.on_conflict
        evidence = asdict(c) | {"on_conflict": on_conflict}
        sides = (
            f"node {c.left_node!r} claims {c.claim}={c.left_value!r} but node {c.right_node!r} "
            f"claims {c.claim}={c.right_value!r}"
        )
        fail = on_conflict == "fail"
        return self._decide(
            "fail" if fail else "pause",
            f"Agents disagree: {sides}.",
            evidence,
            [
                Rejected("continue", f"nodes disagree on {c.claim!r}"),
                Rejected("retry", "re-running one side does not settle which side is right"),
                Rejected("pause" if fail else "fail", f"the plan's on_conflict is {on_conflict!r}"),
            ],
            conflict=c,
            failure_type="execution_issue" if fail else "",
            question="" if fail else f"The agents disagree: {sides}. Which is right?",
        )


class VerificationFailed(_RuleBase):
    """A verification did not pass: retry, then degrade, then fail."""

    name = "VerificationFailed"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        pair = _after_node(cp)
        if pair is None or pair[1].verified is not False:
            return None
        node, outcome = pair
        what = f"Verification by node {node.id!r} failed"
        return _ladder(self, cp, node, outcome, what, "execution_issue", {"verified": False})


class NeedsInput(_RuleBase):
    """A node asked the user for input: pause. By convention the engine puts the node's
    `InputRequest` in the outcome's output as `output["question"]` (a string) and
    `output["fields"]` (a list of field names)."""

    name = "NeedsInput"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        outcome = cp.outcome
        if outcome is None or outcome.status != "needs_input":
            return None
        question = outcome.output.get("question")
        if not isinstance(question, str) or not question:
            question = f"Node {outcome.node_id!r} needs input to go on."
        raw = outcome.output.get("fields")
        fields = [str(f) for f in raw] if isinstance(raw, list | tuple) else []
        return self._decide(
            "pause",
            f"Node {outcome.node_id!r} asks the user for input ({', '.join(fields) or 'no fields'}).",
            {"node_id": outcome.node_id, "fields": fields},
            [
                Rejected("continue", f"node {outcome.node_id!r} cannot finish without the answer"),
                Rejected("retry", "a re-run would ask the same question"),
                Rejected("fail", "the user can answer"),
            ],
            question=question,
        )


class DataIssue(_RuleBase):
    """A node failed on its data: pause and ask the user for corrected data."""

    name = "DataIssue"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        failed = _failed(cp, ("data_issue",))
        if failed is None:
            return None
        node, outcome, f = failed
        return self._decide(
            "pause",
            f"Node {node.id!r} failed on its data, so the user is asked for corrected data.",
            _failure_evidence(cp, node_id=node.id, variant=outcome.variant, **_facts(f)),
            [
                Rejected("retry", "retrying won't fix bad data: the same data fails the same way"),
                Rejected("degrade", "every variant of the node reads the same data"),
                Rejected("fail", "the user can supply corrected data"),
                Rejected("continue", f"node {node.id!r} failed"),
            ],
            failure_type="data_issue",
            question=f"Node {node.id!r} could not use its data ({f.message}): "
            "please supply corrected input.",
        )


class SpecIssue(_RuleBase):
    """A node failed on its spec: degrade to an untried variant if any, else fail; never retry."""

    name = "SpecIssue"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        failed = _failed(cp, ("spec_issue",))
        if failed is None:
            return None
        node, outcome, f = failed
        what = f"Node {node.id!r} failed on its spec ({f.message})"
        no_retry = "the same spec fails again"
        return _ladder(self, cp, node, outcome, what, f.kind, _facts(f), no_retry_why=no_retry)


class ToolError(_RuleBase):
    """A tool, execution or cost failure: retry with exponential backoff, then degrade, then fail."""

    name = "ToolError"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        failed = _failed(cp, ("tool_issue", "execution_issue", "cost_issue"))
        if failed is None:
            return None
        node, outcome, f = failed
        what = f"Node {node.id!r} failed with a {f.kind.replace('_', ' ')} ({f.message})"
        return _ladder(self, cp, node, outcome, what, f.kind, _facts(f))


class LowSuccessProxy(_RuleBase):
    """A node completed below the plan's success-proxy threshold: degrade to the untried variant
    promising the most (if above what was measured), else pause to ask the user to accept."""

    name = "LowSuccessProxy"

    def evaluate(self, cp: Checkpoint) -> Decision | None:
        pair = _after_node(cp)
        if pair is None:
            return None
        node, outcome = pair
        sp, threshold = outcome.success_proxy, cp.settings.min_success_proxy
        if outcome.status != "completed" or sp is None or sp >= threshold:
            return None
        evidence: dict[str, Any] = {"node_id": node.id, "success_proxy": sp, "threshold": threshold}
        below = f"success proxy {sp:g} < threshold {threshold:g}"
        better = [v for v in _untried(cp, node, _DEGRADE_KINDS) if v.success_proxy > sp]
        if better:
            v = max(better, key=lambda v: v.success_proxy)  # first of the best: preference order
            evidence["variant_success_proxy"] = v.success_proxy
            return self._decide(
                "degrade",
                f"Node {node.id!r} scored {below}; switching to variant {v.name!r}.",
                evidence,
                [
                    Rejected("continue", below),
                    Rejected("retry", "a retry runs the same variant again"),
                    Rejected("pause", f"variant {v.name!r} promises {v.success_proxy:g}"),
                    Rejected("fail", "the node produced an output"),
                ],
                variant=v.name,
            )
        return self._decide(
            "pause",
            f"Node {node.id!r} scored {below} and no untried variant promises more.",
            evidence,
            [
                Rejected("continue", below),
                Rejected("degrade", f"no untried variant promises more than {sp:g}"),
                Rejected("retry", "a retry runs the same variant again"),
                Rejected("fail", "the node produced an output the user may accept"),
            ],
            question=f"Node {node.id!r} finished with {below}. Accept its result?",
        )


class DefaultContinue(_RuleBase):
    """The last word when no rule fired: continue, naming the rules that were checked."""

    name = "DefaultContinue"

    def __init__(self, checked: Sequence[str] = ()) -> None:
        self.checked = tuple(checked)

    def evaluate(self, cp: Checkpoint) -> Decision:
        return self._decide(
            "continue",
            "No governance rule fired.",
            {"checkpoint": cp.kind, "rules_checked": list(self.checked)},
            [
                Rejected(action, f"no rule asked to {action}")
                for action in ("retry", "degrade", "pause", "fail")
            ],
        )


DEFAULT_RULES: tuple[Rule, ...] = (
    PolicyViolation(),
    BudgetExceeded(),
    BudgetPressure(),
    ConflictBetweenAgents(),
    VerificationFailed(),
    NeedsInput(),
    DataIssue(),
    SpecIssue(),
    ToolError(),
    LowSuccessProxy(),
)


class GovernanceEngine:
    """Evaluates the rules in order; the first `Decision` wins, else `DefaultContinue`'s."""

    def __init__(self, rules: Sequence[Rule] = DEFAULT_RULES) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._default = DefaultContinue([r.name for r in self.rules])

    def evaluate(self, cp: Checkpoint) -> Decision:
        for rule in self.rules:
            decision = rule.evaluate(cp)
            if decision is not None:
                return decision
        return self._default.evaluate(cp)
