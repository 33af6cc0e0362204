"""Goal satisfaction (SPEC 3.1): whether a task's goal is DONE, PARTIAL or NOT_DONE, each
sub-goal's requirements with the events that show them, and what the user should do next.

The rules, in order:
- A sub-goal's requirements are: each of its nodes completed (an outcome counts once governance
  let it stand, as `RunView` reads it), then each of its plan `checks` (plan.v1: `verified`,
  `claim` or `output`, optionally `equals`), tested on the node's last recorded outcome; a
  check also fails when that node did not complete.
- A sub-goal is DONE when every requirement passes, NOT_DONE when none does or it has none
  (nothing shows it is done), else PARTIAL. The goal is DONE when every sub-goal is, NOT_DONE
  when every sub-goal is, else PARTIAL. This is independent of the task's state: a COMPLETED
  task with a failed check is PARTIAL; a FAILED task whose first sub-goals were met is PARTIAL.
- A plan without sub-goals has one implicit sub-goal, `plan`: every node completed. In a plan
  with sub-goals, nodes that serve none are not part of the goal.
- An `output` check cannot see an output the engine did not put in the event (over 4 KiB: the
  event holds `{"truncated": true}`); it fails and says so rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from agentledger.core.errors import InvalidArgument
from services.engine.domain.plan import GoalCheck, Plan, SubGoal
from services.product.domain.evidence import Evidence, RunTrace
from services.product.domain.runview import DecisionRecord, NodeRun

IMPLICIT_SUBGOAL = "plan"
NO_FIGURES: Mapping[str, float] = MappingProxyType({})
# What each next action asks of the user; `field` names the input, budget or claim concerned.
NEXT_ACTION_KINDS = {
    "supply_input": "answer the waiting task's question: resume it with `field`",
    "fix_data": "supply corrected data as input `field` (a data question may offer several "
    "fields; any one answers it)",
    "review_conflict": "decide which side of the agents' disagreement on claim `field` is right",
    "accept_result": "accept (resume) or reject (cancel) a result governance doubted",
    "resume": "resume the task the user paused",
    "raise_budget": "run again with a larger budget `field` (budget.tokens, .usd or .seconds)",
    "fix_spec": "fix what the failure names in the plan or the engine's settings, then retry",
    "review_failure": "read what the failed node reports (a run or a verification that "
    "failed), fix its cause, then retry",
    "retry": "retry the task: a tool failure (a service or binary unavailable) may be transient",
    "change_input": "run again with another value of input `field`, which the plan says fixes "
    "a failed check",
    "review_result": "the task completed but a sub-goal is not done: read its evidence",
}
_PAUSE_KINDS = {
    "NeedsInput": "supply_input",
    "DataIssue": "fix_data",
    "ConflictBetweenAgents": "review_conflict",
    "LowSuccessProxy": "accept_result",
}


class GoalStatus(StrEnum):
    DONE = "DONE"
    PARTIAL = "PARTIAL"
    NOT_DONE = "NOT_DONE"


class Requirement(NamedTuple):
    """One thing a sub-goal needs, and whether the run shows it (one per node and check)."""

    what: str  # "node 'clean' completed", or the check as the plan declares it
    passed: bool
    observed: str  # what the run shows, e.g. "it is 3"
    evidence: tuple[Evidence, ...]
    figures: Mapping[str, float]  # numbers observed, by their path in evidence[0]'s payload
    fix_with: str = ""


@dataclass(frozen=True, slots=True)
class SubgoalResult:
    subgoal: str
    description: str
    status: GoalStatus
    requirements: tuple[Requirement, ...]

    @property
    def missing(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if not r.passed)


@dataclass(frozen=True, slots=True)
class NextAction:
    kind: str  # a key of NEXT_ACTION_KINDS
    field: str  # the input, budget dimension or claim the user acts on; "" when none applies
    why: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class GoalReport:
    status: GoalStatus
    task_state: str
    breakdown: tuple[SubgoalResult, ...]
    missing_requirements: tuple[str, ...]
    next_actions: tuple[NextAction, ...]

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values: what the product records and the API returns."""

        def ev(items: Iterable[Evidence]) -> list[dict[str, Any]]:
            return [e._asdict() | {"blob_ids": list(e.blob_ids)} for e in items]

        breakdown = [
            {
                "subgoal": s.subgoal,
                "description": s.description,
                "status": s.status.value,
                "requirements": [
                    {
                        "what": r.what,
                        "passed": r.passed,
                        "observed": r.observed,
                        "evidence": ev(r.evidence),
                    }
                    for r in s.requirements
                ],
            }
            for s in self.breakdown
        ]
        actions = [
            {"kind": a.kind, "field": a.field, "why": a.why, "evidence": ev(a.evidence)}
            for a in self.next_actions
        ]
        return {
            "goal_status": self.status.value,
            "task_state": self.task_state,
            "completion_breakdown": breakdown,
            "missing_requirements": list(self.missing_requirements),
            "next_actions": actions,
        }


