"""The tamper-evident audit log (SPEC 1.6): append-only records in one sha256 hash chain.

Each record's hash covers every column but itself, including its ``seq`` and the previous
record's hash, so changing, removing or reordering a record breaks the chain at that record.
Appends are serialized in the database (an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite), so any number of replicas extend one chain and never fork it. The hash is unkeyed:
someone with write access who rewrites the whole tail consistently is caught only by comparing
the head with one witnessed earlier (``verify(expect_head=...)``), so keep a copy of the head.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from agentledger.core.clock import Clock
from agentledger.core.db import Driver, driver_transaction
from agentledger.core.errors import InvalidArgument, Unavailable
from agentledger.core.ids import new_uuid7

log = logging.getLogger("agentledger.audit")

GENESIS = "0" * 64
MAX_PAGE = 1000
# Any fixed 64-bit id: every replica on the database takes the same lock before it appends.
_LOCK_ID = int.from_bytes(hashlib.sha256(b"agentledger.sec_audit").digest()[:8], "big", signed=True)
# Column widths of the table: longer values are clipped before hashing, so a long header from a
# client can neither make the insert fail (and refuse the action) nor break the chain.
_WIDTHS = {
    "actor": 256,
    "role": 32,
    "tenant": 256,
    "action": 64,
    "object_type": 32,
    "object_id": 256,
    "object_owner": 256,
    "source": 256,
}
COLUMNS = (
    "seq",
    "record_id",
    "at_unix_nano",
    "actor",
    "role",
    "tenant",
    "action",
    "object_type",
    "object_id",
    "object_owner",
    "allowed",
    "reason",
    "source",
    "recorded_by",
    "details_json",
    "prev_hash",
    "hash",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM sec_audit"
_INSERT = f"INSERT INTO sec_audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _details_json(details: Mapping[str, Any]) -> str:
    try:
        return orjson.dumps(dict(details), option=orjson.OPT_SORT_KEYS).decode()
    except TypeError as exc:
        raise InvalidArgument(f"audit details must be JSON-able: {exc}") from None


@dataclass(frozen=True)
class AuditEntry:
    """What a caller records: who did what to which object, allowed or not and why, from where."""

    action: str  # "task.view", "task.export", "task.retry", "token.create", "rpc.denied", ...
    allowed: bool
    actor: str = ""
    role: str = ""
    tenant: str = ""
    object_type: str = ""
    object_id: str = ""
    object_owner: str = ""
    reason: str = ""
    source: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.action:
            raise InvalidArgument("an audit entry needs an action, e.g. 'task.view'")
        # Fails here, at the caller, rather than in a batch shared with other callers.
        _details_json(self.details)


@dataclass(frozen=True)
class AuditRecord:
    """A stored record: the entry, its place in the chain, and the hashes that link it."""

    seq: int
    record_id: str
    at_unix_nano: int
    action: str
    allowed: bool
    actor: str
    role: str
    tenant: str
    object_type: str
    object_id: str
    object_owner: str
    reason: str
    source: str
    recorded_by: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["details"] = dict(self.details)
        at = datetime.fromtimestamp(self.at_unix_nano / 1e9, UTC)
        out["at"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return out


def _canonical(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in COLUMNS[:-1]:
        value = row[name]
        if name in ("seq", "at_unix_nano"):
            out[name] = int(value)
        elif name == "allowed":
            out[name] = bool(value)  # SQLite stores 0/1, PostgreSQL a boolean
        else:
            out[name] = str(value)
    return out


def record_hash(row: Mapping[str, Any]) -> str:
    """sha256 (hex) of a record's columns, all but ``hash``, as JSON with sorted keys."""
    return _digest(_canonical(row))


