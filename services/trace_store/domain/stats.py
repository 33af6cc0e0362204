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

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite

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


def _key(index: TaskIndex) -> dict[str, object]:
    return {
        "day": index.created_ns // NS_PER_DAY,
        "tenant": index.tenant,
        "owner": index.owner,
        "plan_id": index.plan_id,
        "mode": index.mode,
        "state": index.state,
    }


class StatsKeeper:
    def __init__(self, sqlite_dialect: bool) -> None:
        self._insert = sqlite.insert if sqlite_dialect else postgresql.insert

    def apply(self, conn: Connection, old: TaskIndex | None, new: TaskIndex) -> None:
        """Moves the task's contribution from its old aggregate row to its new one."""
        if old is not None:
            self._add(conn, old, -1)
        self._add(conn, new, +1)

    def _add(self, conn: Connection, index: TaskIndex, sign: int) -> None:
        key = _key(index)
        t = schema.stats
        conn.execute(
            self._insert(t)
            .values(
                **key,
                task_count=0,
                cost_usd=0.0,
                tokens=0,
                degraded=0,
                paused=0,
                ended=0,
                duration_hist="{}",
            )
            .on_conflict_do_nothing()
        )
        match = and_(*(t.c[k] == v for k, v in key.items()))
        hist_sql = select(t.c.duration_hist).where(match)
        if conn.dialect.name != "sqlite":
            hist_sql = hist_sql.with_for_update()
        hist = Counter(
            {int(k): v for k, v in json.loads(conn.execute(hist_sql).scalar_one()).items()}
        )
        ended = 1 if index.ended_ns else 0
        if ended:
            hist[duration_bucket(index.duration_ms)] += sign
        conn.execute(
            update(t)
            .where(match)
            .values(
                task_count=t.c.task_count + sign,
                cost_usd=t.c.cost_usd + sign * index.cost_usd,
                tokens=t.c.tokens + sign * index.tokens,
                degraded=t.c.degraded + sign * (index.degrade_count > 0),
                paused=t.c.paused + sign * (index.pause_count > 0),
                ended=t.c.ended + sign * ended,
                duration_hist=json.dumps({str(k): v for k, v in sorted(hist.items()) if v}),
            )
        )

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
