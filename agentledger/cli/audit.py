"""`agentledger audit verify | list`: check the audit log's hash chain and read it, straight from
the security database (no service needs to run, and no mesh key is needed)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url

from agentledger.cli.security_db import add_db_options, db_target
from agentledger.core.clock import SystemClock
from agentledger.core.db import create_db_engine, normalize_url
from agentledger.core.errors import InvalidArgument, NotFound
from agentledger.security.audit import AuditLog, AuditRecord

_HEAD = re.compile(r"^(\d+):([0-9a-f]{64})$")


def register(commands: Any) -> None:
    p = commands.add_parser("audit", help="verify and read the tamper-evident audit log")
    sub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        a: argparse.ArgumentParser = sub.add_parser(name, help=help)
        add_db_options(a)
        return a

    v = action("verify", "walk the hash chain; name the first record altered, removed or moved")
    v.add_argument(
        "--expect-head",
        default="",
        metavar="SEQ:HASH",
        help="a head printed by an earlier verify: also catches records removed from the end",
    )
    v.add_argument("--batch", type=int, default=5000, help=argparse.SUPPRESS)
    v.set_defaults(run=verify)

    ls = action("list", "print audit records in chain order")
    ls.add_argument("--owner", default=None, help="records about this owner's tasks or by them")
    ls.add_argument("--actor", default=None, help="records of what this subject did")
    ls.add_argument("--task", default=None, metavar="ID", help="records about this object")
    ls.add_argument("--after", type=int, default=0, metavar="N", help="start after record N")
    ls.add_argument("--limit", type=int, default=50, metavar="N")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(run=list_records)


def verify(args: argparse.Namespace) -> int:
    expect = _expect_head(args.expect_head)
    with _audit_log(args) as audit:
        report = audit.verify(batch=args.batch, expect_head=expect)
    if report.ok:
        print(f"audit log intact: {report.checked} records checked")
        print(f"head: {report.head_seq}:{report.head_hash}")
        return 0
    print(f"audit log TAMPERED: {report.problem}")
    print(
        f"intact up to record {report.head_seq} ({report.checked} records checked); "
        f"first bad record: {report.first_bad_seq}"
    )
    return 1


def list_records(args: argparse.Namespace) -> int:
    with _audit_log(args) as audit:
        records, next_after = audit.page(
            owner=args.owner,
            actor=args.actor,
            object_id=args.task,
            after_seq=args.after,
            limit=args.limit,
        )
    if args.json:
        doc = {"records": [r.to_dict() for r in records], "next_after": next_after}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(
        f"{'seq':>6}  {'time (UTC)':<19}  {'actor':<16} {'role':<8} {'action':<16} "
        f"{'object':<28} {'result':<7} {'reason; from'}"
    )
    for r in records:
        print(_row(r))
    if next_after is not None:
        print(f"-- more: --after {next_after}")
    return 0


def _row(r: AuditRecord) -> str:
    at = datetime.fromtimestamp(r.at_unix_nano / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
    obj = f"{r.object_type}:{r.object_id}" if r.object_type else r.object_id
    why = "; ".join(x for x in (r.reason, f"from {r.source}" if r.source else "") if x)
    return (
        f"{r.seq:>6}  {at:<19}  {_fit(r.actor or '-', 16)} {_fit(r.role, 8)} "
        f"{_fit(r.action, 16)} {_fit(obj, 28)} {'allowed' if r.allowed else 'DENIED':<7} {why}"
    ).rstrip()


def _fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "~"


def _expect_head(raw: str) -> tuple[int, str] | None:
    if not raw:
        return None
    match = _HEAD.match(raw.strip().lower())
    if not match:
        raise InvalidArgument(
            f"--expect-head {raw!r} is not SEQ:HASH; pass the 'head:' line of an earlier verify"
        )
    return int(match.group(1)), match.group(2)


@contextmanager
def _audit_log(args: argparse.Namespace) -> Iterator[AuditLog]:
    url, schema = db_target(args)
    engine = _open(url, schema)
    try:
        yield AuditLog(engine, SystemClock(), recorded_by="cli")
    finally:
        engine.dispose()


def _open(url: str, schema: str) -> Engine:
    """An engine on an existing security database: reading must not create or migrate one."""
    parsed = make_url(normalize_url(url))
    if parsed.drivername.startswith("sqlite") and not Path(parsed.database or "").is_file():
        raise NotFound(
            f"no security database at {parsed.database or url}; "
            "pass --db-url or set AGENTLEDGER_SECURITY_DB_URL / AGENTLEDGER_DATA_DIR"
        )
    engine = create_db_engine(url, pool_size=1, schema=schema or None)
    if not inspect(engine).has_table("sec_audit"):
        engine.dispose()
        where = f"{parsed.render_as_string(hide_password=True)}" + (
            f" (schema {schema})" if schema else ""
        )
        raise NotFound(f"{where} has no audit table (sec_audit); is it the security database?")
    return engine
