"""An ExecutionPlan as the engine sees it: a named, versioned DAG of agent nodes.

These are plain, frozen values; `plan_loader` builds them from YAML files and checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PHASES = ("spec", "build", "verify", "govern")
MODES = ("fast", "balanced", "thorough")


@dataclass(frozen=True, slots=True)
class Estimates:
    """What the plan author expects a node to take: used by scheduling and forecasts."""

    latency_s: float = 1.0
    tokens: int = 0
    usd: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 1  # 1 = no retry
    backoff_s: float = 0.0  # delay before the 2nd attempt; doubles each time
    max_backoff_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Variant:
    """Another way to run a node: `primary` is the node's own agent; `degraded` and
    `alternative` variants carry their own agent and figures."""

    name: str
    kind: str  # "primary" | "degraded" | "alternative"
    agent: str
    config: Mapping[str, Any]
    estimates: Estimates
    risk: float = 0.0  # 0..1, lower is better
    success_proxy: float = 1.0  # 0..1, higher is better


@dataclass(frozen=True, slots=True)
class PlanNode:
    id: str
    phase: str  # one of PHASES
    agent: str  # agent kind: a built-in name or a registered one
    config: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    estimates: Estimates = field(default_factory=Estimates)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    variants: tuple[Variant, ...] = ()  # excluding the implicit primary
    subgoal: str = ""
    timeout_s: float = 300.0
    risk: float = 0.0
    success_proxy: float = 1.0

    def primary(self) -> Variant:
        return Variant(
            "primary",
            "primary",
            self.agent,
            self.config,
            self.estimates,
            self.risk,
            self.success_proxy,
        )

    def variant(self, name: str) -> Variant:
        if name in ("", "primary"):
            return self.primary()
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class InputField:
    name: str
    type: str = "string"  # string | number | integer | boolean | object | array | file
    required: bool = True
    sensitive: bool = False
    description: str = ""
    default: Any = None


CHECK_TESTS = ("verified", "claim", "output")


@dataclass(frozen=True, slots=True)
class GoalCheck:
    """One test of a node's last recorded outcome that a sub-goal needs to pass: `verified`
    (the outcome says verified), `claim` (the node claims `name`) or `output` (its output has
    the top-level field `name`); with `has_expected`, the value must equal `expected`."""

    node: str
    test: str  # one of CHECK_TESTS
    name: str = ""  # the claim or output field; "" for verified
    expected: Any = None
    has_expected: bool = False
    fix_with: str = ""  # the plan input a user changes to make the check pass

    def describe(self) -> str:
        if self.test == "verified":
            return f"node {self.node!r} is verified"
        what = f"node {self.node!r} {self.test} {self.name!r}"
        return f"{what} equals {self.expected!r}" if self.has_expected else f"{what} is present"


@dataclass(frozen=True, slots=True)
class SubGoal:
    id: str
    description: str
    nodes: tuple[str, ...] = ()
    checks: tuple[GoalCheck, ...] = ()


@dataclass(frozen=True, slots=True)
class GovernanceSettings:
    """Per-plan thresholds the governance rules read."""

    min_success_proxy: float = 0.5
    degrade_at_budget_fraction: float = 0.8
    on_conflict: str = "pause"  # pause | fail


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    version: int
    description: str
    nodes: tuple[PlanNode, ...]  # in a topological order
    inputs: tuple[InputField, ...] = ()
    subgoals: tuple[SubGoal, ...] = ()
    governance: GovernanceSettings = field(default_factory=GovernanceSettings)
    default_mode: str = "balanced"
    source: str = ""  # the file it was read from, for messages
    digest: str = ""  # sha256 of the canonical source text: one id+version, one content

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def node(self, node_id: str) -> PlanNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)
