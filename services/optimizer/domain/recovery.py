"""SPEC 2.2, second half: an ordered rule table from failure kind to a recovery strategy, and
the shortest repair path (the fewest nodes to re-run, reusing nodes whose inputs are unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.failures import (
    FAILURE_KINDS,
    Classification,
    FailureSignals,
    classify,
)
from services.optimizer.domain.graph import PRIMARY, Dag, PlanGraph, Variant, check_graph, closure

RECOVERY_POLICY_MAPPER_VERSION = "recovery-policy-mapper-1.0.0"


@dataclass(frozen=True, slots=True)
class RecoveryConfig:
    max_upstream_reruns: int = 1  # re-running an unchanged upstream more often rarely helps


@dataclass(frozen=True, slots=True)
class RecoveryInput:
    graph: PlanGraph
    failure: FailureSignals
    # Completed nodes and the digest of the inputs each ran with.
    completed: Mapping[str, str] = field(default_factory=dict)
    # The digest each completed node's inputs would have now, where the engine knows it.
    current_digests: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Policy:
    rule: str
    rule_version: int
    strategy: str
    reason: str
    rerun: tuple[str, ...]  # nodes to (re-)run, in a topological order
    reused: tuple[str, ...] = ()  # completed upstream nodes whose outputs stay valid
    variant: str = ""  # switch_variant / degrade: the variant to run; empty: stop, keep partial
    delay_s: float = 0.0  # retry_with_backoff
    estimated_latency_s: float = 0.0
    estimated_tokens: int = 0
    estimated_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class RecoveryPlan:
    recovery_policy_mapper_version: str
    failure_type: str
    classification: Classification
    selected_policy: Policy
    available_policies: tuple[Policy, ...]
    affected_nodes: tuple[str, ...]
    evidence: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Context:
    dag: Dag
    failed: int
    kind: str
    signals: FailureSignals
    completed: frozenset[int]
    dirty: frozenset[int]  # completed nodes whose inputs changed since they ran
    config: RecoveryConfig

    @property
    def node_options(self) -> tuple[Variant, ...]:
        return self.dag.nodes[self.failed].options()

    def current(self) -> Variant:
        name = self.signals.variant or PRIMARY
        return next(v for v in self.node_options if v.name == name)

    def untried(self) -> list[Variant]:
        tried = {*self.signals.tried_variants, self.signals.variant or PRIMARY}
        return [v for v in self.node_options if v.name not in tried]


@dataclass(frozen=True, slots=True)
class PolicyRule:
    name: str
    version: int
    kinds: frozenset[str]
    propose: Callable[[_Context, PolicyRule], Policy | None]


def _only_failed(ctx: _Context, rule: PolicyRule, strategy: str, reason: str, **kw: Any) -> Policy:
    variant = kw.get("variant") or ctx.current().name
    figures = next(v for v in ctx.node_options if v.name == variant)
    return Policy(
        rule.name,
        rule.version,
        strategy,
        reason,
        (ctx.dag.nodes[ctx.failed].id,),
        estimated_latency_s=figures.latency_s,
        estimated_tokens=figures.tokens,
        estimated_usd=figures.usd,
        **kw,
    )


def _retry(ctx: _Context, rule: PolicyRule) -> Policy | None:
    node = ctx.dag.nodes[ctx.failed]
    if ctx.signals.attempt >= node.max_attempts:
        return None
    delay = min(node.backoff_s * 2 ** (ctx.signals.attempt - 1), node.max_backoff_s)
    return _only_failed(
        ctx, rule, "retry_with_backoff",
        f"attempt {ctx.signals.attempt} of {node.max_attempts} failed with a {ctx.kind}; the"
        " node's retry policy allows another",
        delay_s=delay,
    )  # fmt: skip


def _switch(ctx: _Context, rule: PolicyRule) -> Policy | None:
    options = ctx.untried()
    if not options:
        return None
    best = min(options, key=lambda v: (-v.success_proxy, v.risk, v.usd, v.name))
    return _only_failed(
        ctx, rule, "switch_variant",
        f"{best.name!r} is the untried variant with the highest success proxy"
        f" ({best.success_proxy:g})",
        variant=best.name,
    )  # fmt: skip


def _degrade_cheaper(ctx: _Context, rule: PolicyRule) -> Policy | None:
    now = ctx.current()
    cheaper = [v for v in ctx.untried() if (v.usd, v.tokens) < (now.usd, now.tokens)]
    if not cheaper:
        return None
    best = min(cheaper, key=lambda v: (v.usd, v.tokens, v.latency_s, v.name))
    return _only_failed(
        ctx, rule, "degrade",
        f"{best.name!r} is the cheapest untried variant (usd {best.usd:g}, tokens {best.tokens})",
        variant=best.name,
    )  # fmt: skip


def _rerun_upstream(ctx: _Context, rule: PolicyRule) -> Policy | None:
    dag, failed = ctx.dag, ctx.failed
    upstream = closure([failed], dag.preds)
    changed = ctx.dirty & upstream
    if not changed and ctx.signals.upstream_reruns >= ctx.config.max_upstream_reruns:
        return None
    # Changed inputs upstream are the cause to repair; otherwise the producers of the data the
    # node consumed are re-run.
    seeds = changed or {p for p in dag.preds[failed] if p in ctx.completed}
    if not seeds:
        return None
    rerun, reused = repair_path(dag, failed, seeds, ctx.completed)
    nodes = [dag.nodes[i] for i in rerun]
    why = "their inputs changed" if changed else "they produced the data it rejected"
    return Policy(
        rule.name,
        rule.version,
        "rerun_upstream",
        f"re-run {', '.join(repr(dag.nodes[i].id) for i in sorted(seeds))} ({why}), then only"
        f" the nodes downstream of them: {len(rerun)} nodes; {len(reused)} completed upstream"
        " nodes are reused",
        tuple(n.id for n in nodes),
        tuple(dag.nodes[i].id for i in reused),
        estimated_latency_s=math.fsum(n.latency_s for n in nodes),
        estimated_tokens=sum(n.tokens for n in nodes),
        estimated_usd=math.fsum(n.usd for n in nodes),
    )


def _ask_data(ctx: _Context, rule: PolicyRule) -> Policy:
    return _only_failed(
        ctx, rule, "ask_user_data",
        "the node rejected its data: ask the user for corrected inputs, then plan the recovery"
        " again with the new input digests (the repair path follows from what changed)",
    )  # fmt: skip


def _ask_spec(ctx: _Context, rule: PolicyRule) -> Policy:
    return _only_failed(
        ctx,
        rule,
        "ask_user_spec",
        "the plan or its configuration is wrong for this node: ask the user for a spec change",
    )


def _stop_partial(ctx: _Context, rule: PolicyRule) -> Policy:
    return Policy(
        rule.name, rule.version, "degrade",
        "no automatic repair is left: stop and keep the best partial result", (),
    )  # fmt: skip


TRANSIENT = frozenset({"tool_issue", "execution_issue"})
ANY = frozenset(FAILURE_KINDS)
RULES: tuple[PolicyRule, ...] = (
    PolicyRule("retry_transient", 1, TRANSIENT, _retry),
    PolicyRule("switch_variant", 1, TRANSIENT, _switch),
    PolicyRule("degrade_to_cheaper_variant", 1, frozenset({"cost_issue"}), _degrade_cheaper),
    PolicyRule("rerun_upstream", 1, frozenset({"data_issue"}), _rerun_upstream),
    PolicyRule("ask_user_for_data", 1, frozenset({"data_issue"}), _ask_data),
    PolicyRule("ask_user_for_spec_change", 1, frozenset({"spec_issue"}), _ask_spec),
    PolicyRule("stop_with_partial_result", 1, ANY, _stop_partial),
)


def repair_path(
    dag: Dag, failed: int, seeds: AbstractSet[int], completed: frozenset[int]
) -> tuple[list[int], list[int]]:
    """Re-run the seeds, the failed node, and every completed node downstream of a re-run one
    (its output is stale); reuse every other completed node upstream of the failed one."""
    rerun = set(seeds) | {failed}
    for i in dag.order:
        if i in completed and i not in rerun and any(p in rerun for p in dag.preds[i]):
            rerun.add(i)
    upstream = closure([failed], dag.preds)
    reused = [i for i in dag.order if i in upstream and i in completed and i not in rerun]
    return [i for i in dag.order if i in rerun], reused


def _check(request: RecoveryInput, dag: Dag) -> tuple[int, frozenset[int], frozenset[int]]:
    s = request.failure
    failed = dag.position(s.node_id, "failed node")
    names = {v.name for v in dag.nodes[failed].options()}
    for name in (s.variant or PRIMARY, *s.tried_variants):
        if name not in names:
            raise InvalidArgument(
                f"variant {name!r} is not a variant of node {s.node_id!r}; it has"
                f" {', '.join(sorted(names))}"
            )
    completed = frozenset(dag.position(c, "completed node") for c in request.completed)
    if failed in completed:
        raise InvalidArgument(f"node {s.node_id!r} is listed both as failed and as completed")
    for c in request.current_digests:
        if c not in request.completed:
            raise InvalidArgument(f"current digest given for {c!r}, which is not completed")
    dirty = frozenset(
        dag.index[c]
        for c, digest in request.current_digests.items()
        if digest != request.completed[c]
    )
    return failed, completed, dirty


def plan_recovery(request: RecoveryInput, config: RecoveryConfig) -> RecoveryPlan:
    """Classifies the failure, then lists every applicable rule's policy; the first is chosen."""
    dag = check_graph(request.graph)
    classification = classify(request.failure)
    failed, completed, dirty = _check(request, dag)
    ctx = _Context(dag, failed, classification.kind, request.failure, completed, dirty, config)
    available = _propose(ctx, RULES)
    selected = available[0]
    return RecoveryPlan(
        recovery_policy_mapper_version=RECOVERY_POLICY_MAPPER_VERSION,
        failure_type=classification.kind,
        classification=classification,
        selected_policy=selected,
        available_policies=available,
        affected_nodes=selected.rerun,
        evidence={
            "classifier": {
                "rule": classification.rule,
                "rule_version": classification.rule_version,
                "version": classification.classifier_version,
                **classification.evidence,
            },
            "rules_in_order": [r.name for r in RULES],
            "attempt": request.failure.attempt,
            "max_attempts": dag.nodes[failed].max_attempts,
            "tried_variants": sorted({*request.failure.tried_variants}),
            "changed_inputs": sorted(dag.nodes[i].id for i in dirty),
            "completed": len(completed),
        },
    )


def _propose(ctx: _Context, rules: Sequence[PolicyRule]) -> tuple[Policy, ...]:
    out: list[Policy] = []
    for rule in rules:
        if ctx.kind in rule.kinds:
            policy = rule.propose(ctx, rule)
            if policy is not None:
                out.append(policy)
    return tuple(out)
