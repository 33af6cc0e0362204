"""JWTs from an identity provider at the gateway: accepted when signed with the configured key
for the configured issuer and audience, within their validity; refused (401, recorded) when
forged, expired, not yet valid, for another audience, or `alg: none`."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest

from agentledger.core.clock import SystemClock
from agentledger.security.audit import AuditLog
from tests.conftest import Database
from tests.gateway.harness import Mesh, start_mesh

KEY = secrets.token_urlsafe(48)
ISSUER, AUDIENCE = "https://idp.example", "agentledger"


@pytest.fixture
async def jwt_mesh(database: Database, tmp_path: Path) -> AsyncIterator[Mesh]:
    m = await start_mesh(
        database,
        tmp_path,
        security={
            "AGENTLEDGER_JWT_KEY": KEY,
            "AGENTLEDGER_JWT_ISSUER": ISSUER,
            "AGENTLEDGER_JWT_AUDIENCE": AUDIENCE,
        },
    )
    try:
        yield m
    finally:
        await m.close()


def token(key: str = KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "jay",
        "role": "operator",
        "tenant": "acme",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        **changes,
    }
    return jwt.encode(claims, key, algorithm="HS256")


def unsigned() -> str:
    def b64(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": "jay", "role": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


async def test_a_valid_jwt_is_a_person_with_its_role(jwt_mesh: Mesh) -> None:
    client = jwt_mesh.client(None, headers={"Authorization": f"Bearer {token()}"})
    me = await client.get("/api/whoami")
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == "jay" and me.json()["role"] == "operator"
    made = await client.post("/api/tasks", json={"plan_id": "chain3"})
    assert made.status_code == 201 and made.json()["owner"] == "jay"
    assert made.json()["tenant"] == "acme"


async def test_forged_or_stale_jwts_are_refused(jwt_mesh: Mesh) -> None:
    now = int(time.time())
    bad = {
        "another key": token(key=secrets.token_urlsafe(48)),
        "alg none": unsigned(),
        "expired": token(iat=now - 900, nbf=now - 900, exp=now - 600),
        "not yet valid": token(nbf=now + 600),
        "wrong audience": token(aud="someone-else"),
        "wrong issuer": token(iss="https://evil.example"),
        "service role": token(role="service"),
    }
    for what, credential in bad.items():
        client = jwt_mesh.client(None, headers={"Authorization": f"Bearer {credential}"})
        r = await client.get("/api/whoami")
        assert r.status_code == 401, (what, r.text)
        assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    log = AuditLog(jwt_mesh.gateway.db, SystemClock(), recorded_by="test")
    records, _ = log.page(limit=1000)
    assert sum(1 for r in records if not r.allowed and r.actor == "") >= len(bad)
