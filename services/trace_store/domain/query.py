"""QueryTasks: the task index searched by filter, sorted, and paged by keyset (never OFFSET)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, tuple_

from agentledger.core.errors import InvalidArgument
from services.trace_store.domain import schema
from services.trace_store.domain.cursors import decode_task_cursor, encode_task_cursor
from services.trace_store.domain.model import TaskFilter, TaskIndex, TaskPage, TaskRow, TaskSort

MAX_LIMIT = 1000
_SORT_COLUMN = {
    TaskSort.CREATED: "created_ns",
    TaskSort.UPDATED: "updated_ns",
    TaskSort.COST: "cost_usd",
    TaskSort.DURATION: "duration_ms",
}
_INDEX_FIELDS = [f for f in TaskIndex.__dataclass_fields__]


MAX_FILTER_VALUES = 1000


def validate_filter(flt: TaskFilter) -> None:
    for name in (
        "task_ids",
        "failure_types",
        "modes",
        "states",
        "goal_statuses",
        "owners",
        "plan_ids",
        "tenants",
    ):
        if len(getattr(flt, name)) > MAX_FILTER_VALUES:
            raise InvalidArgument(
                f"filter {name} has {len(getattr(flt, name))} values; the limit is {MAX_FILTER_VALUES}"
            )
    for name in ("min_cost_usd", "max_cost_usd", "created_from_ns", "created_to_ns"):
        value = getattr(flt, name)
        if value != value or value < 0:
            raise InvalidArgument(f"filter {name} must be a number >= 0, got {value}")
    if flt.max_cost_usd and flt.min_cost_usd > flt.max_cost_usd:
        raise InvalidArgument(
            f"filter cost range is empty: min_cost_usd {flt.min_cost_usd} > max_cost_usd {flt.max_cost_usd}"
        )
    if flt.created_to_ns and flt.created_from_ns >= flt.created_to_ns:
        raise InvalidArgument("filter created range is empty: start must be before end")


class TaskQuery:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def run(self, flt: TaskFilter, sort: str, ascending: bool, limit: int, cursor: str) -> TaskPage:
        if sort not in _SORT_COLUMN:
            raise InvalidArgument(f"sort {sort!r} is not one of {', '.join(TaskSort.ALL)}")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidArgument(f"limit {limit} is out of range; use 1..{MAX_LIMIT}")
        validate_filter(flt)
        t = schema.tasks
        key = t.c[_SORT_COLUMN[sort]]
        q = select(t)
        for column, values in (
            ("task_id", flt.task_ids),
            ("failure_type", flt.failure_types),
            ("mode", flt.modes),
            ("state", flt.states),
            ("goal_status", flt.goal_statuses),
            ("owner", flt.owners),
            ("plan_id", flt.plan_ids),
            ("tenant", flt.tenants),
        ):
            if values:
                q = q.where(t.c[column].in_(values))
        if flt.created_from_ns:
            q = q.where(t.c.created_ns >= flt.created_from_ns)
        if flt.created_to_ns:
            q = q.where(t.c.created_ns < flt.created_to_ns)
        if flt.min_cost_usd:
            q = q.where(t.c.cost_usd >= flt.min_cost_usd)
        if flt.max_cost_usd:
            q = q.where(t.c.cost_usd <= flt.max_cost_usd)
        after = decode_task_cursor(cursor, sort, ascending)
        if after is not None:
            position = tuple_(key, t.c.task_id)
            q = q.where(position > after if ascending else position < after)
        order = (key.asc(), t.c.task_id.asc()) if ascending else (key.desc(), t.c.task_id.desc())
        q = q.order_by(*order).limit(limit + 1)
        with self._engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        page = [_row(r) for r in rows[:limit]]
        next_cursor = ""
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_task_cursor(sort, ascending, last[key.name], last["task_id"])
        return TaskPage(page, next_cursor)


def _row(r: Any) -> TaskRow:
    index = TaskIndex(**{f: r[f] for f in _INDEX_FIELDS})
    return TaskRow(index=index, duration_ms=int(r["duration_ms"]), last_seq=int(r["last_seq"]))
