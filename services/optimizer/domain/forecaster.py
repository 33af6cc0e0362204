"""SPEC 2.6: token and latency ranges for a task from the history of similar tasks (quantiles),
falling back to the plan's estimates when history is thin; forecast vs actual; calibration.

The nominal 80% range is [q(0.1), q(0.9)] with quantiles at p(n + 1) between order statistics
(Hyndman & Fan type 6): for n past tasks and a new one from the same distribution, that range
contains the new one with probability 0.8 on average, whatever n, where the common type 7
(numpy's default) undercovers small samples (64% at n = 10).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.graph import check_number
from services.optimizer.domain.history import HistoryRecord

FORECASTER_VERSION = "forecaster-1.0.0"
NOMINAL = 0.8
LOW_Q, HIGH_Q = 0.1, 0.9
MODES = ("fast", "balanced", "thorough")
# Fallback ranges around the plan's estimate, per mode: thorough runs vary most.
FALLBACK_FACTORS = {"fast": (0.8, 1.3), "balanced": (0.8, 1.5), "thorough": (0.8, 2.0)}
TOOL_CALL_WIDENING, MAX_WIDENING = 0.05, 1.0  # each tool call widens the high end by 5%


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    min_history: int = 10
    max_history: int = 200  # the newest of a cohort; older tasks describe an older system
    target_coverage: float = 0.75


@dataclass(frozen=True, slots=True)
class Features:
    spec_length: int
    node_count: int
    tool_calls: int
    historical_retries: float  # average node retries per past task of this plan
    mode: str


@dataclass(frozen=True, slots=True)
class Forecast:
    forecaster_version: str
    cost_forecast_tokens_range: tuple[int, int]
    latency_forecast_range: tuple[float, float]
    source: str  # "history:plan+mode+spec_length" | "history:plan+mode" | "history:plan" | ...
    history_used: int
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    forecaster_version: str
    tokens_range: tuple[int, int]
    latency_range: tuple[float, float]
    actual_tokens: int
    actual_latency_s: float
    source: str
    tokens_within: bool
    latency_within: bool
    tokens_error: float  # actual / the range's nearest end - 1; 0 inside the range
    latency_error: float


@dataclass(frozen=True, slots=True)
class CohortCoverage:
    plan_id: str
    mode: str
    evaluated: int
    tokens_covered: int
    latency_covered: int


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    forecaster_version: str
    nominal: float
    target: float
    evaluated: int
    skipped: int  # tasks with too little earlier history to forecast
    tokens_coverage: float
    latency_coverage: float
    met: bool
    cohorts: tuple[CohortCoverage, ...]
    evidence: dict[str, Any]


def quantile(ordered: Sequence[float], p: float) -> float:
    """Type 6 quantile of ascending data (see the module docstring)."""
    n = len(ordered)
    h = p * (n + 1)
    if h <= 1:
        return ordered[0]
    if h >= n:
        return ordered[-1]
    lo = math.floor(h)
    return ordered[lo - 1] + (h - lo) * (ordered[lo] - ordered[lo - 1])


def _range(values: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return quantile(ordered, LOW_Q), quantile(ordered, HIGH_Q)


def check_features(f: Features) -> None:
    if f.mode not in MODES:
        raise InvalidArgument(f"mode {f.mode!r}; use one of {', '.join(MODES)}")
    for name in ("spec_length", "node_count", "tool_calls", "historical_retries"):
        check_number(getattr(f, name), f"feature {name}")


def cohort(
    records: Sequence[HistoryRecord], plan_id: str, f: Features, config: ForecastConfig
) -> tuple[str, list[HistoryRecord]]:
    """The narrowest group of similar past tasks with enough members, newest first."""
    same_plan = [r for r in records if r.plan_id == plan_id]
    same_mode = [r for r in same_plan if r.mode == f.mode]
    close_spec = [
        r
        for r in same_mode
        if f.spec_length and r.spec_length and 0.5 <= r.spec_length / f.spec_length <= 2.0
    ]
    for source, group in (
        ("history:plan+mode+spec_length", close_spec),
        ("history:plan+mode", same_mode),
        ("history:plan", same_plan),
    ):
        if len(group) >= config.min_history:
            return source, group[: config.max_history]
    return "plan_estimates", []


def forecast(
    plan_id: str,
    features: Features,
    estimate_tokens: int,
    estimate_latency_s: float,
    records: Sequence[HistoryRecord],
    config: ForecastConfig,
    *,
    history_note: str = "",
) -> Forecast:
    """Ranges from the cohort's quantiles, or from the plan's estimates when it is thin."""
    check_features(features)
    check_number(estimate_tokens, "estimated tokens")
    check_number(estimate_latency_s, "estimated latency_s")
    source, group = cohort(records, plan_id, features, config)
    evidence: dict[str, Any] = {
        "features": {
            "spec_length": features.spec_length,
            "node_count": features.node_count,
            "tool_calls": features.tool_calls,
            "historical_retries": features.historical_retries,
            "mode": features.mode,
        },
        "history_available": sum(1 for r in records if r.plan_id == plan_id),
        "min_history": config.min_history,
        "nominal_coverage": NOMINAL,
    }
    if history_note:
        evidence["history_note"] = history_note
    if group:
        t_lo, t_hi = _range([float(r.tokens) for r in group])
        l_lo, l_hi = _range([r.latency_s for r in group])
        evidence["rule"] = "quantiles 0.1 and 0.9 (type 6) of the cohort's actuals"
        evidence["cohort_task_ids"] = [r.task_id for r in group[:20]]
        tokens = (math.floor(t_lo), math.ceil(t_hi))
        return Forecast(FORECASTER_VERSION, tokens, (l_lo, l_hi), source, len(group), evidence)
    # Retries re-run nodes: spread the past average over the plan's nodes.
    inflation = 1.0 + features.historical_retries / max(features.node_count, 1)
    low, high = FALLBACK_FACTORS[features.mode]
    high *= 1.0 + min(MAX_WIDENING, TOOL_CALL_WIDENING * features.tool_calls)
    t_point, l_point = estimate_tokens * inflation, estimate_latency_s * inflation
    evidence["rule"] = (
        "point = plan estimate x (1 + historical_retries / node_count); range = point x"
        f" ({low:g}, {high:g}): the mode's factors, the high end widened 5% per tool call"
    )
    evidence["estimate"] = {"tokens": estimate_tokens, "latency_s": estimate_latency_s}
    return Forecast(
        FORECASTER_VERSION,
        (math.floor(t_point * low), math.ceil(t_point * high)),
        (l_point * low, l_point * high),
        source,
        0,
        evidence,
    )


def reconcile(
    tokens_range: tuple[int, int],
    latency_range: tuple[float, float],
    source: str,
    actual_tokens: int,
    actual_latency_s: float,
) -> Reconciliation:
    """Forecast against actual when a task ends, for its summary."""
    for name, (lo, hi) in (("tokens", tokens_range), ("latency", latency_range)):
        check_number(lo, f"{name} range low")
        check_number(hi, f"{name} range high")
        if lo > hi:
            raise InvalidArgument(f"{name} range ({lo}, {hi}) has its low end above its high end")
    check_number(actual_tokens, "actual tokens")
    check_number(actual_latency_s, "actual latency_s")
    return Reconciliation(
        FORECASTER_VERSION,
        tokens_range,
        latency_range,
        actual_tokens,
        actual_latency_s,
        source,
        tokens_range[0] <= actual_tokens <= tokens_range[1],
        latency_range[0] <= actual_latency_s <= latency_range[1],
        _error(actual_tokens, *tokens_range),
        _error(actual_latency_s, *latency_range),
    )


def _error(actual: float, lo: float, hi: float) -> float:
    if actual > hi:
        return actual / hi - 1.0 if hi > 0 else math.inf
    if actual < lo:
        return actual / lo - 1.0
    return 0.0


def calibration(records: Sequence[HistoryRecord], config: ForecastConfig) -> CalibrationReport:
    """Walk-forward over each (plan, mode) cohort in time order: every task is forecast from
    the tasks that ended before it (it is held out of its own forecast) and checked against
    the nominal 80% ranges."""
    groups: dict[tuple[str, str], list[HistoryRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.ended_unix_nano, r.task_id)):
        groups[(r.plan_id, r.mode)].append(r)
    cohorts: list[CohortCoverage] = []
    skipped = 0
    for (plan_id, mode), group in sorted(groups.items()):
        evaluated = tokens_ok = latency_ok = 0
        for i, r in enumerate(group):
            past = group[max(0, i - config.max_history) : i]
            if len(past) < config.min_history:
                skipped += 1
                continue
            t_lo, t_hi = _range([float(p.tokens) for p in past])
            l_lo, l_hi = _range([p.latency_s for p in past])
            evaluated += 1
            tokens_ok += math.floor(t_lo) <= r.tokens <= math.ceil(t_hi)
            latency_ok += l_lo <= r.latency_s <= l_hi
        if evaluated:
            cohorts.append(CohortCoverage(plan_id, mode, evaluated, tokens_ok, latency_ok))
    total = sum(c.evaluated for c in cohorts)
    tokens_cov = sum(c.tokens_covered for c in cohorts) / total if total else 0.0
    latency_cov = sum(c.latency_covered for c in cohorts) / total if total else 0.0
    return CalibrationReport(
        forecaster_version=FORECASTER_VERSION,
        nominal=NOMINAL,
        target=config.target_coverage,
        evaluated=total,
        skipped=skipped,
        tokens_coverage=tokens_cov,
        latency_coverage=latency_cov,
        met=total > 0 and min(tokens_cov, latency_cov) >= config.target_coverage,
        cohorts=tuple(cohorts),
        evidence={
            "method": "walk-forward per (plan, mode): each task forecast from the up to"
            f" {config.max_history} tasks of its cohort that ended before it",
            "min_history": config.min_history,
            "records": len(records),
        },
    )
