"""Security settings every process reads: the security database, the mesh key that signs the
identities forwarded between processes, and how external JWTs are verified.

Variables:
- ``AGENTLEDGER_SECURITY_DB_URL`` (default: SQLite ``<data dir>/security.db``) and
  ``AGENTLEDGER_SECURITY_DB_SCHEMA`` (PostgreSQL, optional).
- ``AGENTLEDGER_AUTH``: ``on`` (default) or ``off``. Off is for a service under test only: every
  call is then treated as the built-in ``service`` principal, and the process says so loudly.
- ``AGENTLEDGER_MESH_KEY`` or ``AGENTLEDGER_MESH_KEY_FILE``: the HMAC key (at least 32 bytes)
  that signs forwarded identities. Required when auth is on. ``agentledger up`` creates one in
  the data folder; a deployment mounts it from a Secret.
- ``AGENTLEDGER_JWT_KEY`` / ``AGENTLEDGER_JWT_KEY_FILE`` (HMAC secret or PEM public key),
  ``AGENTLEDGER_JWT_ALGORITHMS`` (comma list, default HS256; ``none`` is refused),
  ``AGENTLEDGER_JWT_ISSUER``, ``AGENTLEDGER_JWT_AUDIENCE`` (both required when a key is set),
  ``AGENTLEDGER_JWT_ROLE_CLAIM`` (default ``role``), ``AGENTLEDGER_JWT_TENANT_CLAIM``
  (default ``tenant``), ``AGENTLEDGER_JWT_LEEWAY_SECONDS`` (default 30).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentledger.core.db import sqlite_url
from agentledger.core.errors import InvalidArgument
from agentledger.core.settings import DEFAULT_DATA_DIR, Env

MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class JwtSettings:
    key: str
    algorithms: tuple[str, ...]
    issuer: str
    audience: str
    role_claim: str = "role"
    tenant_claim: str = "tenant"
    leeway_seconds: float = 30.0


@dataclass(frozen=True)
class SecuritySettings:
    db_url: str
    db_schema: str
    auth: bool
    mesh_key: bytes
    jwt: JwtSettings | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecuritySettings:
        env = Env(environ)
        data_dir = Path(env.text("AGENTLEDGER_DATA_DIR", DEFAULT_DATA_DIR))
        auth = env.flag("AGENTLEDGER_AUTH", True)
        mesh_key = _secret(env, "AGENTLEDGER_MESH_KEY")
        if auth and not mesh_key:
            raise InvalidArgument(
                "AGENTLEDGER_MESH_KEY (or AGENTLEDGER_MESH_KEY_FILE) is not set: every process "
                "of the mesh needs the same key to sign and check identities "
                "(`agentledger up` creates one; AGENTLEDGER_AUTH=off disables checks for tests)"
            )
        if mesh_key and len(mesh_key) < MIN_KEY_BYTES:
            raise InvalidArgument(
                f"AGENTLEDGER_MESH_KEY is {len(mesh_key)} bytes; use at least {MIN_KEY_BYTES}"
            )
        return cls(
            db_url=env.text("AGENTLEDGER_SECURITY_DB_URL", sqlite_url(data_dir, "security")),
            db_schema=env.text("AGENTLEDGER_SECURITY_DB_SCHEMA", ""),
            auth=auth,
            mesh_key=mesh_key,
            jwt=_jwt(env),
        )


def _secret(env: Env, name: str) -> bytes:
    value = env.text(name, "")
    path = env.text(f"{name}_FILE", "")
    if value and path:
        raise InvalidArgument(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            return Path(path).read_bytes().strip()
        except OSError as exc:
            raise InvalidArgument(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from None
    return value.encode()


def _jwt(env: Env) -> JwtSettings | None:
    key = _secret(env, "AGENTLEDGER_JWT_KEY").decode()
    if not key:
        return None
    algorithms = tuple(
        a.strip() for a in env.text("AGENTLEDGER_JWT_ALGORITHMS", "HS256").split(",") if a.strip()
    )
    if any(a.lower() == "none" for a in algorithms):
        raise InvalidArgument("AGENTLEDGER_JWT_ALGORITHMS must not include 'none'")
    issuer = env.text("AGENTLEDGER_JWT_ISSUER", "")
    audience = env.text("AGENTLEDGER_JWT_AUDIENCE", "")
    if not issuer or not audience:
        raise InvalidArgument(
            "AGENTLEDGER_JWT_ISSUER and AGENTLEDGER_JWT_AUDIENCE are required with a JWT key"
        )
    return JwtSettings(
        key=key,
        algorithms=algorithms,
        issuer=issuer,
        audience=audience,
        role_claim=env.text("AGENTLEDGER_JWT_ROLE_CLAIM", "role"),
        tenant_claim=env.text("AGENTLEDGER_JWT_TENANT_CLAIM", "tenant"),
        leeway_seconds=env.number("AGENTLEDGER_JWT_LEEWAY_SECONDS", 30.0, minimum=0),
    )