def evaluate(plan: Plan, trace: RunTrace) -> GoalReport:
    """The goal status of the task `trace` recorded, which ran `plan`."""
    v = trace.view
    if v.plan_id and (v.plan_id, v.plan_version) != (plan.id, str(plan.version)):
        raise InvalidArgument(
            f"task {v.task_id} ran plan {v.plan_id}@{v.plan_version}, not {plan.ref};"
            " pass the plan version the task ran"
        )
    goals = plan.subgoals or (
        SubGoal(
            IMPLICIT_SUBGOAL, "Every node of the plan completed.", tuple(n.id for n in plan.nodes)
        ),
    )
    breakdown = tuple(_subgoal(g, trace) for g in goals)
    statuses = {s.status for s in breakdown}
    status = (
        next(iter(statuses))
        if len(statuses) == 1 and GoalStatus.PARTIAL not in statuses
        else GoalStatus.PARTIAL
    )
    missing = tuple(
        f"{s.subgoal}: {r.what} ({r.observed})" for s in breakdown for r in s.missing
    ) + tuple(
        f"{s.subgoal}: no node or check shows it is done" for s in breakdown if not s.requirements
    )
    return GoalReport(
        status, trace.state, breakdown, missing, _next_actions(plan, trace, breakdown)
    )


def _subgoal(goal: SubGoal, trace: RunTrace) -> SubgoalResult:
    reqs = [_completed(node_id, trace) for node_id in goal.nodes]
    reqs += [_check(c, trace) for c in goal.checks]
    passed = sum(r.passed for r in reqs)
    status = (
        GoalStatus.DONE
        if reqs and passed == len(reqs)
        else GoalStatus.PARTIAL
        if passed
        else GoalStatus.NOT_DONE
    )
    return SubgoalResult(goal.id, goal.description, status, tuple(reqs))


def _completed(node_id: str, trace: RunTrace) -> Requirement:
    run = trace.view.nodes.get(node_id)
    what = f"node {node_id!r} completed"
    evidence = tuple(trace.outcome_evidence(node_id))
    if run is None or run.status == "not_run":
        return Requirement(what, False, "it never ran", evidence, NO_FIGURES)
    return Requirement(what, run.status == "completed", _status_text(run), evidence, NO_FIGURES)


def _status_text(run: NodeRun) -> str:
    if run.status == "completed":
        return "it completed"
    failure = f": {run.failure_kind}: {run.failure_message}" if run.failure_kind else ""
    return f"it is {run.status}{failure}"


def _check(check: GoalCheck, trace: RunTrace) -> Requirement:
    """A check on the node's last outcome. `fix_with` is offered only when the outcome was
    read and found wrong: no input change is known to make a node run or record a field."""
    what, run = check.describe(), trace.view.nodes.get(check.node)
    evidence = tuple(trace.outcome_evidence(check.node, artifacts=True))
    last = trace.last_outcome(check.node)
    if run is None or not last:
        return Requirement(what, False, f"node {check.node!r} never ran", evidence, NO_FIGURES)
    if run.status != "completed":
        return Requirement(
            what, False, f"node {check.node!r}: {_status_text(run)}", evidence, NO_FIGURES
        )
    p = trace.payload(last)
    if check.test == "verified":
        v = p.get("verified")
        seen = (
            "it is verified"
            if v is True
            else "not verified"
            if v is False
            else "no verdict recorded"
        )
        fix = check.fix_with if v is False else ""
        return Requirement(what, v is True, seen, evidence, NO_FIGURES, fix)
    key = "claims" if check.test == "claim" else "output"
    source = p.get(key)
    source = source if isinstance(source, Mapping) else {}
    if check.name not in source:
        seen = f"no {check.test} {check.name!r} recorded"
        if source.get("truncated") is True and key == "output":
            seen = "the output was too large to be recorded in the event, so it cannot be checked"
        return Requirement(what, False, seen, evidence, NO_FIGURES)
    value = source[check.name]
    numeric = _is_number(value) and "." not in check.name
    figures = {f"{key}.{check.name}": float(value)} if numeric else {}
    passed = not check.has_expected or _same(value, check.expected)
    return Requirement(what, passed, f"it is {value!r}", evidence, figures, check.fix_with)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


# ------------------------------------------------------------------------------ next actions


