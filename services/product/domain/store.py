"""The product service's tables behind plain methods: templates, metering, quotas and exports.

Every write is one statement or one short transaction, so any number of replicas share the
tables: metering rows are upserted in one ``INSERT ... ON CONFLICT`` and counters grow with
``x = x + n`` in the database, never by read-modify-write in Python.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Engine

from agentledger.core.db import UNIQUE_VIOLATIONS, driver_transaction
from agentledger.core.errors import AlreadyExists, InvalidArgument, NotFound
from services.product.domain.records import (
    QUOTAS,
    SCOPES,
    ExportRecord,
    MeteringRecord,
    QuotaSetting,
    TemplateField,
    TemplateRecord,
)

MAX_PAGE = 500
_CURSOR_PREFIX = "tp1."
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Column widths (see the migration): checked here so that SQLite, which ignores them, and
# PostgreSQL, which fails the statement, both answer InvalidArgument.
_WIDTHS = {
    "template_id": 64,
    "task_id": 64,
    "source_task_id": 64,
    "owner": 256,
    "tenant": 256,
    "subject": 256,
    "set_by": 256,
    "plan_id": 128,
    "default_mode": 16,
    "state": 32,
}

_TEMPLATE_COLUMNS = (
    "template_id, name, owner, tenant, source_task_id, goal, plan_id, plan_version, plan_yaml,"
    " default_mode, budget_tokens, budget_usd, budget_seconds, priority, input_fields_json,"
    " degrade_json, created_ns"
)
_METERING_COLUMNS = (
    "task_id, owner, tenant, day, state, tokens_in, tokens_out, usd, tool_ms, events,"
    " blob_bytes, exports, compares, updated_ns, cost_seqs_json, ended"
)
_SUMMARY_FIGURES = (
    "state",
    "tokens_in",
    "tokens_out",
    "usd",
    "tool_ms",
    "events",
    "blob_bytes",
    "updated_ns",
)
_FINAL_FIGURES = ("cost_seqs_json", "ended")


def _upsert_metering_sql(ended: bool) -> str:
    figures = _SUMMARY_FIGURES + (_FINAL_FIGURES if ended else ())
    return (
        f"INSERT INTO pd_metering ({_METERING_COLUMNS}) VALUES ({', '.join('?' * 16)}) "
        f"ON CONFLICT (task_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in figures)} "
        # Replicas refresh from summaries read at different times: an older refresh that
        # commits last must not roll the figures back, nor reopen a task that has ended.
        "WHERE pd_metering.updated_ns <= excluded.updated_ns "
        "AND (NOT pd_metering.ended OR excluded.ended)"
    )


_UPSERT_METERING = {ended: _upsert_metering_sql(ended) for ended in (False, True)}


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _check_widths(**values: str) -> None:
    for name, value in values.items():
        if len(value) > _WIDTHS[name]:
            raise InvalidArgument(
                f"{name} {value[:40]!r}... is {len(value)} characters; at most {_WIDTHS[name]}"
            )


def _check_day(day: str, what: str = "day") -> None:
    try:
        if not _DAY.match(day):
            raise ValueError(day)
        date.fromisoformat(day)  # a real date: not 2024-02-30
    except ValueError:
        raise InvalidArgument(f"{what} {day[:40]!r} is not a UTC day; use YYYY-MM-DD") from None


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise InvalidArgument(f"scope {scope!r} is unknown; use one of {', '.join(SCOPES)}")


def _check_quota(quota: str) -> None:
    if quota not in QUOTAS:
        raise InvalidArgument(f"quota {quota!r} is unknown; use one of {', '.join(QUOTAS)}")


def _encode_cursor(created_ns: int, template_id: str) -> str:
    doc = orjson.dumps([created_ns, template_id])
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(doc).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    hint = "pass next_cursor from the previous page, or empty for the first page"
    if not cursor.startswith(_CURSOR_PREFIX):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is not a template list cursor; {hint}")
    body = cursor[len(_CURSOR_PREFIX) :]
    try:
        created_ns, template_id = orjson.loads(
            base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        )
    except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is malformed; {hint}") from None
    if type(created_ns) is not int or not isinstance(template_id, str):
        raise InvalidArgument(f"cursor {cursor[:40]!r} is malformed; {hint}")
    return created_ns, template_id


def _template_row(t: TemplateRecord) -> tuple[Any, ...]:
    return (
        t.template_id,
        t.name,
        t.owner,
        t.tenant,
        t.source_task_id,
        t.goal,
        t.plan_id,
        t.plan_version,
        t.plan_yaml,
        t.default_mode,
        t.budget_tokens,
        t.budget_usd,
        t.budget_seconds,
        t.priority,
        _dumps(list(t.input_fields)),
        _dumps(t.degrade),
        t.created_ns,
    )


def _template(r: Sequence[Any]) -> TemplateRecord:
    return TemplateRecord(
        template_id=r[0],
        name=r[1],
        owner=r[2],
        tenant=r[3],
        source_task_id=r[4],
        goal=r[5],
        plan_id=r[6],
        plan_version=int(r[7]),
        plan_yaml=r[8],
        default_mode=r[9],
        budget_tokens=None if r[10] is None else int(r[10]),
        budget_usd=None if r[11] is None else float(r[11]),
        budget_seconds=None if r[12] is None else float(r[12]),
        priority=int(r[13]),
        input_fields=tuple(TemplateField(**f) for f in orjson.loads(r[14])),
        degrade=orjson.loads(r[15]),
        created_ns=int(r[16]),
    )


def _metering_row(m: MeteringRecord) -> tuple[Any, ...]:
    return (
        m.task_id,
        m.owner,
        m.tenant,
        m.day,
        m.state,
        m.tokens_in,
        m.tokens_out,
        float(m.usd),
        m.tool_ms,
        m.events,
        m.blob_bytes,
        m.exports,
        m.compares,
        m.updated_ns,
        _dumps(list(m.cost_seqs)),
        bool(m.ended),
    )


def _metering(r: Sequence[Any]) -> MeteringRecord:
    return MeteringRecord(
        task_id=r[0],
        owner=r[1],
        tenant=r[2],
        day=r[3],
        state=r[4],
        tokens_in=int(r[5]),
        tokens_out=int(r[6]),
        usd=float(r[7]),
        tool_ms=int(r[8]),
        events=int(r[9]),
        blob_bytes=int(r[10]),
        exports=int(r[11]),
        compares=int(r[12]),
        updated_ns=int(r[13]),
        cost_seqs=tuple(int(s) for s in orjson.loads(r[14])),
        ended=bool(r[15]),  # SQLite stores 0/1
    )


class ProductStore:
    """Reads and writes the product records; raises NotFound and InvalidArgument."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # ------------------------------------------------------------------ templates

    def add_template(self, t: TemplateRecord) -> TemplateRecord:
        """Stores a new template; AlreadyExists when its id is taken."""
        _check_widths(
            template_id=t.template_id,
            owner=t.owner,
            tenant=t.tenant,
            source_task_id=t.source_task_id,
            plan_id=t.plan_id,
            default_mode=t.default_mode,
        )
        if not t.template_id:
            raise InvalidArgument("a template needs a template_id")
        try:
            with driver_transaction(self._engine, write=True) as db:
                db.execute(
                    f"INSERT INTO pd_templates ({_TEMPLATE_COLUMNS}) "
                    f"VALUES ({', '.join('?' * 17)})",
                    _template_row(t),
                )
        except UNIQUE_VIOLATIONS:
            raise AlreadyExists(
                f"template {t.template_id!r} already exists; make a new id"
            ) from None
        return t

    def get_template(self, template_id: str) -> TemplateRecord:
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(
                f"SELECT {_TEMPLATE_COLUMNS} FROM pd_templates WHERE template_id = ?",
                (template_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"template {template_id!r} does not exist (or was deleted)")
        return _template(row)

    def list_templates(
        self, owner: str | None, *, limit: int = 50, cursor: str = ""
    ) -> tuple[list[TemplateRecord], str]:
        """A page of templates, newest first, and the cursor of the next page ("" at the end).
        ``owner`` None lists everyone's (an admin's view)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidArgument(f"limit {limit} is out of range; use 1..{MAX_PAGE}")
        where: list[str] = []
        params: list[Any] = []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if cursor:
            # A row-value comparison: both databases walk the (created_ns, template_id) index.
            where.append("(created_ns, template_id) < (?, ?)")
            params.extend(_decode_cursor(cursor))
        sql = f"SELECT {_TEMPLATE_COLUMNS} FROM pd_templates"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_ns DESC, template_id DESC LIMIT ?"
        with driver_transaction(self._engine, write=False) as db:
            rows = db.execute(sql, (*params, limit + 1)).fetchall()
        page = [_template(r) for r in rows[:limit]]
        if len(rows) <= limit:
            return page, ""
        return page, _encode_cursor(page[-1].created_ns, page[-1].template_id)

    def delete_template(self, template_id: str) -> None:
        with driver_transaction(self._engine, write=True) as db:
            deleted = db.execute(
                "DELETE FROM pd_templates WHERE template_id = ?", (template_id,)
            ).rowcount
        if not deleted:
            raise NotFound(f"template {template_id!r} does not exist (or was deleted already)")

    # ------------------------------------------------------------------ metering

    def upsert_metering(self, m: MeteringRecord) -> MeteringRecord:
        """Creates the task's record, or replaces the figures its summary gives (the final
        ones, cost_seqs and ended, only from an ended task's summary). Never changes exports,
        compares, day, owner or tenant of an existing record. Returns the record as stored,
        which is newer than ``m`` when a later refresh already landed."""
        _check_widths(task_id=m.task_id, owner=m.owner, tenant=m.tenant, state=m.state)
        _check_day(m.day)
        if not m.task_id:
            raise InvalidArgument("a metering record needs a task_id")
        with driver_transaction(self._engine, write=True) as db:
            db.execute(_UPSERT_METERING[bool(m.ended)], _metering_row(m))
            row = db.execute(
                f"SELECT {_METERING_COLUMNS} FROM pd_metering WHERE task_id = ?", (m.task_id,)
            ).fetchone()
        return _metering(row)

    def count_usage(self, task_id: str, *, exports: int = 0, compares: int = 0) -> None:
        """Adds to the task's export and compare counters, atomically in the database."""
        if exports < 0 or compares < 0:
            raise InvalidArgument(
                f"exports={exports}, compares={compares}: counters only grow; pass 0 or more"
            )
        with driver_transaction(self._engine, write=True) as db:
            updated = db.execute(
                "UPDATE pd_metering SET exports = exports + ?, compares = compares + ? "
                "WHERE task_id = ?",
                (exports, compares, task_id),
            ).rowcount
        if not updated:
            raise NotFound(f"task {task_id!r} has no metering record yet; refresh its usage first")

    def get_metering(self, task_id: str) -> MeteringRecord | None:
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(
                f"SELECT {_METERING_COLUMNS} FROM pd_metering WHERE task_id = ?", (task_id,)
            ).fetchone()
        return None if row is None else _metering(row)

    def metering_for(self, owner: str, from_day: str, to_day: str) -> list[MeteringRecord]:
        """The owner's records from ``from_day`` to ``to_day`` (both included), by day then
        task id."""
        _check_day(from_day, "from_day")
        _check_day(to_day, "to_day")
        if from_day > to_day:
            raise InvalidArgument(f"from_day {from_day} is after to_day {to_day}; swap them")
        with driver_transaction(self._engine, write=False) as db:
            rows = db.execute(
                f"SELECT {_METERING_COLUMNS} FROM pd_metering "
                "WHERE owner = ? AND day >= ? AND day <= ? ORDER BY day, task_id",
                (owner, from_day, to_day),
            ).fetchall()
        return [_metering(r) for r in rows]

    def usage_on(self, scope: str, subject: str, day: str) -> tuple[int, float]:
        """(tokens, usd) used by the tasks an owner or a tenant created on ``day``."""
        _check_scope(scope)
        _check_day(day)
        column = "owner" if scope == "owner" else "tenant"
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(
                "SELECT COALESCE(SUM(tokens_in + tokens_out), 0), COALESCE(SUM(usd), 0) "
                f"FROM pd_metering WHERE {column} = ? AND day = ?",
                (subject, day),
            ).fetchone()
        # PostgreSQL sums BIGINT as NUMERIC (a Decimal here).
        return int(row[0]), float(row[1])

    def tenant_of(self, owner: str) -> str:
        """The tenant of the owner's latest metered task ("" when none is metered)."""
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(
                "SELECT tenant FROM pd_metering WHERE owner = ? ORDER BY day DESC, task_id DESC"
                " LIMIT 1",
                (owner,),
            ).fetchone()
        return str(row[0]) if row else ""

    # ------------------------------------------------------------------ quotas

    def set_quota(self, q: QuotaSetting) -> QuotaSetting:
        """Sets (or replaces) a subject's limit for one quota."""
        _check_scope(q.scope)
        _check_quota(q.quota)
        _check_widths(subject=q.subject, set_by=q.set_by)
        if not q.subject:
            raise InvalidArgument(f"a {q.scope} quota needs the {q.scope} it applies to")
        if not (math.isfinite(q.limit) and q.limit >= 0):
            raise InvalidArgument(f"limit {q.limit} must be a finite number >= 0 (0: unlimited)")
        with driver_transaction(self._engine, write=True) as db:
            db.execute(
                "INSERT INTO pd_quotas (scope, subject, quota, limit_value, set_by, set_ns) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, subject, quota) DO UPDATE SET "
                "limit_value = excluded.limit_value, set_by = excluded.set_by, "
                "set_ns = excluded.set_ns",
                (q.scope, q.subject, q.quota, float(q.limit), q.set_by, q.set_ns),
            )
        return q

    def clear_quota(self, scope: str, subject: str, quota: str) -> bool:
        """Removes a set limit (the configured default applies again); False when none was
        set."""
        _check_scope(scope)
        _check_quota(quota)
        with driver_transaction(self._engine, write=True) as db:
            deleted = db.execute(
                "DELETE FROM pd_quotas WHERE scope = ? AND subject = ? AND quota = ?",
                (scope, subject, quota),
            ).rowcount
        return bool(deleted)

    def quotas_for(self, scope: str, subject: str) -> dict[str, QuotaSetting]:
        """The limits set for a subject, by quota name (quotas not set are absent)."""
        _check_scope(scope)
        with driver_transaction(self._engine, write=False) as db:
            rows = db.execute(
                "SELECT quota, limit_value, set_by, set_ns FROM pd_quotas "
                "WHERE scope = ? AND subject = ?",
                (scope, subject),
            ).fetchall()
        return {
            r[0]: QuotaSetting(scope, subject, r[0], float(r[1]), r[2], int(r[3])) for r in rows
        }

    # ------------------------------------------------------------------ exports

    def record_export(self, e: ExportRecord) -> None:
        """Notes an export made (one row per export; it does not count_usage)."""
        _check_widths(task_id=e.task_id, owner=e.owner, tenant=e.tenant)
        _check_day(e.day)
        if e.size < 0:
            raise InvalidArgument(f"export size {e.size} must be 0 or more")
        with driver_transaction(self._engine, write=True) as db:
            db.execute(
                "INSERT INTO pd_exports (task_id, owner, tenant, day, at_ns, size, extra_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (e.task_id, e.owner, e.tenant, e.day, e.at_ns, e.size, _dumps(e.extra)),
            )

    def exports_on(self, scope: str, subject: str, day: str) -> int:
        """How many exports an owner (the caller who exported) or a tenant made on ``day``."""
        _check_scope(scope)
        _check_day(day)
        column = "owner" if scope == "owner" else "tenant"
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(
                f"SELECT COUNT(*) FROM pd_exports WHERE {column} = ? AND day = ?",
                (subject, day),
            ).fetchone()
        return int(row[0])
