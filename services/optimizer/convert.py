"""Conversion between the Optimizer's wire messages and its domain types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from agentledger.core.errors import InvalidArgument
from agentledger.optimizer.v1 import optimizer_pb2 as pb
from services.optimizer.domain.dominance import Candidate, CandidateFrontier, Objective
from services.optimizer.domain.events import Event
from services.optimizer.domain.failures import FailureSignals
from services.optimizer.domain.forecaster import (
    CalibrationReport,
    Features,
    Forecast,
    Reconciliation,
)
from services.optimizer.domain.graph import Node, PlanGraph, Variant
from services.optimizer.domain.pareto import PlanFrontier
from services.optimizer.domain.recovery import Policy, RecoveryInput, RecoveryPlan
from services.optimizer.domain.salience import SalienceRanking, ScoredEvent
from services.optimizer.domain.scheduler import Budget, Priority, SchedulePlan
from services.optimizer.domain.summarizer import Cluster, EventSummary, Sentence

DEFAULT_MAX_BACKOFF_S = 60.0


def evidence(value: Mapping[str, Any]) -> bytes:
    """Evidence as canonical JSON: sorted keys, so equal evidence is equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# ---------------------------------------------------------------- requests


def graph(g: pb.PlanGraph) -> PlanGraph:
    return PlanGraph(
        tuple(
            Node(
                id=n.id,
                phase=n.phase,
                depends_on=tuple(n.depends_on),
                latency_s=n.latency_s,
                tokens=n.tokens,
                usd=n.usd,
                risk=n.risk,
                success_proxy=n.success_proxy if n.HasField("success_proxy") else 1.0,
                variants=tuple(
                    Variant(v.name, v.latency_s, v.tokens, v.usd, v.risk, v.success_proxy, v.kind)
                    for v in n.variants
                ),
                subgoal=n.subgoal,
                max_attempts=n.max_attempts or 1,
                backoff_s=n.backoff_s,
                max_backoff_s=n.max_backoff_s or DEFAULT_MAX_BACKOFF_S,
            )
            for n in g.nodes
        )
    )


def budget(b: pb.Budget) -> Budget:
    return Budget(tokens=b.tokens, usd=b.usd, seconds=b.seconds)


def recovery_input(r: pb.PlanRecoveryRequest) -> RecoveryInput:
    f = r.failure
    signals = FailureSignals(
        node_id=f.node_id,
        kind_hint=f.kind_hint,
        exception_type=f.exception_type,
        exit_code=f.exit_code if f.HasField("exit_code") else None,
        http_status=f.http_status,
        budget_fractions=dict(f.budget_fractions),
        validation_errors=tuple(f.validation_errors),
        message=f.message,
        attempt=f.attempt or 1,
        variant=f.variant,
        tried_variants=tuple(f.tried_variants),
        upstream_reruns=f.upstream_reruns,
    )
    return RecoveryInput(
        graph(r.plan),
        signals,
        dict(r.completed_input_digests),
        dict(r.current_input_digests),
    )


def candidates(s: pb.CandidateSet) -> tuple[list[Candidate], list[Objective]]:
    return (
        [Candidate(c.id, tuple(c.values)) for c in s.candidates],
        [Objective(o.name, o.maximize) for o in s.objectives],
    )


def events(items: Iterable[pb.Event]) -> list[Event]:
    return [
        Event(
            e.seq,
            e.type,
            e.phase,
            e.node_id,
            int(e.severity),
            e.actor,
            e.time_unix_nano,
            e.payload_json,
        )
        for e in items
    ]


def features(f: pb.ForecastFeatures) -> Features:
    return Features(
        spec_length=f.spec_length,
        node_count=f.node_count,
        tool_calls=f.tool_calls,
        historical_retries=f.historical_retries,
        mode=f.mode,
    )


def ranges(
    tokens: pb.TokenRange, latency: pb.LatencyRange
) -> tuple[tuple[int, int], tuple[float, float]]:
    return (tokens.low, tokens.high), (latency.low_s, latency.high_s)


def weights(m: Mapping[str, float], what: str) -> dict[str, float] | None:
    if any(not k for k in m):
        raise InvalidArgument(f"{what} has an empty name")
    return dict(m) or None


