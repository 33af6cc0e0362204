"""Task summaries and the task index row derived from them, with a read-through cache.

Cache rule: an entry holds the highest summary version this process has seen. A local write
replaces it after commit; a write by another replica (announced with its version on PostgreSQL)
turns it into a tombstone at that version, so a slower read of an older version can never put
the stale summary back. ``last_seq`` moves with every append and is bumped in place.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from agentledger.core.clock import Clock
from agentledger.core.db import UNIQUE_VIOLATIONS, Driver, driver_transaction
from agentledger.core.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from services.trace_store.domain.ingest import Ingestor, check_task_id
from services.trace_store.domain.model import Stats, Summary, TaskFilter, TaskIndex
from services.trace_store.domain.stats import StatsKeeper

# Called inside the write transaction after the summary is written (for NOTIFY on PostgreSQL).
OnSummary = Callable[[Driver, str, int, str], None]

# TaskIndex's fields in order: rows are read and written positionally on the hot path.
_INDEX_COLUMNS = list(TaskIndex.__dataclass_fields__)
_COLS = ", ".join(_INDEX_COLUMNS)
_SELECT_TASK = f"SELECT {_COLS}, version, last_seq FROM ts_tasks WHERE task_id = ?"
_SELECT_SUMMARY = (
    f"SELECT {', '.join('t.' + c for c in _INDEX_COLUMNS)}, t.version, t.last_seq, s.document "
    "FROM ts_tasks t JOIN ts_summaries s ON s.task_id = t.task_id WHERE t.task_id = ?"
)
_INSERT_TASK = (
    f"INSERT INTO ts_tasks ({_COLS}, duration_ms, version, last_seq) "
    f"VALUES ({', '.join('?' * len(_INDEX_COLUMNS))}, ?, ?, 0)"
)
_UPDATE_TASK = (
    f"UPDATE ts_tasks SET {', '.join(c + ' = ?' for c in _INDEX_COLUMNS)}, duration_ms = ?, "
    "version = ? WHERE task_id = ?"
)
_INSERT_SUMMARY = "INSERT INTO ts_summaries (task_id, version, document) VALUES (?, ?, ?)"
_UPDATE_SUMMARY = "UPDATE ts_summaries SET version = ?, document = ? WHERE task_id = ?"


class SummaryCache:
    """LRU of summaries by task; thread-safe; never goes back to an older version."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, Summary | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, task_id: str) -> Summary | None:
        with self._lock:
            entry = self._entries.get(task_id)
            if entry is None or entry[1] is None:
                return None
            self._entries.move_to_end(task_id)
            return entry[1]

    def offer(self, summary: Summary) -> None:
        self._set(summary.index.task_id, summary.version, summary)

    def invalidate(self, task_id: str, version: int) -> None:
        self._set(task_id, version, None)

    def bump_last_seq(self, task_id: str, last_seq: int) -> None:
        with self._lock:
            entry = self._entries.get(task_id)
            if entry is not None and entry[1] is not None and entry[1].last_seq < last_seq:
                self._entries[task_id] = (entry[0], replace(entry[1], last_seq=last_seq))

    def _set(self, task_id: str, version: int, summary: Summary | None) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            entry = self._entries.get(task_id)
            if entry is not None and entry[0] > version:
                return  # older than what this process knows exists: stale
            self._entries[task_id] = (version, summary)
            self._entries.move_to_end(task_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)


