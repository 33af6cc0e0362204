"""The append-only event log: gap-free per-task sequence numbers, idempotent batches, pages.

Appending takes the task's row lock (``UPDATE ... RETURNING last_seq``), so sequence numbers are
assigned in commit order by every replica alike, and a rolled-back batch leaves no gap. The
fast path inserts the whole batch at once and lets the unique (task_id, event_id) index detect a
retried batch; only then does the slow path look up which events are already stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from sqlalchemy import Engine

from agentledger.core.clock import Clock
from agentledger.core.db import UNIQUE_VIOLATIONS, Driver, driver_transaction
from agentledger.core.errors import Conflict, InvalidArgument, NotFound
from services.trace_store.domain.ingest import EventLike, Ingestor
from services.trace_store.domain.model import (
    AppendResult,
    EventFilter,
    EventPage,
    LiveEvent,
    PreparedEvent,
    StoredEvent,
)

_COLUMNS = "task_no, seq, event_id, type, phase, node_id, severity, wire"
_SELECT = "SELECT seq, wire FROM ts_events"
_INSERT = f"INSERT INTO ts_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_LIVE = (
    "SELECT seq, wire, type, phase, node_id, severity FROM ts_events "
    "WHERE task_no = ? AND seq > ? AND seq <= ? ORDER BY seq"
)
_HEAD = "SELECT task_no, last_seq, state, version FROM ts_tasks WHERE task_id = ?"
_CLAIM = "UPDATE ts_tasks SET last_seq = last_seq + ? WHERE task_id = ? RETURNING task_no, last_seq"
_PG_COPY = f"COPY ts_events ({_COLUMNS}) FROM STDIN"

MAX_PAGE = 1000
MAX_FILTER_VALUES = 100


# Called inside the append transaction, after the rows are written: PostgreSQL replicas use it
# to NOTIFY (delivered on commit, so never for a batch that rolled back).
OnAppend = Callable[[Driver, str, int], None]


def unknown_task(task_id: str) -> NotFound:
    return NotFound(f"task {task_id!r} does not exist in the trace store (PutSummary creates it)")


class EventLog:
    def __init__(
        self, engine: Engine, ingestor: Ingestor, clock: Clock, on_append: OnAppend | None = None
    ) -> None:
        self._engine = engine
        self._ingestor = ingestor
        self._clock = clock
        self._on_append = on_append

    # ------------------------------------------------------------------ writing

    def append(self, task_id: str, batch: Sequence[EventLike]) -> AppendResult:
        """Stores the batch atomically; events already stored (same event_id) are not repeated."""
        return self.write(task_id, self.prepare(task_id, batch))

    def prepare(self, task_id: str, batch: Sequence[EventLike]) -> list[PreparedEvent]:
        """The CPU half of an append (validation, redaction, encoding), apart from the database."""
        return self._ingestor.events(task_id, batch, self._clock.now_ns())

    def write(self, task_id: str, prepared: list[PreparedEvent]) -> AppendResult:
        """The database half of an append, for events that ``prepare`` returned."""
        try:
            return self._append(task_id, prepared, known={})
        except UNIQUE_VIOLATIONS:
            pass  # a retried batch: some event ids are stored already
        known = self._stored_ids(task_id, [p[0] for p in prepared])
        try:
            return self._append(task_id, prepared, known)
        except UNIQUE_VIOLATIONS:
            raise Conflict(
                f"events of this batch were appended to task {task_id!r} concurrently by "
                "another call; retry the batch (it is idempotent)"
            ) from None

    def _append(
        self, task_id: str, prepared: list[PreparedEvent], known: dict[str, tuple[int, str]]
    ) -> AppendResult:
        for p in prepared:
            if p[0] in known and known[p[0]][1] != p[1]:
                raise InvalidArgument(
                    f"event_id {p[0]!r} is already stored with type {known[p[0]][1]!r}, "
                    f"not {p[1]!r}; event ids must be unique within a task"
                )
        fresh = [p for p in prepared if p[0] not in known] if known else prepared
        with driver_transaction(self._engine, write=True) as db:
            # The task row's lock orders appends: numbers are assigned in commit order.
            row = db.execute(_CLAIM, (len(fresh), task_id)).fetchone()
            if row is None:
                raise unknown_task(task_id)
            task_no, last_seq = int(row[0]), int(row[1])
            first = last_seq - len(fresh) + 1
            if fresh:
                rows = [(task_no, first + i, *p) for i, p in enumerate(fresh)]
                if db.sqlite:
                    db.raw.executemany(_INSERT, rows)
                else:
                    with db.raw.cursor() as cur, cur.copy(_PG_COPY) as copy:
                        for r in rows:
                            copy.write_row(r)
                if self._on_append is not None:
                    self._on_append(db, task_id, last_seq)
        if known:
            new_seq = {p[0]: first + i for i, p in enumerate(fresh)}
            seqs = [known[p[0]][0] if p[0] in known else new_seq[p[0]] for p in prepared]
        else:
            seqs = list(range(first, last_seq + 1))
        return AppendResult(
            seqs=seqs,
            duplicates=len(prepared) - len(fresh),
            last_seq=last_seq,
            first_seq=first,
            fresh=fresh,
        )

    def _stored_ids(self, task_id: str, event_ids: list[str]) -> dict[str, tuple[int, str]]:
        found: dict[str, tuple[int, str]] = {}
        with driver_transaction(self._engine, write=False) as db:
            task_no = self._head(db, task_id)[0]
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT event_id, seq, type FROM ts_events WHERE task_no = ? AND event_id IN ({marks})"
                for event_id, seq, etype in db.execute(sql, (task_no, *chunk)).fetchall():
                    found[event_id] = (int(seq), etype)
        return found

    # ------------------------------------------------------------------ reading

    @staticmethod
    def _head(db: Driver, task_id: str) -> tuple[int, int, str, int]:
        """The task's number, last sequence number, state and summary version."""
        row = db.execute(_HEAD, (task_id,)).fetchone()
        if row is None:
            raise unknown_task(task_id)
        return int(row[0]), int(row[1]), str(row[2]), int(row[3])

    def page(self, task_id: str, after_seq: int, limit: int, flt: EventFilter) -> EventPage:
        """Events with seq > after_seq matching the filter, at most ``limit``, in order."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit {limit} is out of range; use 1..{MAX_PAGE}")
        if after_seq < 0:
            raise InvalidArgument(f"position {after_seq} is negative")
        where: list[str] = ["task_no = ?", "seq > ?"]
        params: list[object] = [0, after_seq]
        for column, values in (
            ("type", flt.types),
            ("phase", flt.phases),
            ("node_id", flt.node_ids),
        ):
            if len(values) > MAX_FILTER_VALUES:
                raise InvalidArgument(
                    f"filter {column} has {len(values)} values; the limit is {MAX_FILTER_VALUES}"
                )
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(sorted(values))
        if flt.min_severity:
            where.append("severity >= ?")
            params.append(flt.min_severity)
        params.append(limit + 1)
        # Straight on the driver: pages are the read hot path. The head is read first, so an
        # event appended meanwhile is either in this page or after its end position.
        with driver_transaction(self._engine, write=False) as db:
            task_no, last_seq, state, version = self._head(db, task_id)
            params[0] = task_no
            sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
            raw = db.execute(sql, params).fetchall()
        # Rows are (seq, wire) tuples already: the shape of StoredEvent, without a copy each.
        events = cast(list[StoredEvent], raw[:limit])
        if len(raw) > limit:
            return EventPage(events, events[-1][0], True, last_seq, state, version)
        scanned_to = max(last_seq, events[-1][0] if events else after_seq)
        return EventPage(events, max(scanned_to, after_seq), False, last_seq, state, version)

    def live_range(self, task_id: str, after_seq: int, upto_seq: int) -> list[LiveEvent]:
        """Events after_seq < seq <= upto_seq with what live filters read (for followers of
        appends made through another replica)."""
        with driver_transaction(self._engine, write=False) as db:
            task_no = self._head(db, task_id)[0]
            rows = db.execute(_LIVE, (task_no, after_seq, upto_seq)).fetchall()
        return [LiveEvent._make(r) for r in rows]