# ---------------------------------------------------------------- responses


def _priorities(items: Sequence[Priority]) -> list[pb.NodePriority]:
    return [pb.NodePriority(node_id=p.node_id, upward_rank=p.upward_rank) for p in items]


def schedule(s: SchedulePlan) -> pb.SchedulePlan:
    return pb.SchedulePlan(
        scheduler_version=s.scheduler_version,
        priorities=_priorities(s.priorities),
        priorities_topk=_priorities(s.priorities_topk),
        critical_path=s.critical_path,
        critical_path_latency_s=s.critical_path_latency_s,
        budget_allocation=[
            pb.PhaseBudget(
                phase=b.phase,
                weight=b.weight,
                share=b.share,
                tokens=b.tokens,
                usd=b.usd,
                seconds=b.seconds,
                nodes=b.nodes,
                estimated_latency_s=b.estimated_latency_s,
                estimated_tokens=b.estimated_tokens,
                estimated_usd=b.estimated_usd,
            )
            for b in s.budget_allocation
        ],
        anytime=pb.AnytimeResult(
            node_id=s.anytime.node_id,
            phase=s.anytime.phase,
            completed_subgoals=s.anytime.completed_subgoals,
            reason=s.anytime.reason,
        ),
        evidence_json=evidence(s.evidence),
    )


def _policy(p: Policy) -> pb.RecoveryPolicy:
    return pb.RecoveryPolicy(
        rule=p.rule,
        rule_version=p.rule_version,
        strategy=p.strategy,
        reason=p.reason,
        rerun=p.rerun,
        reused=p.reused,
        variant=p.variant,
        delay_s=p.delay_s,
        estimated_latency_s=p.estimated_latency_s,
        estimated_tokens=p.estimated_tokens,
        estimated_usd=p.estimated_usd,
    )


def recovery(r: RecoveryPlan) -> pb.RecoveryPlan:
    c = r.classification
    return pb.RecoveryPlan(
        recovery_policy_mapper_version=r.recovery_policy_mapper_version,
        failure_type=r.failure_type,
        classification=pb.FailureClassification(
            kind=c.kind,
            rule=c.rule,
            rule_version=c.rule_version,
            classifier_version=c.classifier_version,
            evidence_json=evidence(c.evidence),
        ),
        selected_policy=_policy(r.selected_policy),
        available_policies=[_policy(p) for p in r.available_policies],
        affected_nodes=r.affected_nodes,
        evidence_json=evidence(r.evidence),
    )


def _choices(items: Iterable[tuple[str, str]]) -> list[pb.Choice]:
    return [pb.Choice(node_id=n, variant=v) for n, v in items]


def plan_frontier(f: PlanFrontier) -> pb.ComputeFrontierResponse:
    return pb.ComputeFrontierResponse(
        plan=pb.PlanFrontier(
            pareto_version=f.pareto_version,
            frontier=[
                pb.CandidatePath(
                    choices=_choices(p.choices),
                    score=pb.PathScore(
                        success_proxy=p.score.success_proxy,
                        usd=p.score.usd,
                        risk=p.score.risk,
                        latency_s=p.score.latency_s,
                        tokens=p.score.tokens,
                    ),
                )
                for p in f.frontier
            ],
            candidate_space=f.candidate_space,
            partial_paths_built=f.partial_paths_built,
            pruned=f.pruned,
            rejected=[
                pb.RejectedPath(
                    step=r.step,
                    path=_choices(r.path),
                    dominated_by=_choices(r.dominated_by),
                    how=r.how,
                )
                for r in f.rejected
            ],
            exact=f.exact,
            error_bound=f.error_bound,
            evidence_json=evidence(f.evidence),
        ),
    )


def candidate_frontier(f: CandidateFrontier) -> pb.ComputeFrontierResponse:
    return pb.ComputeFrontierResponse(
        candidates=pb.CandidateFrontier(
            pareto_version=f.pareto_version,
            frontier=[pb.Candidate(id=c.id, values=c.values) for c in f.frontier],
            pruned=f.pruned,
            rejected=[
                pb.RejectedCandidate(id=r.id, dominated_by=r.dominated_by) for r in f.rejected
            ],
            evidence_json=evidence(f.evidence),
        ),
    )


