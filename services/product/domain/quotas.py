"""SPEC 3.6 quotas: where an owner (and their tenant) stands against each limit, and the refusal
a user reads when a new task or export would go over one.

The caller measures the usage (`Usage`) and reads the set limits; this module only decides, so
it needs no store and no clock: time comes in as `now_ns`. A limit of 0 means unlimited. Days
are UTC days, the same days metering counts a task on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

from agentledger.core.errors import InvalidArgument, ResourceExhausted
from services.product.domain.records import QUOTA_UNITS, QUOTAS, SCOPES, QuotaSetting
from services.product.domain.sentences import figure

DAY_NS = 86_400 * 10**9
# The quotas each checked action counts against; "" (a status view) shows them all.
ACTION_QUOTAS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "submit": ("concurrent_tasks", "daily_tokens", "daily_usd"),
        "export": ("daily_exports",),
    }
)
_WHOLE = frozenset({"concurrent_tasks", "daily_tokens", "daily_exports"})
_EPOCH = date(1970, 1, 1)


def _known() -> str:
    return ", ".join(QUOTAS)


def check_limit(quota: str, limit: float, where: str) -> None:
    if quota not in QUOTAS:
        raise InvalidArgument(f"{where}: {quota!r} is not a quota; known quotas: {_known()}")
    if not math.isfinite(limit) or limit < 0:
        raise InvalidArgument(f"{where}: the limit must be a number >= 0 (0: unlimited)")
    if quota in _WHOLE and limit != int(limit):
        raise InvalidArgument(f"{where}: {quota} counts whole {QUOTA_UNITS[quota]}")


@dataclass(frozen=True, slots=True)
class QuotaDefaults:
    """The configured limits that apply until someone sets another; 0 is unlimited. Tenants
    are unlimited unless configured, since most deployments meter people, not tenants."""

    owner: Mapping[str, float] = field(default_factory=dict)
    tenant: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for scope in SCOPES:
            given: Mapping[str, float] = getattr(self, scope)
            for quota, limit in given.items():
                check_limit(quota, float(limit), f"default {scope} quota {quota!r}")
            full = {q: float(given.get(q, 0)) for q in QUOTAS}
            object.__setattr__(self, scope, MappingProxyType(full))

    def limit(self, scope: str, quota: str) -> float:
        limits: Mapping[str, float] = self.owner if scope == "owner" else self.tenant
        return limits[quota]

    @classmethod
    def from_text(cls, owner: str, tenant: str = "") -> QuotaDefaults:
        return cls(owner=cls.parse(owner), tenant=cls.parse(tenant))

    @staticmethod
    def parse(text: str) -> dict[str, float]:
        """Reads `concurrent_tasks=5,daily_tokens=100000,daily_usd=2.5,daily_exports=20`; quotas
        left out stay unlimited. An empty text configures nothing."""
        out: dict[str, float] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            name, eq, value = (s.strip() for s in item.partition("="))
            where = f"quota default {item!r}"
            if not eq or name not in QUOTAS:
                raise InvalidArgument(
                    f"{where} is not <quota>=<limit>; known quotas: {_known()}"
                    " (e.g. concurrent_tasks=5,daily_usd=2.5)"
                )
            if name in out:
                raise InvalidArgument(f"{where}: {name} is given twice")
            try:
                limit = float(value)
            except ValueError:
                raise InvalidArgument(f"{where}: {value!r} is not a number") from None
            check_limit(name, limit, where)
            out[name] = limit
        return out


@dataclass(frozen=True, slots=True)
class Usage:
    """What the caller measured now: active tasks from the engine, today's tokens, USD and
    exports from metering, for the owner and for their tenant."""

    active_owner: int = 0
    active_tenant: int = 0
    tokens_owner: int = 0
    tokens_tenant: int = 0
    usd_owner: float = 0.0
    usd_tenant: float = 0.0
    exports_owner: int = 0
    exports_tenant: int = 0

    def of(self, quota: str, scope: str) -> float:
        measure = {
            "concurrent_tasks": "active",
            "daily_tokens": "tokens",
            "daily_usd": "usd",
            "daily_exports": "exports",
        }[quota]
        value: float = getattr(self, f"{measure}_{scope}")
        return value


@dataclass(frozen=True, slots=True)
class QuotaState:
    """One quota for one subject, as GetQuotaStatus shows it."""

    quota: str
    scope: str
    subject: str
    usage: float
    limit: float  # 0: unlimited
    resets_ns: int  # 0 for concurrent_tasks
    source: str  # "default" | "set"

    @property
    def exhausted(self) -> bool:
        """At the limit counts: one more task or export would go over it."""
        return self.limit > 0 and self.usage >= self.limit


def _when(ns: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


class QuotaExceeded(ResourceExhausted):
    """A refused submit or export: nothing was stored, so the caller can retry as it is."""

    def __init__(
        self, quota: str, scope: str, subject: str, usage: float, limit: float, resets_ns: int
    ) -> None:
        self.quota, self.scope, self.subject = quota, scope, subject
        self.usage, self.limit, self.resets_ns = usage, limit, resets_ns
        unit = QUOTA_UNITS.get(quota, "")
        head = f"quota {quota} of {scope} {subject!r} is used up: "
        if quota == "concurrent_tasks":
            tail = f"{figure(usage)} of {figure(limit)} {unit}; it frees up when one of them ends"
        else:
            tail = (
                f"{figure(usage)} of {figure(limit)} {unit} today; it resets at {_when(resets_ns)}"
            )
        super().__init__(head + tail)

    @classmethod
    def of(cls, state: QuotaState) -> QuotaExceeded:
        return cls(
            state.quota, state.scope, state.subject, state.usage, state.limit, state.resets_ns
        )


def resets_at(quota: str, now_ns: int) -> int:
    """Daily quotas reset at the next UTC midnight; concurrent_tasks frees up as tasks end."""
    if quota not in QUOTAS:
        raise InvalidArgument(f"{quota!r} is not a quota; known quotas: {_known()}")
    if quota == "concurrent_tasks":
        return 0
    # Unix time has no leap seconds, so UTC midnights are exact multiples of a day.
    return (now_ns // DAY_NS + 1) * DAY_NS


def day_of(ns: int) -> str:
    """The UTC day (YYYY-MM-DD) an instant falls on: the day metering counts it on."""
    return (_EPOCH + timedelta(days=ns // DAY_NS)).isoformat()


def _quotas_for(action: str) -> tuple[str, ...]:
    if action == "":
        return QUOTAS
    if action not in ACTION_QUOTAS:
        raise InvalidArgument(
            f"quota action {action!r} is not one of {', '.join(ACTION_QUOTAS)} ('' for every quota)"
        )
    return ACTION_QUOTAS[action]


def evaluate(
    action: str,
    owner: str,
    tenant: str,
    usage: Usage,
    settings: Mapping[tuple[str, str], Mapping[str, QuotaSetting]],
    defaults: QuotaDefaults,
    now_ns: int,
) -> list[QuotaState]:
    """The quotas `action` counts against ("" for all of them), the owner's first. `settings`
    maps (scope, subject) to the limits someone set, by quota; a set limit, even 0, overrides
    the default. A tenant quota is shown only when it limits something or was set."""
    if not owner:
        raise InvalidArgument("a quota needs an owner; pass the caller's subject")
    subjects = [("owner", owner)] + ([("tenant", tenant)] if tenant else [])
    states: list[QuotaState] = []
    for scope, subject in subjects:
        chosen = settings.get((scope, subject), {})
        for quota in _quotas_for(action):
            setting = chosen.get(quota)
            limit = setting.limit if setting is not None else defaults.limit(scope, quota)
            if scope == "tenant" and setting is None and limit == 0:
                continue
            states.append(
                QuotaState(
                    quota=quota,
                    scope=scope,
                    subject=subject,
                    usage=usage.of(quota, scope),
                    limit=limit,
                    resets_ns=resets_at(quota, now_ns),
                    source="default" if setting is None else "set",
                )
            )
    return states


def check(action: str, states: Sequence[QuotaState]) -> None:
    """Raises QuotaExceeded for the first quota of `action` that is used up: at the limit is
    used up, since the task or export being asked for would go over it."""
    if action not in ACTION_QUOTAS:
        raise InvalidArgument(f"quota action {action!r} is not one of {', '.join(ACTION_QUOTAS)}")
    counted = ACTION_QUOTAS[action]
    for state in states:
        if state.quota in counted and state.exhausted:
            raise QuotaExceeded.of(state)
