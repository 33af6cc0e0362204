"""API tokens (stored only as hashes) and task shares, in the security database (SPEC 1.6).

A token reads ``alt_<token_id>_<secret>``: the id finds the row, and the row keeps only the
sha256 of the secret, so a copy of the database lets nobody call the API. The token is shown
once, when it is created. Shares say which subjects besides its owner may reach a task.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from agentledger.core.clock import Clock
from agentledger.core.db import driver_transaction
from agentledger.core.errors import InvalidArgument, NotFound, Unauthenticated
from agentledger.security.identity import TOKEN_PREFIX, ExpiringCache, Principal
from agentledger.security.rbac import Policy, TaskAcl

log = logging.getLogger("agentledger.security.tokens")

_NS = 1_000_000_000
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,128}$")
_TOKEN = re.compile(r"^alt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_UNKNOWN = "unknown API token: check it was copied whole, or create a new one"
_COLUMNS = (
    "token_id, name, subject, role, tenant, created_unix_nano, created_by, "
    "expires_unix_nano, revoked_unix_nano"
)


@dataclass(frozen=True)
class TokenInfo:
    """A token's row, without any secret."""

    token_id: str
    name: str
    subject: str
    role: str
    tenant: str
    created_unix_nano: int
    created_by: str
    expires_unix_nano: int | None
    revoked_unix_nano: int | None

    def active(self, now_ns: int) -> bool:
        return self.revoked_unix_nano is None and (
            self.expires_unix_nano is None or now_ns < self.expires_unix_nano
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "name": self.name,
            "subject": self.subject,
            "role": self.role,
            "tenant": self.tenant,
            "created_unix_nano": self.created_unix_nano,
            "created_by": self.created_by,
            "expires_unix_nano": self.expires_unix_nano,
            "revoked_unix_nano": self.revoked_unix_nano,
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: Any) -> TokenInfo:
    return TokenInfo(*row)


class TokenStore:
    """Creates, checks, lists and revokes API tokens."""

    def __init__(self, engine: Engine, clock: Clock, *, cache_seconds: float = 5.0) -> None:
        self._engine = engine
        self._clock = clock
        # Revocation by another process takes effect within this time; by this one, at once.
        self._cache_ns = int(cache_seconds * _NS)
        self._cache: ExpiringCache[str, Principal] = ExpiringCache(1024)

    def create(
        self,
        *,
        name: str,
        role: str,
        subject: str = "",
        tenant: str = "",
        created_by: str = "",
        expires_in_s: float | None = None,
        policy: Policy,
    ) -> tuple[TokenInfo, str]:
        """A new token: its row and the token itself, which nothing can show again."""
        if not _NAME.match(name):
            raise InvalidArgument(
                f"token name {name!r} must be 1-128 characters of letters, digits and . _ @ -"
            )
        if role not in policy.assignable_roles:
            raise InvalidArgument(
                f"role {role!r} cannot be given to a token; use one of "
                f"{', '.join(policy.assignable_roles)}"
            )
        if expires_in_s is not None and not expires_in_s > 0:
            raise InvalidArgument(f"expires_in_s={expires_in_s} must be positive, or unset")
        subject = subject or name
        if len(subject) > 256 or len(tenant) > 256:
            raise InvalidArgument("subject and tenant must be at most 256 characters")
        now = self._clock.now_ns()
        info = TokenInfo(
            token_id=secrets.token_hex(6),
            name=name,
            subject=subject,
            role=role,
            tenant=tenant,
            created_unix_nano=now,
            created_by=created_by,
            expires_unix_nano=None if expires_in_s is None else now + int(expires_in_s * _NS),
            revoked_unix_nano=None,
        )
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        with driver_transaction(self._engine, write=True) as db:
            db.execute(
                f"INSERT INTO sec_tokens ({_COLUMNS}, secret_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*info.to_dict().values(), _hash(secret)),
            )
        log.info("token %s created for %s (role %s)", info.token_id, subject, role)
        return info, f"{TOKEN_PREFIX}{info.token_id}_{secret}"

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified recently, without touching the database (None
        when it must be looked up): lets an event loop skip a thread hop on most requests."""
        return self._cache.get(_hash(token), self._clock.now_ns())

    def verify(self, token: str) -> Principal:
        """The principal a token stands for; Unauthenticated when malformed, unknown, revoked or
        expired (one message for an unknown id and a wrong secret)."""
        now = self._clock.now_ns()
        key = _hash(token)
        cached = self._cache.get(key, now)
        if cached is not None:
            return cached
        match = _TOKEN.match(token)
        if match is None:
            raise Unauthenticated(
                "malformed API token: expected alt_<12 hex>_<43 characters>, as printed by "
                "`agentledger token create`"
            )
        token_id, secret = match.groups()
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(
                f"SELECT {_COLUMNS}, secret_hash FROM sec_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
        if row is None or not hmac.compare_digest(str(row[-1]), _hash(secret)):
            raise Unauthenticated(_UNKNOWN)
        info = _info(row[:-1])
        if info.revoked_unix_nano is not None:
            raise Unauthenticated(f"API token {token_id} was revoked; create a new one")
        if info.expires_unix_nano is not None and now >= info.expires_unix_nano:
            raise Unauthenticated(f"API token {token_id} has expired; create a new one")
        principal = Principal(
            subject=info.subject, role=info.role, tenant=info.tenant, via="token", token_id=token_id
        )
        until = now + self._cache_ns
        if info.expires_unix_nano is not None:
            until = min(until, info.expires_unix_nano)
        self._cache.put(key, principal, until)
        return principal

    def get(self, token_id: str) -> TokenInfo:
        with driver_transaction(self._engine, write=False) as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM sec_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"API token {token_id!r} does not exist; `agentledger token list`")
        return _info(row)

    def list(self, *, subject: str | None = None) -> list[TokenInfo]:
        """Tokens, oldest first; only ``subject``'s when given."""
        sql = f"SELECT {_COLUMNS} FROM sec_tokens"
        params: tuple[str, ...] = ()
        if subject is not None:
            sql += " WHERE subject = ?"
            params = (subject,)
        with driver_transaction(self._engine, write=False) as db:
            rows = db.execute(sql + " ORDER BY created_unix_nano, token_id", params).fetchall()
        return [_info(r) for r in rows]

    def revoke(self, token_id: str, *, by: str) -> TokenInfo:
        """Revokes a token (again: no change); NotFound when there is no such token."""
        now = self._clock.now_ns()
        with driver_transaction(self._engine, write=True) as db:
            updated = db.execute(
                "UPDATE sec_tokens SET revoked_unix_nano = ? "
                "WHERE token_id = ? AND revoked_unix_nano IS NULL",
                (now, token_id),
            ).rowcount
        self._cache.discard_if(lambda p: p.token_id == token_id)
        info = self.get(token_id)
        if updated:
            log.info("token %s revoked by %s", token_id, by or "?")
        return info