def _digest(canonical: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _record(row: Sequence[Any]) -> AuditRecord:
    c = dict(zip(COLUMNS, row, strict=True))
    raw = c.pop("details_json")
    try:
        details = orjson.loads(raw)
    except orjson.JSONDecodeError:
        details = None  # tampered with; `verify` names it, reading must still work
    c["allowed"] = bool(c["allowed"])
    return AuditRecord(details=details if isinstance(details, dict) else {"raw": raw}, **c)


@dataclass(frozen=True)
class VerifyReport:
    """The result of walking the chain. When not ok, ``checked`` and ``head_*`` describe the
    intact prefix before ``first_bad_seq``."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""


class AuditLog:
    """The audit table; blocking database work, for a worker thread (see ``AuditWriter``)."""

    def __init__(self, engine: Engine, clock: Clock, *, recorded_by: str) -> None:
        self._engine = engine
        self._clock = clock
        self._recorded_by = recorded_by[:64]

    def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Appends the entries, in order, in one transaction; returns them as stored."""
        if not entries:
            return []
        prepared = [_columns(e, self._recorded_by) for e in entries]
        with driver_transaction(self._engine, write=True) as db:
            if not db.sqlite:
                db.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_ID,))
            seq, prev = _head(db)
            now = self._clock.now_ns()
            for cols in prepared:
                seq += 1
                cols |= {"seq": seq, "at_unix_nano": now, "prev_hash": prev}
                cols["record_id"] = str(new_uuid7(now))
                # _columns made every value canonical already: hash without another copy.
                cols["hash"] = prev = _digest(cols)
            db.executemany(_INSERT, [tuple(cols[name] for name in COLUMNS) for cols in prepared])
        return [
            AuditRecord(**{k: v for k, v in cols.items() if k != "details_json"}, details=e.details)
            for e, cols in zip(entries, prepared, strict=True)
        ]

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last record; (0, GENESIS) when the log is empty."""
        with driver_transaction(self._engine, write=False) as db:
            return _head(db)

    def page(
        self,
        *,
        owner: str | None = None,
        actor: str | None = None,
        object_id: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> tuple[list[AuditRecord], int | None]:
        """Records after ``after_seq`` in chain order, and the cursor for the next page (None at
        the end). ``owner`` (an Owner's view) keeps records about their objects or by them;
        None means every record (an Admin's view)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit {limit} is out of range; use 1..{MAX_PAGE}")
        if after_seq < 0:
            raise InvalidArgument(f"after {after_seq} is not a cursor; pass 0 or a next cursor")
        where = ["seq > ?"]
        params: list[Any] = [after_seq]
        if owner is not None:
            where.append("(object_owner = ? OR actor = ?)")
            params += [owner, owner]
        for column, value in (("actor", actor), ("object_id", object_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        with driver_transaction(self._engine, write=False) as db:
            rows = db.execute(sql, (*params, limit + 1)).fetchall()
        records = [_record(r) for r in rows[:limit]]
        return records, (records[-1].seq if len(rows) > limit else None)

    def verify(
        self, *, batch: int = 5000, expect_head: tuple[int, str] | None = None
    ) -> VerifyReport:
        """Walks the chain in order, ``batch`` records at a time, and names the first record
        that was altered, removed or reordered. ``expect_head`` (a head seen earlier) also
        catches records removed or replaced at the end, which the chain alone cannot show."""
        if batch < 1:
            raise InvalidArgument(f"batch {batch} must be at least 1")
        walk = _Walk(expect_head)
        while True:
            with driver_transaction(self._engine, write=False) as db:
                sql = f"{_SELECT} WHERE seq > ? ORDER BY seq LIMIT ?"
                rows = db.execute(sql, (walk.seq, batch)).fetchall()
            for row in rows:
                problem = walk.check(dict(zip(COLUMNS, row, strict=True)))
                if problem:
                    return walk.report(problem)
            if len(rows) < batch:
                return walk.report(walk.check_end())


def _columns(entry: AuditEntry, recorded_by: str) -> dict[str, Any]:
    """The columns of an entry, each of its canonical type (see ``_canonical``)."""
    cols: dict[str, Any] = {n: str(getattr(entry, n))[:w] for n, w in _WIDTHS.items()}
    cols.update(
        allowed=bool(entry.allowed),
        reason=str(entry.reason),
        recorded_by=recorded_by,
        details_json=_details_json(entry.details),
    )
    return cols


def _head(db: Driver) -> tuple[int, str]:
    row = db.execute("SELECT seq, hash FROM sec_audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


class _Walk:
    """The state of one verification: the last good record, and what was witnessed."""

    def __init__(self, expect_head: tuple[int, str] | None) -> None:
        self.seq, self.hash, self.checked = 0, GENESIS, 0
        self.expect = expect_head
        self.bad: int | None = None

    def check(self, row: dict[str, Any]) -> str:
        seq, rid, want = int(row["seq"]), row["record_id"], self.seq + 1
        if seq != want:  # rows come in seq order after self.seq, so seq > want
            self.bad = want
            if self.seq == 0:
                return f"record 1 is missing: the log starts at record {seq}"
            gap = f"{want}" if seq == want + 1 else f"{want}..{seq - 1}"
            return f"record {gap} is missing: {self.seq} is followed by {seq}"
        self.bad = seq
        if row["prev_hash"] != self.hash and self.seq == 0:
            return f"record 1 (id {rid}) does not start the chain: its prev_hash is not {GENESIS}"
        if row["prev_hash"] != self.hash:
            return (
                f"record {seq} (id {rid}) does not follow record {self.seq}: its prev_hash does "
                f"not match record {self.seq}'s hash (records were reordered, or record "
                f"{self.seq} was rewritten together with its hash)"
            )
        if record_hash(row) != row["hash"]:
            return f"record {seq} (id {rid}) was altered: its hash does not match its content"
        if self.expect and seq == self.expect[0] and row["hash"] != self.expect[1]:
            return (
                f"record {seq} (id {rid}) is not the record witnessed as the head: its hash "
                f"{row['hash'][:16]}... differs from {self.expect[1][:16]}... (the tail was replaced)"
            )
        self.bad, self.seq, self.hash = None, seq, row["hash"]
        self.checked += 1
        return ""

    def check_end(self) -> str:
        if self.expect and self.seq < self.expect[0]:
            self.bad = self.seq + 1
            return (
                f"record {self.seq + 1} is missing: the log ends at record {self.seq}, but "
                f"record {self.expect[0]} was witnessed as the head (the tail was removed)"
            )
        return ""

    def report(self, problem: str) -> VerifyReport:
        return VerifyReport(not problem, self.checked, self.seq, self.hash, self.bad, problem)


_Waiter = tuple[AuditEntry, "asyncio.Future[AuditRecord]"]


class AuditWriter:
    """Group commit for request handlers: ``record`` returns once its record is committed.

    One background drainer takes everything queued and appends it in one transaction in a
    worker thread, so 50 concurrent callers cost a handful of commits, not 50. If the append
    fails, every caller in that batch gets ``Unavailable``: no audit record, no action.
    """

    def __init__(self, log: AuditLog, *, max_batch: int = 512) -> None:
        self._log = log
        self._max_batch = max_batch
        self._queue: list[_Waiter] = []
        self._wakeup = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-append")

    async def record(self, entry: AuditEntry) -> AuditRecord:
        if self._closed:
            raise Unavailable("the audit log is closed; the action was refused")
        future: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        self._queue.append((entry, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="audit-writer")
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Writes what is queued, then stops the drainer and its thread."""
        self._closed = True
        self._wakeup.set()
        if self._drainer is not None:
            await self._drainer
        self._thread.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue:
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                    await self._write(loop, batch)
                if self._closed:
                    return
        finally:
            # Cancelled with callers still waiting (the loop is going away): refuse them.
            for _, future in self._queue:
                if not future.done():
                    future.set_exception(
                        Unavailable("the audit writer stopped; the action was refused")
                    )

    async def _write(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiter]) -> None:
        error = "the audit writer stopped before the record was written; the action was refused"
        try:
            entries = [entry for entry, _ in batch]
            records = await loop.run_in_executor(self._thread, self._log.append, entries)
            for (_, future), rec in zip(batch, records, strict=True):
                if not future.done():
                    future.set_result(rec)
        except Exception as exc:
            log.exception("audit append of %d records failed", len(batch))
            first_line = (str(exc).splitlines() or [""])[0][:200]
            error = (
                f"the audit log could not be written ({type(exc).__name__}: {first_line}); "
                "the action was refused"
            )
        finally:
            for _, future in batch:
                if not future.done():
                    future.set_exception(Unavailable(error))
