"""Statistics kept incrementally: each summary write moves one task between aggregate rows.

One row per (creation day, tenant, owner, plan, mode, state) holds counts, cost sums and a
log-bucketed histogram of durations. A summary write subtracts the task's old contribution and
adds its new one in the same transaction, so GetStats reads a handful of rows instead of every
task, and is exact for counts and sums and within 5% for duration percentiles.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from agentledger.core.db import Driver
from agentledger.core.errors import InvalidArgument
from services.trace_store.domain import schema
from services.trace_store.domain.model import Stats, TaskFilter, TaskIndex

NS_PER_DAY = 86_400 * 1_000_000_000
# Bucket b holds durations in [GROWTH^(b-1), GROWTH^b) ms; bucket 0 holds 0 ms. The geometric
# middle of a bucket is within sqrt(1.1) - 1 < 5% of any value in it.
GROWTH = 1.1
_LOG_GROWTH = math.log(GROWTH)


def duration_bucket(ms: int) -> int:
    return 0 if ms < 1 else 1 + int(math.log(ms) / _LOG_GROWTH)


def bucket_value(bucket: int) -> float:
    return 0.0 if bucket == 0 else GROWTH ** (bucket - 0.5)


def percentile(hist: Counter[int], q: float) -> float:
    total = sum(hist.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    return bucket_value(max(hist))


def _key(index: TaskIndex) -> tuple[object, ...]:
    """The aggregate row of a task, in _KEY_COLUMNS order."""
    return (
        index.created_ns // NS_PER_DAY,
        index.tenant,
        index.owner,
        index.plan_id,
        index.mode,
        index.state,
    )


_KEY_COLUMNS = ("day", "tenant", "owner", "plan_id", "mode", "state")
_WHERE_KEY = " AND ".join(f"{c} = ?" for c in _KEY_COLUMNS)
_ENSURE = (
    f"INSERT INTO ts_stats ({', '.join(_KEY_COLUMNS)}, task_count, cost_usd, tokens, degraded, "
    "paused, ended, duration_hist) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, '{}') "
    "ON CONFLICT DO NOTHING"
)
_ADD = (
    "UPDATE ts_stats SET task_count = task_count + ?, cost_usd = cost_usd + ?, "
    "tokens = tokens + ?, degraded = degraded + ?, paused = paused + ?, ended = ended + ? "
    f"WHERE {_WHERE_KEY}"
)


@dataclass
class _Delta:
    count: int = 0
    cost: float = 0.0
    tokens: int = 0
    degraded: int = 0
    paused: int = 0
    ended: int = 0
    hist: Counter[int] = field(default_factory=Counter)

    def add(self, index: TaskIndex, sign: int) -> None:
        self.count += sign
        self.cost += sign * index.cost_usd
        self.tokens += sign * index.tokens
        self.degraded += sign * (index.degrade_count > 0)
        self.paused += sign * (index.pause_count > 0)
        if index.ended_ns:
            self.ended += sign
            self.hist[duration_bucket(index.duration_ms)] += sign

    @property
    def empty(self) -> bool:
        return not (
            self.count or self.cost or self.tokens or self.degraded or self.paused or self.ended
        ) and not any(self.hist.values())


class StatsKeeper:
    def apply(self, db: Driver, old: TaskIndex | None, new: TaskIndex) -> None:
        """Moves the task's contribution from its old aggregate row to its new one; when both
        are the same row (a running task's cost grew), one update carries the difference."""
        deltas: dict[tuple[object, ...], _Delta] = {}
        if old is not None:
            deltas.setdefault(_key(old), _Delta()).add(old, -1)
        deltas.setdefault(_key(new), _Delta()).add(new, +1)
        for key, d in deltas.items():
            if d.empty:
                continue
            db.execute(_ENSURE, key)
            db.execute(_ADD, (d.count, d.cost, d.tokens, d.degraded, d.paused, d.ended, *key))
            if any(d.hist.values()):
                raw = db.execute(
                    f"SELECT duration_hist FROM ts_stats WHERE {_WHERE_KEY}{db.for_update}", key
                ).fetchone()[0]
                hist = Counter({int(k): v for k, v in json.loads(raw).items()})
                hist.update(d.hist)
                doc = json.dumps({str(k): v for k, v in sorted(hist.items()) if v})
                db.execute(f"UPDATE ts_stats SET duration_hist = ? WHERE {_WHERE_KEY}", (doc, *key))

    def read(self, conn: Connection, flt: TaskFilter) -> Stats:
        unsupported = [
            name
            for name, value in (
                ("task_ids", flt.task_ids),
                ("failure_types", flt.failure_types),
                ("goal_statuses", flt.goal_statuses),
                ("min_cost_usd", flt.min_cost_usd),
                ("max_cost_usd", flt.max_cost_usd),
            )
            if value
        ]
        if unsupported:
            raise InvalidArgument(
                f"statistics cannot be filtered by {', '.join(unsupported)}; they are kept per "
                "creation day, tenant, owner, plan, mode and state (use QueryTasks for the others)"
            )
        t = schema.stats
        q = select(t)
        for column, values in (
            ("tenant", flt.tenants),
            ("owner", flt.owners),
            ("plan_id", flt.plan_ids),
            ("mode", flt.modes),
            ("state", flt.states),
        ):
            if values:
                q = q.where(t.c[column].in_(values))
        if flt.created_from_ns:
            q = q.where(t.c.day >= flt.created_from_ns // NS_PER_DAY)
        if flt.created_to_ns:
            q = q.where(t.c.day <= (flt.created_to_ns - 1) // NS_PER_DAY)
        return _combine(conn.execute(q).mappings())


def _combine(rows: Iterable[object]) -> Stats:
    count = tokens = ended = degraded = paused = 0
    cost = 0.0
    by_state: Counter[str] = Counter()
    hist: Counter[int] = Counter()
    for r in rows:
        row = dict(r)  # type: ignore[call-overload]
        count += row["task_count"]
        by_state[row["state"]] += row["task_count"]
        cost += row["cost_usd"]
        tokens += row["tokens"]
        degraded += row["degraded"]
        paused += row["paused"]
        ended += row["ended"]
        hist.update({int(k): v for k, v in json.loads(row["duration_hist"]).items()})
    return Stats(
        task_count=count,
        by_state={s: n for s, n in sorted(by_state.items()) if n},
        cost_usd_sum=round(cost, 9),
        tokens_sum=tokens,
        ended_count=ended,
        duration_p50_ms=percentile(hist, 0.50),
        duration_p95_ms=percentile(hist, 0.95),
        degrade_rate=degraded / count if count else 0.0,
        pause_rate=paused / count if count else 0.0,
    )