class ShareStore:
    """Which subjects, besides its owner, may reach a task."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def grant(self, task_id: str, subject: str, *, by: str) -> None:
        """Shares ``task_id`` with ``subject`` (again: no change)."""
        if not task_id or not subject:
            raise InvalidArgument("sharing needs a task id and a subject to share it with")
        if len(task_id) > 64 or len(subject) > 256:
            raise InvalidArgument("task id (64) or subject (256 characters) is too long")
        with driver_transaction(self._engine, write=True) as db:
            db.execute(
                "INSERT INTO sec_shares (task_id, subject, granted_by, created_unix_nano) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (task_id, subject) DO NOTHING",
                (task_id, subject, by, self._clock.now_ns()),
            )

    def revoke(self, task_id: str, subject: str) -> bool:
        """Unshares; False when it was not shared."""
        with driver_transaction(self._engine, write=True) as db:
            cur = db.execute(
                "DELETE FROM sec_shares WHERE task_id = ? AND subject = ?", (task_id, subject)
            )
            return bool(cur.rowcount)

    def subjects(self, task_id: str) -> frozenset[str]:
        with driver_transaction(self._engine, write=False) as db:
            rows = db.execute(
                "SELECT subject FROM sec_shares WHERE task_id = ?", (task_id,)
            ).fetchall()
        return frozenset(str(r[0]) for r in rows)

    def shared_task_ids(self, subject: str) -> list[str]:
        """The tasks shared with ``subject``, most recently shared first."""
        with driver_transaction(self._engine, write=False) as db:
            rows = db.execute(
                "SELECT task_id FROM sec_shares WHERE subject = ? "
                "ORDER BY created_unix_nano DESC, task_id",
                (subject,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def acl(self, task_id: str, owner: str, tenant: str = "") -> TaskAcl:
        """The task's ACL, given its owner and tenant (which the task's own store knows)."""
        return TaskAcl(task_id, owner, tenant, self.subjects(task_id))
