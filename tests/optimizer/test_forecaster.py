"""The forecaster: cohorts and their quantiles, the fallback to plan estimates (and saying so),
reconciliation, and calibration on seeded synthetic history: the nominal 80% range covers at
least 75% of held-out actuals."""

from __future__ import annotations

import math
import random

import pytest

from agentledger.core.errors import InvalidArgument
from services.optimizer.domain.forecaster import (
    FORECASTER_VERSION,
    Features,
    ForecastConfig,
    calibration,
    forecast,
    quantile,
    reconcile,
)
from services.optimizer.domain.history import HistoryRecord, InMemoryHistory

CONFIG = ForecastConfig(min_history=10, max_history=200, target_coverage=0.75)
START_NS = 1_767_225_600_000_000_000


def synthetic_history(seed: int, per_cohort: int = 300) -> list[HistoryRecord]:
    """Three cohorts with their own log-normal token and latency distributions, interleaved
    in time, as a trace store would hold them."""
    rng = random.Random(seed)
    cohorts = [("report", "fast", 8.0, 0.3, 3.0), ("report", "thorough", 9.0, 0.5, 4.0),
               ("etl", "balanced", 7.0, 0.8, 2.0)]  # fmt: skip
    out: list[HistoryRecord] = []
    for k in range(per_cohort):
        for plan, mode, mu_tokens, sigma, mu_latency in cohorts:
            out.append(
                HistoryRecord(
                    task_id=f"{plan}-{mode}-{k:04d}",
                    plan_id=plan,
                    mode=mode,
                    tokens=round(rng.lognormvariate(mu_tokens, sigma)),
                    latency_s=rng.lognormvariate(mu_latency, sigma),
                    ended_unix_nano=START_NS + (k * 3 + len(out) % 3) * 10**9,
                    spec_length=rng.randint(200, 400),
                )
            )
    return out


FEATURES = Features(spec_length=300, node_count=5, tool_calls=2, historical_retries=1.0,
                    mode="fast")  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_nominal_80_percent_range_covers_at_least_75_percent(seed: int) -> None:
    report = calibration(synthetic_history(seed), CONFIG)
    assert report.evaluated == 3 * (300 - CONFIG.min_history)
    assert report.skipped == 3 * CONFIG.min_history
    assert report.tokens_coverage >= 0.75 and report.latency_coverage >= 0.75
    assert report.met and report.nominal == 0.8
    assert {(c.plan_id, c.mode) for c in report.cohorts} == {
        ("report", "fast"), ("report", "thorough"), ("etl", "balanced")
    }  # fmt: skip
    # Not too wide either: a range that covered everything would be useless.
    assert report.tokens_coverage <= 0.86 and report.latency_coverage <= 0.86


def test_type_6_quantiles() -> None:
    data = [float(x) for x in range(1, 10)]  # n = 9: p(n + 1) = 1 and 9 for p = 0.1, 0.9
    assert (quantile(data, 0.1), quantile(data, 0.9)) == (1.0, 9.0)
    assert quantile(data, 0.5) == 5.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([5.0], 0.1) == 5.0


def test_a_forecast_uses_the_narrowest_cohort_with_enough_history() -> None:
    history = synthetic_history(4, per_cohort=50)
    newest_first = sorted(history, key=lambda r: -r.ended_unix_nano)
    f = forecast("report", FEATURES, 1000, 10.0, newest_first, CONFIG)
    assert f.forecaster_version == FORECASTER_VERSION
    assert f.source == "history:plan+mode+spec_length" and f.history_used == 50
    lo, hi = f.cost_forecast_tokens_range
    fast = sorted(r.tokens for r in history if r.mode == "fast" and r.plan_id == "report")
    assert fast[0] <= lo < hi <= fast[-1]
    no_spec = Features(0, 5, 2, 1.0, "thorough")
    assert forecast("report", no_spec, 1000, 10.0, newest_first, CONFIG).source == (
        "history:plan+mode"
    )
    other_mode = Features(0, 5, 2, 1.0, "balanced")  # no "report" task ran balanced
    assert forecast("report", other_mode, 1000, 10.0, newest_first, CONFIG).source == (
        "history:plan"
    )


def test_thin_history_falls_back_to_plan_estimates_and_says_so() -> None:
    thin = synthetic_history(5, per_cohort=3)
    f = forecast("report", FEATURES, 1000, 10.0, thin, CONFIG)
    assert f.source == "plan_estimates" and f.history_used == 0
    # 1 retry per task over 5 nodes inflates by 20%; fast mode: x0.8 .. x1.3, +10% for 2 tools.
    assert f.cost_forecast_tokens_range == (960, math.ceil(1200 * 1.3 * 1.1))
    assert f.latency_forecast_range == pytest.approx((9.6, 12.0 * 1.3 * 1.1))
    assert f.evidence["history_available"] == 6 and "plan estimate" in f.evidence["rule"]


async def test_the_in_memory_history_source_is_newest_first_and_filtered() -> None:
    source = InMemoryHistory(synthetic_history(6, per_cohort=5))
    got = await source.completed_tasks("etl", 3)
    assert [r.plan_id for r in got] == ["etl"] * 3
    assert got[0].ended_unix_nano > got[1].ended_unix_nano > got[2].ended_unix_nano
    assert len(await source.completed_tasks("", 1000)) == 15


def test_reconcile_says_whether_the_actual_fell_in_range_and_by_how_much() -> None:
    r = reconcile((100, 200), (1.0, 2.0), "history:plan", 250, 1.5)
    assert (r.tokens_within, r.latency_within) == (False, True)
    assert r.tokens_error == pytest.approx(0.25) and r.latency_error == 0.0
    below = reconcile((100, 200), (1.0, 2.0), "plan_estimates", 50, 0.5)
    assert below.tokens_error == pytest.approx(-0.5) and below.latency_error == pytest.approx(-0.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: forecast("p", Features(1, 1, 1, 0, "turbo"), 1, 1.0, [], CONFIG), "mode 'turbo'"),
        (lambda: forecast("p", Features(1, 1, 1, math.nan, "fast"), 1, 1.0, [], CONFIG),
         "historical_retries is nan"),
        (lambda: forecast("p", Features(-1, 1, 1, 0, "fast"), 1, 1.0, [], CONFIG),
         "spec_length is -1"),
        (lambda: forecast("p", FEATURES, 1, -1.0, [], CONFIG), "estimated latency_s is -1"),
        (lambda: reconcile((5, 1), (1.0, 2.0), "x", 1, 1.0), "low end above its high end"),
        (lambda: reconcile((1, 5), (1.0, math.inf), "x", 1, 1.0), "latency range high is inf"),
        (lambda: reconcile((1, 5), (1.0, 2.0), "x", -3, 1.0), "actual tokens is -3"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_by_name(call: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        call()  # type: ignore[operator]


def test_calibration_without_enough_history_is_not_met() -> None:
    report = calibration(synthetic_history(7, per_cohort=5), CONFIG)
    assert report.evaluated == 0 and report.skipped == 15 and not report.met
