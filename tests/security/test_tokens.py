"""API tokens (hashes only, shown once, revocable, expiring), task shares and the `token` CLI, on
SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from agentledger.cli import tokens as token_cli
from agentledger.core.clock import ManualClock
from agentledger.core.db import driver_transaction
from agentledger.core.errors import InvalidArgument, NotFound, Unauthenticated
from agentledger.security.audit import AuditLog
from agentledger.security.db import open_security_db
from agentledger.security.identity import Principal
from agentledger.security.rbac import Policy, TaskAcl
from agentledger.security.tokens import ShareStore, TokenStore
from tests.conftest import Database

POLICY = Policy.load()


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    engine = open_security_db(database.url, schema=database.schema or None)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(engine: Engine, clock: ManualClock) -> TokenStore:
    return TokenStore(engine, clock)


def _all_stored_text(engine: Engine) -> str:
    with driver_transaction(engine, write=False) as db:
        rows = db.execute("SELECT * FROM sec_tokens").fetchall()
        rows += db.execute("SELECT * FROM sec_audit").fetchall()
    return repr(rows)


def test_a_token_is_stored_only_as_its_hash(
    store: TokenStore, engine: Engine, database: Database, tmp_path: Path
) -> None:
    info, token = store.create(
        name="ci-bot", role="operator", tenant="acme", created_by="root", policy=POLICY
    )
    prefix, token_id, secret = token.split("_", 2)
    assert (prefix, token_id) == ("alt", info.token_id)
    assert len(token_id) == 12 and len(secret) == 43
    assert (info.subject, info.role, info.tenant, info.created_by) == (
        "ci-bot",
        "operator",
        "acme",
        "root",
    )
    stored = _all_stored_text(engine)
    assert secret not in stored and token not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    if database.kind == "sqlite":
        engine.dispose()  # let every byte reach the files
        files = [p for p in tmp_path.iterdir() if p.name.startswith("trace_store.db")]
        blob = b"".join(p.read_bytes() for p in files)
        assert info.token_id.encode() in blob  # the right files were read
        assert secret.encode() not in blob


def test_verify_gives_the_principal(store: TokenStore) -> None:
    info, token = store.create(
        name="ci-bot", role="viewer", subject="alice", tenant="acme", policy=POLICY
    )
    assert store.verify(token) == Principal(
        "alice", "viewer", "acme", via="token", token_id=info.token_id
    )
    assert store.verify(token) == store.verify(token)  # cached, same answer


def test_unknown_and_wrong_secret_answer_alike(store: TokenStore) -> None:
    info, token = store.create(name="ci-bot", role="viewer", policy=POLICY)
    wrong_secret = token[:-1] + ("A" if token[-1] != "A" else "B")
    unknown_id = f"alt_{'f' * 12}_{token.split('_', 2)[2]}"
    messages = set()
    for bad in (wrong_secret, unknown_id):
        with pytest.raises(Unauthenticated) as err:
            store.verify(bad)
        messages.add(err.value.message)
    assert len(messages) == 1 and info.token_id not in messages.pop()
    for malformed in ("", "alt_", "alt_xyz_abc", token + "x", token.replace("alt_", "alx_")):
        with pytest.raises(Unauthenticated, match="malformed API token"):
            store.verify(malformed)


def test_revocation_takes_effect_at_once_in_this_process(store: TokenStore) -> None:
    info, token = store.create(name="ci-bot", role="viewer", policy=POLICY)
    store.verify(token)  # cached now
    revoked = store.revoke(info.token_id, by="root")
    assert revoked.revoked_unix_nano is not None
    with pytest.raises(Unauthenticated, match=f"API token {info.token_id} was revoked"):
        store.verify(token)
    assert store.revoke(info.token_id, by="root") == revoked  # idempotent
    with pytest.raises(NotFound, match="does not exist"):
        store.revoke("0" * 12, by="root")


def test_revocation_elsewhere_takes_effect_within_the_cache_time(
    engine: Engine, clock: ManualClock
) -> None:
    gateway = TokenStore(engine, clock, cache_seconds=5)
    admin = TokenStore(engine, clock)
    info, token = gateway.create(name="ci-bot", role="viewer", policy=POLICY)
    gateway.verify(token)
    admin.revoke(info.token_id, by="root")
    clock.advance(4)
    assert gateway.verify(token).subject == "ci-bot"  # still cached
    clock.advance(1)
    with pytest.raises(Unauthenticated, match="revoked"):
        gateway.verify(token)


def test_tokens_expire(store: TokenStore, clock: ManualClock) -> None:
    info, token = store.create(name="ci-bot", role="viewer", expires_in_s=60, policy=POLICY)
    assert info.expires_unix_nano == info.created_unix_nano + 60_000_000_000
    clock.advance(58)
    store.verify(token)  # cached until the expiry at the latest
    clock.advance(2)
    with pytest.raises(Unauthenticated, match="has expired"):
        store.verify(token)
    assert not store.get(info.token_id).active(clock.now_ns())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "service"}, "role 'service' cannot be given to a token; use one of viewer"),
        ({"role": "root"}, "role 'root' cannot be given"),
        ({"name": ""}, "token name '' must be 1-128"),
        ({"name": "has space"}, "must be 1-128 characters"),
        ({"name": "x" * 129}, "must be 1-128 characters"),
        ({"expires_in_s": 0}, "must be positive"),
    ],
)
def test_create_refuses_bad_requests(
    store: TokenStore, fields: dict[str, object], message: str
) -> None:
    request: dict[str, object] = {"name": "ci-bot", "role": "viewer", **fields}
    with pytest.raises(InvalidArgument, match=message):
        store.create(**request, policy=POLICY)  # type: ignore[arg-type]
    assert store.list() == []


def test_list_by_subject(store: TokenStore, clock: ManualClock) -> None:
    a, _ = store.create(name="a", role="viewer", subject="alice", policy=POLICY)
    clock.advance(1)
    b, _ = store.create(name="b", role="owner", subject="bob", policy=POLICY)
    clock.advance(1)
    c, _ = store.create(name="c", role="admin", subject="alice", policy=POLICY)
    assert [t.token_id for t in store.list()] == [a.token_id, b.token_id, c.token_id]
    assert [t.name for t in store.list(subject="alice")] == ["a", "c"]
    assert store.list(subject="nobody") == []


def test_shares(engine: Engine, clock: ManualClock) -> None:
    shares = ShareStore(engine, clock)
    shares.grant("t1", "bob", by="alice")
    shares.grant("t1", "bob", by="alice")  # again: no change
    clock.advance(1)
    shares.grant("t2", "bob", by="alice")
    shares.grant("t1", "carol", by="alice")
    assert shares.subjects("t1") == {"bob", "carol"}
    assert shares.shared_task_ids("bob") == ["t2", "t1"]
    assert shares.acl("t1", "alice", "acme") == TaskAcl(
        "t1", "alice", "acme", frozenset({"bob", "carol"})
    )
    assert shares.revoke("t1", "bob") is True
    assert shares.revoke("t1", "bob") is False
    assert shares.subjects("t1") == {"carol"}
    assert shares.subjects("nope") == frozenset()
    with pytest.raises(InvalidArgument):
        shares.grant("t1", "", by="alice")


# ---------------------------------------------------------------- the CLI


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    token_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.run(args))


def test_the_cli_prints_a_token_once_and_audits(
    database: Database,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENTLEDGER_SECURITY_DB_URL", database.url)
    monkeypatch.setenv("AGENTLEDGER_SECURITY_DB_SCHEMA", database.schema)
    monkeypatch.delenv("AGENTLEDGER_MESH_KEY", raising=False)
    assert _run("token", "create", "--name", "ci-bot", "--role", "operator") == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out.count("\n") == 1 and token.startswith("alt_")
    assert "only time it is shown" in err and "cannot be shown again" in err
    assert 'curl -H "Authorization: Bearer' in err and token not in err
    principal = TokenStore(engine, ManualClock()).verify(token)
    assert (principal.subject, principal.role) == ("ci-bot", "operator")

    assert _run("token", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)["tokens"]
    assert [(t["name"], t["active"]) for t in listed] == [("ci-bot", True)]
    token_id = listed[0]["token_id"]
    assert token.split("_", 2)[2] not in json.dumps(listed)

    assert _run("token", "revoke", token_id) == 0
    assert f"token {token_id} (ci-bot) revoked" in capsys.readouterr().out
    assert _run("token", "list") == 0
    assert "revoked" in capsys.readouterr().out

    records, _ = AuditLog(engine, ManualClock(), recorded_by="test").page(object_id=token_id)
    assert [(r.action, r.object_type, r.allowed) for r in records] == [
        ("token.create", "token", True),
        ("token.revoke", "token", True),
    ]
    assert records[0].details["role"] == "operator" and records[0].actor.startswith("cli")
    assert token.split("_", 2)[2] not in _all_stored_text(engine)


def test_the_cli_refuses_the_service_role(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run("token", "create", "--name", "x", "--role", "service")
    assert "invalid choice: 'service'" in capsys.readouterr().err


def test_a_token_that_cannot_be_audited_is_revoked(engine: Engine, clock: ManualClock) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE sec_audit"))
    with pytest.raises(Exception, match="sec_audit"):
        token_cli.create_token(
            engine, clock, name="ci-bot", role="viewer", created_by="root", policy=POLICY
        )
    (info,) = TokenStore(engine, clock).list()
    assert info.revoked_unix_nano is not None