def _next_actions(
    plan: Plan, trace: RunTrace, breakdown: Sequence[SubgoalResult]
) -> tuple[NextAction, ...]:
    v = trace.view
    actions: list[NextAction] = []
    if trace.state == "WAITING_INPUT":
        for run in v.nodes.values():
            if run.status == "waiting":
                actions += _asked(plan, trace, run.node_id)
    elif trace.state == "PAUSED" and v.end_seq:
        why = f"the task is paused: {v.end_reason}"
        actions.append(NextAction("resume", "", why, (trace.cite(v.end_seq, "paused"),)))
    elif trace.state == "FAILED":
        actions += _after_failure(plan, trace)
    if trace.state in ("COMPLETED", "FAILED"):
        for s in breakdown:
            fixes = [r for r in s.missing if r.fix_with]
            for r in fixes:
                why = f"sub-goal {s.subgoal} needs {r.what}, but {r.observed}"
                actions.append(NextAction("change_input", r.fix_with, why, r.evidence))
            if trace.state == "COMPLETED" and s.status is not GoalStatus.DONE and not fixes:
                why = f"sub-goal {s.subgoal} is {s.status.value}: " + "; ".join(
                    f"{r.what} ({r.observed})" for r in s.missing
                )
                ev = tuple(e for r in s.missing for e in r.evidence)
                actions.append(NextAction("review_result", "", why, ev))
    unique: dict[tuple[str, str], NextAction] = {}
    for a in actions:
        # One citation per event: a node's outcome evidence already holds the decision that
        # settled it, which a pause or a failure then cites again.
        cited: dict[int, Evidence] = {}
        for e in a.evidence:
            cited.setdefault(e.seq, e)
        unique.setdefault((a.kind, a.field), replace(a, evidence=tuple(cited.values())))
    return tuple(unique.values())


def _last_decision(
    trace: RunTrace, actions: tuple[str, ...], node_id: str = ""
) -> DecisionRecord | None:
    groups = [trace.view.decisions.get(node_id, ())] if node_id else trace.view.decisions.values()
    found = [d for ds in groups for d in ds if d.action in actions]
    return max(found, key=lambda d: d.seq) if found else None


def _asked(plan: Plan, trace: RunTrace, node_id: str) -> list[NextAction]:
    """What a node waiting for the user asks, from its outcome and the pause decision."""
    d = _last_decision(trace, ("pause",), node_id)
    outcome = trace.payload(trace.last_outcome(node_id))
    evidence = trace.outcome_evidence(node_id)
    if d is None:
        question = str(_get(outcome, "output", "question") or f"node {node_id!r} needs input")
        kind, fields = "supply_input", _strings(_get(outcome, "output", "fields"))
    else:
        evidence.append(trace.cite(d.seq, f"{d.rule} decided {d.action}"))
        question = str(trace.payload(d.seq).get("question") or d.reason)
        kind = _PAUSE_KINDS.get(d.rule, "supply_input")
        fields = {
            "supply_input": _strings(_get(outcome, "output", "fields") or d.evidence.get("fields")),
            "fix_data": _data_fields(plan, outcome, question),
            "review_conflict": [str(d.evidence.get("claim", ""))],
        }.get(kind, [])
    return [NextAction(kind, f, question, tuple(evidence)) for f in fields or [""]]


def _after_failure(plan: Plan, trace: RunTrace) -> list[NextAction]:
    v = trace.view
    d = _last_decision(trace, ("fail",))
    evidence = [] if d is None else [*trace.outcome_evidence(d.node_id)]
    if d is not None:
        evidence.append(trace.cite(d.seq, f"{d.rule} decided fail"))
    if v.failure_seq:
        evidence.append(trace.cite(v.failure_seq, f"the task failed ({v.failure_type})"))
    why = d.reason if d is not None else v.end_reason
    failure_type = v.failure_type or (d.failure_type if d else "")
    fields: list[str] = [""]
    if d is not None and d.rule == "BudgetExceeded":
        kind = "raise_budget"
        fields = [f"budget.{x}" for x in _strings(d.evidence.get("exceeded"))] or ["budget"]
    elif d is not None and d.rule == "ConflictBetweenAgents":
        kind, fields = "review_conflict", [str(d.evidence.get("claim", ""))]
    elif failure_type in ("spec_issue", "cost_issue"):
        kind = "fix_spec" if failure_type == "spec_issue" else "raise_budget"
    elif failure_type == "data_issue" and d is not None:
        kind = "fix_data"
        fields = _data_fields(plan, trace.payload(trace.last_outcome(d.node_id)), why) or [""]
    else:
        # A node's own run or verification failing is worth reading before a retry; only an
        # unavailable tool is worth retrying as it is.
        kind = "retry" if failure_type == "tool_issue" else "review_failure"
    return [NextAction(kind, f, why, tuple(evidence)) for f in fields]


def _data_fields(plan: Plan, outcome: Mapping[str, Any], question: str) -> list[str]:
    """The inputs a data question is about: the failure's `fields` signal, else the plan inputs
    the failure's signals name or the question offers as `name=`."""
    signals = _get(outcome, "failure", "signals")
    signals = signals if isinstance(signals, Mapping) else {}
    named = _strings(signals.get("fields"))
    if named:
        return named
    return [
        f.name
        for f in plan.inputs
        if f.name in signals or re.search(rf"\b{re.escape(f.name)}=", question)
    ]


def _get(m: Mapping[str, Any], key: str, sub: str) -> Any:
    inner = m.get(key)
    return inner.get(sub) if isinstance(inner, Mapping) else None


def _strings(value: Any) -> list[str]:
    return [str(x) for x in value] if isinstance(value, list | tuple) else []