def _sentence(s: Sentence) -> pb.Sentence:
    return pb.Sentence(text=s.text, seqs=[pb.SeqRange(first=a, last=b) for a, b in s.seqs])


def _cluster(c: Cluster) -> pb.EventCluster:
    return pb.EventCluster(
        kind=c.kind,
        key=c.key,
        event_count=c.event_count,
        first_seq=c.first_seq,
        last_seq=c.last_seq,
        duration_s=c.duration_s,
        failures=c.failures,
        decisions=[pb.DecisionCount(action=a, count=n) for a, n in c.decisions],
        tokens=c.tokens,
        usd=c.usd,
        sentence=_sentence(c.sentence),
    )


def summary(s: EventSummary) -> pb.EventSummary:
    return pb.EventSummary(
        summarizer_version=s.summarizer_version,
        input_hash=s.input_hash,
        event_count=s.event_count,
        level0=[_sentence(x) for x in s.level0],
        level1=[_cluster(c) for c in s.level1],
        level2=[pb.EventLine(seq=x.seq, text=x.text) for x in s.level2],
        next_after_seq=s.next_after_seq,
        evidence_json=evidence(s.evidence),
    )


def _scored(s: ScoredEvent) -> pb.ScoredEvent:
    severity, impact, cost, failure = s.parts
    return pb.ScoredEvent(
        seq=s.seq,
        type=s.type,
        node_id=s.node_id,
        score=s.score,
        parts=pb.SalienceParts(
            severity=severity, user_impact=impact, cost_delta=cost, failure_relatedness=failure
        ),
    )


def salience(r: SalienceRanking) -> pb.RankSalienceResponse:
    return pb.RankSalienceResponse(
        salience_version=r.salience_version,
        input_hash=r.input_hash,
        total=r.total,
        top=[_scored(s) for s in r.top],
        page=[_scored(s) for s in r.page],
        next_offset=r.next_offset,
        evidence_json=evidence(r.evidence),
    )


def forecast(f: Forecast) -> pb.ForecastCostResponse:
    (t_lo, t_hi), (l_lo, l_hi) = f.cost_forecast_tokens_range, f.latency_forecast_range
    return pb.ForecastCostResponse(
        forecaster_version=f.forecaster_version,
        cost_forecast_tokens_range=pb.TokenRange(low=t_lo, high=t_hi),
        latency_forecast_range=pb.LatencyRange(low_s=l_lo, high_s=l_hi),
        source=f.source,
        history_used=f.history_used,
        evidence_json=evidence(f.evidence),
    )


def reconciliation(r: Reconciliation) -> pb.ReconcileForecastResponse:
    return pb.ReconcileForecastResponse(
        forecaster_version=r.forecaster_version,
        tokens_range=pb.TokenRange(low=r.tokens_range[0], high=r.tokens_range[1]),
        latency_range=pb.LatencyRange(low_s=r.latency_range[0], high_s=r.latency_range[1]),
        actual_tokens=r.actual_tokens,
        actual_latency_s=r.actual_latency_s,
        source=r.source,
        tokens_within=r.tokens_within,
        latency_within=r.latency_within,
        tokens_error=r.tokens_error,
        latency_error=r.latency_error,
    )


def calibration(c: CalibrationReport) -> pb.GetCalibrationReportResponse:
    return pb.GetCalibrationReportResponse(
        forecaster_version=c.forecaster_version,
        nominal=c.nominal,
        target=c.target,
        evaluated=c.evaluated,
        skipped=c.skipped,
        tokens_coverage=c.tokens_coverage,
        latency_coverage=c.latency_coverage,
        met=c.met,
        cohorts=[
            pb.CohortCoverage(
                plan_id=x.plan_id,
                mode=x.mode,
                evaluated=x.evaluated,
                tokens_covered=x.tokens_covered,
                latency_covered=x.latency_covered,
            )
            for x in c.cohorts
        ],
        evidence_json=evidence(c.evidence),
    )
