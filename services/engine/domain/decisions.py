"""What governance rules read (a checkpoint: the node outcome, the budget, the plan's options)
and what they decide (a `Decision` with its rule, version, evidence and rejected alternatives).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.engine.domain.agents.base import Failure, Usage
from services.engine.domain.plan import GovernanceSettings, PlanNode

ACTIONS = ("continue", "retry", "degrade", "pause", "fail")


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    node_id: str
    phase: str
    status: str  # "completed" | "failed" | "needs_input"
    attempt: int
    variant: str
    usage: Usage
    output: Mapping[str, Any] = field(default_factory=dict)
    failure: Failure | None = None
    success_proxy: float | None = None
    verified: bool | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    policy_violations: tuple[str, ...] = ()
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class BudgetState:
    tokens_used: int
    usd_used: float
    seconds_used: float
    tokens_limit: int | None  # None: no limit
    usd_limit: float | None
    seconds_limit: float | None

    def fractions(self) -> dict[str, float]:
        """Used / limit for each limited dimension."""
        out: dict[str, float] = {}
        if self.tokens_limit:
            out["tokens"] = self.tokens_used / self.tokens_limit
        if self.usd_limit:
            out["usd"] = self.usd_used / self.usd_limit
        if self.seconds_limit:
            out["seconds"] = self.seconds_used / self.seconds_limit
        return out


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One point where governance decides. `kind` is "after_node" (node and outcome set) or
    "budget" (before a node starts: node is the node about to start, outcome is None)."""

    kind: str
    budget: BudgetState
    settings: GovernanceSettings
    mode: str
    node: PlanNode | None = None
    outcome: NodeOutcome | None = None
    # Claims of every node completed so far (node id -> claims), for conflict detection.
    claims_by_node: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Variants already tried on this node in this task (names), so degrade never loops.
    tried_variants: tuple[str, ...] = ()
    # Evidence the optimizer proposed (recovery plan, Pareto choice), when available.
    proposals: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two agents' outputs disagree on one claim; both sides' evidence is kept."""

    claim: str
    left_node: str
    left_value: Any
    right_node: str
    right_value: Any


@dataclass(frozen=True, slots=True)
class Rejected:
    action: str
    why: str


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # one of ACTIONS
    rule: str
    rule_version: int
    reason: str  # one sentence a person can read
    conditions_evidence: Mapping[str, Any] = field(default_factory=dict)
    alternatives_rejected: tuple[Rejected, ...] = ()
    variant: str = ""  # degrade: the variant to switch to
    retry_delay_s: float = 0.0  # retry: wait this long first
    failure_type: str = ""  # fail/pause: the classified failure kind, when there is one
    conflict: Conflict | None = None
    question: str = ""  # pause: what the user is asked

    def as_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action,
            "rule": self.rule,
            "rule_version": self.rule_version,
            "reason": self.reason,
            "conditions_evidence": dict(self.conditions_evidence),
            "alternatives_rejected": [
                {"action": r.action, "why": r.why} for r in self.alternatives_rejected
            ],
        }
        if self.variant:
            out["variant"] = self.variant
        if self.retry_delay_s:
            out["retry_delay_s"] = self.retry_delay_s
        if self.failure_type:
            out["failure_type"] = self.failure_type
        if self.question:
            out["question"] = self.question
        if self.conflict is not None:
            c = self.conflict
            out["conflict"] = {
                "claim": c.claim,
                "left": {"node_id": c.left_node, "value": c.left_value},
                "right": {"node_id": c.right_node, "value": c.right_value},
            }
        return out
