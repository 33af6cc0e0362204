"""SPEC 3.6 quotas: defaults, set limits, tenant limits, the at-the-limit boundary and the
refusal a user reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentledger.core.errors import ErrorCode, InvalidArgument, ResourceExhausted
from services.product.domain.quotas import (
    DAY_NS,
    QuotaDefaults,
    QuotaExceeded,
    QuotaState,
    Usage,
    check,
    day_of,
    evaluate,
    resets_at,
)
from services.product.domain.records import QUOTAS, QuotaSetting

# 2026-11-28T15:30:00Z
NOW = int(datetime(2026, 11, 28, 15, 30, tzinfo=UTC).timestamp()) * 10**9
MIDNIGHT = int(datetime(2026, 11, 29, tzinfo=UTC).timestamp()) * 10**9
DEFAULTS = QuotaDefaults(
    owner=QuotaDefaults.parse(
        "concurrent_tasks=5,daily_tokens=100000,daily_usd=2.5,daily_exports=20"
    )
)


def states(
    action: str = "",
    usage: Usage | None = None,
    *,
    settings: dict[tuple[str, str], dict[str, QuotaSetting]] | None = None,
    defaults: QuotaDefaults = DEFAULTS,
    tenant: str = "acme",
) -> list[QuotaState]:
    return evaluate(action, "alice", tenant, usage or Usage(), settings or {}, defaults, NOW)


def by_quota(found: list[QuotaState], scope: str = "owner") -> dict[str, QuotaState]:
    return {s.quota: s for s in found if s.scope == scope}


def setting(scope: str, subject: str, quota: str, limit: float) -> QuotaSetting:
    return QuotaSetting(scope, subject, quota, limit, set_by="admin", set_ns=NOW)


# ---------------------------------------------------------------- defaults


def test_parse_reads_every_quota() -> None:
    assert QuotaDefaults.parse(
        " concurrent_tasks=5, daily_tokens=100000,daily_usd=2.5,daily_exports=20 "
    ) == {"concurrent_tasks": 5, "daily_tokens": 100000, "daily_usd": 2.5, "daily_exports": 20}
    assert QuotaDefaults.parse("") == {}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("daily_tokns=5", "'daily_tokns=5'"),
        ("concurrent_tasks", "'concurrent_tasks'"),
        ("daily_usd=lots", "'lots' is not a number"),
        ("daily_usd=-1", ">= 0"),
        ("daily_usd=nan", ">= 0"),
        ("concurrent_tasks=2.5", "whole active tasks"),
        ("daily_usd=1,daily_usd=2", "given twice"),
    ],
)
def test_parse_names_the_bad_item(text: str, needle: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        QuotaDefaults.parse(text)
    assert needle in str(e.value)
    if "=" not in text or "tokns" in text:
        assert "known quotas: " + ", ".join(QUOTAS) in str(e.value)


def test_defaults_fill_every_quota_and_tenants_are_unlimited() -> None:
    d = QuotaDefaults(owner={"daily_usd": 1.0})
    assert dict(d.owner) == {q: (1.0 if q == "daily_usd" else 0.0) for q in QUOTAS}
    assert dict(d.tenant) == dict.fromkeys(QUOTAS, 0.0)
    with pytest.raises(InvalidArgument, match="'daily_cups' is not a quota"):
        QuotaDefaults(tenant={"daily_cups": 1})
    both = QuotaDefaults.from_text("daily_usd=1", "concurrent_tasks=50")
    assert both.limit("tenant", "concurrent_tasks") == 50


# ---------------------------------------------------------------- evaluate


def test_evaluate_shows_every_owner_quota_with_usage_and_reset() -> None:
    usage = Usage(active_owner=2, tokens_owner=1200, usd_owner=0.5, exports_owner=3)
    found = by_quota(states(usage=usage))
    assert set(found) == set(QUOTAS)
    assert found["concurrent_tasks"] == QuotaState(
        "concurrent_tasks", "owner", "alice", 2, 5, 0, "default"
    )
    assert found["daily_tokens"].usage == 1200
    assert found["daily_usd"].usage == 0.5
    assert found["daily_exports"].limit == 20
    assert all(found[q].resets_ns == MIDNIGHT for q in QUOTAS if q != "concurrent_tasks")


def test_evaluate_keeps_only_the_quotas_of_the_action() -> None:
    assert [s.quota for s in states("submit")] == [
        "concurrent_tasks",
        "daily_tokens",
        "daily_usd",
    ]
    assert [s.quota for s in states("export")] == ["daily_exports"]
    with pytest.raises(InvalidArgument, match="'delete' is not one of submit, export"):
        states("delete")
    with pytest.raises(InvalidArgument, match="needs an owner"):
        evaluate("", "", "", Usage(), {}, DEFAULTS, NOW)


def test_a_set_limit_overrides_the_default_even_to_unlimited() -> None:
    settings = {
        ("owner", "alice"): {
            "daily_tokens": setting("owner", "alice", "daily_tokens", 500),
            "concurrent_tasks": setting("owner", "alice", "concurrent_tasks", 0),
        },
        ("owner", "bob"): {"daily_usd": setting("owner", "bob", "daily_usd", 0.01)},
    }
    found = by_quota(states(settings=settings))
    assert (found["daily_tokens"].limit, found["daily_tokens"].source) == (500, "set")
    assert (found["concurrent_tasks"].limit, found["concurrent_tasks"].source) == (0, "set")
    assert (found["daily_usd"].limit, found["daily_usd"].source) == (2.5, "default")


def test_tenant_quotas_appear_only_when_they_limit_or_were_set() -> None:
    usage = Usage(active_owner=1, active_tenant=40, tokens_tenant=9000)
    assert by_quota(states(usage=usage), "tenant") == {}
    settings = {("tenant", "acme"): {"daily_usd": setting("tenant", "acme", "daily_usd", 0)}}
    defaults = QuotaDefaults(owner=DEFAULTS.owner, tenant={"concurrent_tasks": 40})
    tenant = by_quota(states(usage=usage, settings=settings, defaults=defaults), "tenant")
    assert set(tenant) == {"concurrent_tasks", "daily_usd"}
    assert tenant["concurrent_tasks"] == QuotaState(
        "concurrent_tasks", "tenant", "acme", 40, 40, 0, "default"
    )
    assert tenant["daily_usd"].source == "set"
    # No tenant: no tenant quotas, whatever the defaults say.
    assert by_quota(states(usage=usage, defaults=defaults, tenant=""), "tenant") == {}


# ---------------------------------------------------------------- check


def test_usage_at_the_limit_is_refused_and_below_it_passes() -> None:
    check("submit", states("submit", Usage(active_owner=4, tokens_owner=99_999, usd_owner=2.49)))
    with pytest.raises(QuotaExceeded) as e:
        check("submit", states("submit", Usage(active_owner=5)))
    assert (e.value.quota, e.value.usage, e.value.limit) == ("concurrent_tasks", 5, 5)
    with pytest.raises(QuotaExceeded) as e:
        check("submit", states("submit", Usage(usd_owner=2.5)))
    assert e.value.quota == "daily_usd"


def test_limit_zero_is_unlimited() -> None:
    huge = Usage(active_owner=10**6, tokens_owner=10**12, usd_owner=1e9, exports_owner=10**6)
    check("submit", states("submit", huge, defaults=QuotaDefaults()))
    check("export", states("export", huge, defaults=QuotaDefaults()))


def test_each_action_counts_only_its_own_quotas() -> None:
    spent = Usage(tokens_owner=200_000, exports_owner=3)
    check("export", states("", spent))  # tokens are not an export's business
    exported = states("", Usage(exports_owner=20))
    with pytest.raises(QuotaExceeded, match="daily_exports"):
        check("export", exported)
    check("submit", exported)  # nor are exports a submit's
    with pytest.raises(InvalidArgument, match="'status' is not one of submit, export"):
        check("status", [])


def test_a_set_limit_refuses_below_the_default() -> None:
    settings = {
        ("owner", "alice"): {"daily_tokens": setting("owner", "alice", "daily_tokens", 500)}
    }
    with pytest.raises(QuotaExceeded) as e:
        check("submit", states("submit", Usage(tokens_owner=500), settings=settings))
    assert e.value.limit == 500


def test_tenant_quota_refuses_an_owner_under_their_own() -> None:
    defaults = QuotaDefaults(owner=DEFAULTS.owner, tenant={"concurrent_tasks": 40})
    found = states("submit", Usage(active_owner=1, active_tenant=40), defaults=defaults)
    with pytest.raises(QuotaExceeded) as e:
        check("submit", found)
    assert (e.value.scope, e.value.subject) == ("tenant", "acme")
    assert str(e.value) == (
        "quota concurrent_tasks of tenant 'acme' is used up: 40 of 40 active tasks;"
        " it frees up when one of them ends"
    )


def test_the_refusal_names_quota_usage_limit_and_reset() -> None:
    with pytest.raises(ResourceExhausted) as e:
        check("submit", states("submit", Usage(tokens_owner=120_000)))
    assert isinstance(e.value, QuotaExceeded)
    assert e.value.code is ErrorCode.RESOURCE_EXHAUSTED
    assert str(e.value) == (
        "quota daily_tokens of owner 'alice' is used up: 120,000 of 100,000 tokens today;"
        " it resets at 2026-11-29T00:00:00Z"
    )
    assert (e.value.quota, e.value.scope, e.value.subject) == ("daily_tokens", "owner", "alice")
    assert (e.value.usage, e.value.limit, e.value.resets_ns) == (120_000, 100_000, MIDNIGHT)


def test_usd_and_export_refusals_read_plainly() -> None:
    with pytest.raises(QuotaExceeded) as e:
        check("submit", states("submit", Usage(usd_owner=2.5012)))
    assert "2.5012 of 2.5 USD today; it resets at 2026-11-29T00:00:00Z" in str(e.value)
    with pytest.raises(QuotaExceeded) as e:
        check("export", states("export", Usage(exports_owner=20)))
    assert str(e.value).startswith("quota daily_exports of owner 'alice' is used up: 20 of 20")


# ---------------------------------------------------------------- days


def test_resets_at_next_utc_midnight() -> None:
    assert resets_at("daily_usd", NOW) == MIDNIGHT
    assert resets_at("daily_usd", MIDNIGHT) == MIDNIGHT + DAY_NS  # midnight starts a new day
    assert resets_at("daily_usd", MIDNIGHT - 1) == MIDNIGHT
    assert resets_at("concurrent_tasks", NOW) == 0
    with pytest.raises(InvalidArgument, match="'hourly' is not a quota"):
        resets_at("hourly", NOW)


def test_day_of_is_the_utc_day() -> None:
    assert day_of(NOW) == "2026-11-28"
    assert day_of(MIDNIGHT - 1) == "2026-11-28"
    assert day_of(MIDNIGHT) == "2026-11-29"
    assert day_of(0) == "1970-01-01"