class SummaryStore:
    def __init__(
        self,
        engine: Engine,
        ingestor: Ingestor,
        clock: Clock,
        cache: SummaryCache,
        on_summary: OnSummary | None = None,
    ) -> None:
        self._engine = engine
        self._ingestor = ingestor
        self._clock = clock
        self.cache = cache
        self._stats = StatsKeeper()
        self._on_summary = on_summary

    def put(self, index: TaskIndex, document: dict[str, Any], expected_version: int = 0) -> Summary:
        """Creates or replaces the summary; the index row and statistics follow in one commit."""
        try:
            return self._put(index, document, expected_version)
        except UNIQUE_VIOLATIONS:
            # Two replicas created the same task at once; the other one won.
            raise Conflict(
                f"summary of task {index.task_id!r} was created concurrently by another writer; "
                "read it and retry"
            ) from None

    def _put(self, index: TaskIndex, document: dict[str, Any], expected_version: int) -> Summary:
        _validate(index)
        raw = self._ingestor.summary_document(document)
        now = self._clock.now_ns()
        task_id = index.task_id
        with driver_transaction(self._engine, write=True) as db:
            row = db.execute(_SELECT_TASK + db.for_update, (task_id,)).fetchone()
            old = _index_from_row(row) if row else None
            old_version, last_seq = (int(row[-2]), int(row[-1])) if row else (0, 0)
            if expected_version and expected_version != old_version:
                raise Conflict(
                    f"summary of task {task_id!r} is at version {old_version}, not "
                    f"{expected_version}; read it again and retry"
                )
            if old is not None and old.owner != index.owner:
                raise FailedPrecondition(
                    f"task {task_id!r} belongs to {old.owner!r}; a summary cannot change its owner"
                )
            new = replace(
                index,
                created_ns=(old.created_ns if old else 0) or index.created_ns or now,
                updated_ns=index.updated_ns or now,
            )
            values = [getattr(new, c) for c in _INDEX_COLUMNS]
            version = old_version + 1
            if old is None:
                db.execute(_INSERT_TASK, (*values, new.duration_ms, version))
                db.execute(_INSERT_SUMMARY, (task_id, version, raw))
            else:
                db.execute(_UPDATE_TASK, (*values, new.duration_ms, version, task_id))
                db.execute(_UPDATE_SUMMARY, (version, raw, task_id))
            self._stats.apply(db, old, new)
            if self._on_summary is not None:
                self._on_summary(db, task_id, version, new.state)
        summary = Summary(new, raw, version, last_seq)
        self.cache.offer(summary)
        return summary

    def get(self, task_id: str) -> Summary:
        cached = self.cache.get(task_id)
        if cached is not None:
            return cached
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(_SELECT_SUMMARY, (task_id,)).fetchone()
        if row is None:
            raise NotFound(f"task {task_id!r} has no summary in the trace store")
        summary = Summary(_index_from_row(row), bytes(row[-1]), int(row[-3]), int(row[-2]))
        self.cache.offer(summary)
        return summary

    def read_stats(self, flt: TaskFilter) -> Stats:
        with self._engine.connect() as conn:
            return self._stats.read(conn, flt)


def _index_from_row(row: Sequence[Any]) -> TaskIndex:
    """The index fields from a row that starts with _INDEX_COLUMNS in order."""
    return TaskIndex(*row[: len(_INDEX_COLUMNS)])


# The widths of the index columns (schema.py): longer values are refused by name, not truncated.
_MAX_CHARS = {
    "owner": 256,
    "tenant": 256,
    "plan_id": 256,
    "plan_version": 64,
    "mode": 32,
    "state": 32,
    "goal_status": 32,
    "failure_type": 32,
}


def _validate(index: TaskIndex) -> None:
    check_task_id(index.task_id)
    for name, limit in _MAX_CHARS.items():
        if len(getattr(index, name)) > limit:
            raise InvalidArgument(
                f"summary of task {index.task_id!r}: {name} is longer than {limit} characters"
            )
    if not index.owner:
        raise InvalidArgument(f"summary of task {index.task_id!r} has no owner; every task has one")
    for name in (
        "cost_usd",
        "tokens",
        "created_ns",
        "updated_ns",
        "ended_ns",
        "degrade_count",
        "pause_count",
    ):
        value = getattr(index, name)
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument(
                f"summary of task {index.task_id!r}: {name} must be >= 0, got {value}"
            )
    if index.ended_ns and index.created_ns and index.ended_ns < index.created_ns:
        raise InvalidArgument(f"summary of task {index.task_id!r}: ended before it was created")
