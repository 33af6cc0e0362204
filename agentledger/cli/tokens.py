"""`agentledger token create | list | revoke`: manage API tokens straight in the security
database, as the deployment's administrator (no service needs to run, and no mesh key).

A new token is printed once, alone on stdout (so `TOKEN=$(agentledger token create ...)` works),
with how to use it on stderr; only its hash is stored. Creating and revoking are audited.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from agentledger.cli.security_db import add_db_options, db_target
from agentledger.core.clock import Clock, SystemClock
from agentledger.core.errors import InvalidArgument
from agentledger.security.audit import AuditEntry, AuditLog
from agentledger.security.db import open_security_db
from agentledger.security.rbac import Policy
from agentledger.security.tokens import TokenInfo, TokenStore

GATEWAY_HINT = "http://127.0.0.1:8080/api/tasks"


def create_token(
    engine: Engine,
    clock: Clock,
    *,
    name: str,
    role: str,
    subject: str = "",
    tenant: str = "",
    expires_in_s: float | None = None,
    created_by: str,
    source: str = "cli",
    policy: Policy | None = None,
) -> tuple[TokenInfo, str]:
    """Creates a token and records it in the audit log; a token whose record cannot be written
    is revoked at once, so no token exists unaudited."""
    store = TokenStore(engine, clock)
    info, token = store.create(
        name=name,
        role=role,
        subject=subject,
        tenant=tenant,
        created_by=created_by,
        expires_in_s=expires_in_s,
        policy=policy or Policy.load(),
    )
    entry = AuditEntry(
        action="token.create",
        allowed=True,
        actor=created_by,
        tenant=tenant,
        object_type="token",
        object_id=info.token_id,
        source=source,
        details={
            "name": info.name,
            "subject": info.subject,
            "role": info.role,
            "expires_unix_nano": info.expires_unix_nano,
        },
    )
    try:
        AuditLog(engine, clock, recorded_by=source).append([entry])
    except BaseException:
        store.revoke(info.token_id, by="audit-failure")
        raise
    return info, token


def revoke_token(
    engine: Engine, clock: Clock, token_id: str, *, by: str, source: str = "cli"
) -> TokenInfo:
    """Revokes a token and records it in the audit log (the revocation stands either way)."""
    info = TokenStore(engine, clock).revoke(token_id, by=by)
    AuditLog(engine, clock, recorded_by=source).append(
        [
            AuditEntry(
                action="token.revoke",
                allowed=True,
                actor=by,
                tenant=info.tenant,
                object_type="token",
                object_id=token_id,
                source=source,
                details={"name": info.name, "subject": info.subject},
            )
        ]
    )
    return info


def register(commands: Any) -> None:
    p = commands.add_parser("token", help="create, list and revoke API tokens")
    sub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        a: argparse.ArgumentParser = sub.add_parser(name, help=help)
        add_db_options(a)
        return a

    roles = Policy.load().assignable_roles
    c = action("create", "create a token and print it, once")
    c.add_argument("--name", required=True, help="what the token is for, e.g. ci-bot")
    c.add_argument("--role", required=True, choices=roles)
    c.add_argument("--subject", default="", help="who it acts as (default: the name)")
    c.add_argument("--tenant", default="")
    c.add_argument("--expires-days", type=float, default=None, metavar="D")
    c.set_defaults(run=create)

    ls = action("list", "list tokens (never their secrets)")
    ls.add_argument("--subject", default=None)
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(run=list_tokens)

    rv = action("revoke", "revoke a token at once")
    rv.add_argument("token_id")
    rv.set_defaults(run=revoke)


def create(args: argparse.Namespace) -> int:
    if args.expires_days is not None and not args.expires_days > 0:
        raise InvalidArgument(f"--expires-days {args.expires_days} must be positive")
    with _engine(args) as engine:
        info, token = create_token(
            engine,
            SystemClock(),
            name=args.name,
            role=args.role,
            subject=args.subject,
            tenant=args.tenant,
            expires_in_s=None if args.expires_days is None else args.expires_days * 86400,
            created_by=_operator(),
        )
    print(token)
    expires = _when(info.expires_unix_nano) if info.expires_unix_nano else "never"
    print(
        f"Created token {info.token_id} ({info.name}): subject {info.subject}, role {info.role}"
        f"{f', tenant {info.tenant}' if info.tenant else ''}, expires {expires}.\n"
        "This is the only time it is shown: only its hash is stored, and it cannot be shown "
        "again. Keep it in a secret store.\n"
        f'Use it as: curl -H "Authorization: Bearer <the token above>" {GATEWAY_HINT}\n'
        f"Revoke it with: agentledger token revoke {info.token_id}",
        file=sys.stderr,
    )
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        clock = SystemClock()
        tokens = TokenStore(engine, clock).list(subject=args.subject)
        now = clock.now_ns()
    if args.json:
        doc = {"tokens": [t.to_dict() | {"active": t.active(now)} for t in tokens]}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(
        f"{'token id':<12}  {'name':<20} {'subject':<20} {'role':<8} {'created (UTC)':<19}  "
        f"{'status'}"
    )
    for t in tokens:
        print(
            f"{t.token_id:<12}  {t.name[:20]:<20} {t.subject[:20]:<20} {t.role:<8} "
            f"{_when(t.created_unix_nano):<19}  {_status(t, now)}"
        )
    return 0


def revoke(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        info = revoke_token(engine, SystemClock(), args.token_id, by=_operator())
    print(f"token {info.token_id} ({info.name}) revoked at {_when(info.revoked_unix_nano or 0)}")
    return 0


def _status(t: TokenInfo, now: int) -> str:
    if t.revoked_unix_nano is not None:
        return f"revoked {_when(t.revoked_unix_nano)}"
    if t.expires_unix_nano is not None:
        return (
            f"{'expired' if now >= t.expires_unix_nano else 'expires'} {_when(t.expires_unix_nano)}"
        )
    return "active"


def _when(ns: int | None) -> str:
    return datetime.fromtimestamp((ns or 0) / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _engine(args: argparse.Namespace) -> Iterator[Engine]:
    url, schema = db_target(args)
    engine = open_security_db(url, schema=schema or None, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()
