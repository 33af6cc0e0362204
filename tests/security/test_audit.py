"""The audit log: appends chain, pages filter, verify names every kind of tampering, replicas
never fork the chain, the writer batches and refuses when it cannot write, and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from agentledger.cli import audit as audit_cli
from agentledger.core.clock import ManualClock
from agentledger.core.errors import InvalidArgument, NotFound, Unavailable
from agentledger.security.audit import (
    COLUMNS,
    GENESIS,
    AuditEntry,
    AuditLog,
    AuditRecord,
    AuditWriter,
    record_hash,
)
from agentledger.security.db import open_security_db
from tests.conftest import Database


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    eng = open_security_db(database.url, schema=database.schema or None)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def audit(engine: Engine, clock: ManualClock) -> AuditLog:
    return AuditLog(engine, clock, recorded_by="gateway")


def view(n: int, owner: str = "alice", actor: str = "bob", allowed: bool = True) -> AuditEntry:
    return AuditEntry(
        "task.view",
        allowed,
        actor=actor,
        role="operator",
        object_type="task",
        object_id=f"task-{n}",
        object_owner=owner,
        reason="" if allowed else "not shared with bob",
        source="10.0.0.7",
        details={"n": n},
    )


def fill(audit: AuditLog, n: int) -> list[AuditRecord]:
    """n records; every fifth one a denial."""
    return audit.append([view(i, allowed=i % 5 != 0) for i in range(1, n + 1)])


# -- appending and reading ------------------------------------------------------------------


def test_append_chains_records_and_head_follows(audit: AuditLog, clock: ManualClock) -> None:
    assert audit.head() == (0, GENESIS)
    first = audit.append([view(1), view(2, allowed=False)])
    clock.advance(1)
    [third] = audit.append([view(3)])
    records = [*first, third]
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert third.at_unix_nano == clock.now_ns() and third.recorded_by == "gateway"
    assert records[1].allowed is False and records[1].reason == "not shared with bob"
    assert audit.head() == (3, third.hash)
    stored, _ = audit.page()
    assert stored == records
    for r in stored:
        row = {**r.to_dict(), "details_json": orjson.dumps(dict(r.details)).decode()}
        assert record_hash(row) == r.hash
    assert third.to_dict()["details"] == {"n": 3}
    assert third.to_dict()["at"].endswith("Z")


def test_long_values_are_clipped_to_their_columns(audit: AuditLog) -> None:
    [r] = audit.append([AuditEntry("rpc.denied", False, actor="x" * 1000, source="s" * 999)])
    assert len(r.actor) == 256 and len(r.source) == 256
    assert audit.verify().ok


def test_entries_are_checked_where_they_are_made() -> None:
    with pytest.raises(InvalidArgument, match="JSON-able"):
        AuditEntry("task.view", True, details={"when": object()})
    with pytest.raises(InvalidArgument, match="needs an action"):
        AuditEntry("", True)


def test_page_filters_by_owner_actor_and_object_and_pages_with_a_cursor(audit: AuditLog) -> None:
    audit.append(
        [
            view(1, owner="alice", actor="bob"),
            view(2, owner="carol", actor="alice", allowed=False),  # alice's own denial
            view(3, owner="carol", actor="carol"),
            view(1, owner="alice", actor="alice"),
            AuditEntry("token.create", True, actor="admin", object_type="token", object_id="t1"),
        ]
    )
    mine, cursor = audit.page(owner="alice")
    assert [r.seq for r in mine] == [1, 2, 4] and cursor is None
    assert [r.seq for r in audit.page(actor="carol")[0]] == [3]
    assert [r.seq for r in audit.page(object_id="task-1")[0]] == [1, 4]
    assert [r.seq for r in audit.page(owner="alice", actor="bob")[0]] == [1]
    page1, cursor = audit.page(limit=2)
    assert [r.seq for r in page1] == [1, 2] and cursor == 2
    page2, cursor = audit.page(after_seq=2, limit=2)
    assert [r.seq for r in page2] == [3, 4] and cursor == 4
    page3, cursor = audit.page(after_seq=4, limit=2)
    assert [r.seq for r in page3] == [5] and cursor is None
    with pytest.raises(InvalidArgument, match="limit 0"):
        audit.page(limit=0)
    with pytest.raises(InvalidArgument, match="not a cursor"):
        audit.page(after_seq=-1)


# -- verification and tampering ----------------------------------------------------------------


def test_an_untouched_chain_verifies_in_any_batch_size(audit: AuditLog) -> None:
    empty = audit.verify()
    assert (empty.ok, empty.checked, empty.head_seq, empty.head_hash) == (True, 0, 0, GENESIS)
    for i in range(6):
        audit.append([view(i * 5 + j) for j in range(5)])
    for batch in (1, 7, 30, 5000):
        report = audit.verify(batch=batch, expect_head=audit.head())
        assert report.ok and report.checked == 30 and report.problem == ""
        assert (report.head_seq, report.head_hash) == audit.head()


def _row(engine: Engine, seq: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM sec_audit WHERE seq = :s"), {"s": seq}).one()
    return {name: row._mapping[name] for name in COLUMNS}


def _sql(engine: Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def _rewrite(engine: Engine, seq: int, **changes: Any) -> None:
    """Changes a record and recomputes its hash, as a careful forger would."""
    row = {**_row(engine, seq), **changes}
    row["hash"] = record_hash(row)
    sets = ", ".join(f"{k} = :{k}" for k in row if k != "seq")
    _sql(engine, f"UPDATE sec_audit SET {sets} WHERE seq = :seq", **row)


def _swap_content(engine: Engine, a: int, b: int) -> None:
    """Swaps what two records say, leaving their place in the chain and their hashes."""
    ra, rb = _row(engine, a), _row(engine, b)
    content = ["actor", "action", "object_id", "object_owner", "allowed", "details_json"]
    for seq, src in ((a, rb), (b, ra)):
        sets = ", ".join(f"{k} = :{k}" for k in content)
        _sql(engine, f"UPDATE sec_audit SET {sets} WHERE seq = :seq", **{**src, "seq": seq})


def _renumber(engine: Engine, a: int, b: int) -> None:
    """Swaps two records' positions: each keeps its content and hashes, under the other's seq."""
    _sql(engine, "UPDATE sec_audit SET seq = -1 WHERE seq = :a", a=a)
    _sql(engine, "UPDATE sec_audit SET seq = :a WHERE seq = :b", a=a, b=b)
    _sql(engine, "UPDATE sec_audit SET seq = :b WHERE seq = -1", b=b)


Tamper = Callable[[Engine], None]
TAMPERING: dict[str, tuple[Tamper, int, str]] = {
    "a field changed": (
        lambda e: _sql(e, "UPDATE sec_audit SET object_id = 'task-x' WHERE seq = 13"),
        13,
        r"record 13 \(id [0-9a-f-]{36}\) was altered: its hash does not match its content",
    ),
    "a denial turned into an allow": (
        lambda e: _sql(e, "UPDATE sec_audit SET allowed = :t WHERE seq = 5", t=True),
        5,
        r"record 5 \(id .*\) was altered",
    ),
    "the details changed": (
        lambda e: _sql(e, "UPDATE sec_audit SET details_json = '{\"n\": 21' WHERE seq = 20"),
        20,
        r"record 20 \(id .*\) was altered",
    ),
    "a record deleted": (
        lambda e: _sql(e, "DELETE FROM sec_audit WHERE seq = 13"),
        13,
        r"^record 13 is missing: 12 is followed by 14$",
    ),
    "several records deleted": (
        lambda e: _sql(e, "DELETE FROM sec_audit WHERE seq BETWEEN 10 AND 12"),
        10,
        r"^record 10\.\.12 is missing: 9 is followed by 13$",
    ),
    "the first record deleted": (
        lambda e: _sql(e, "DELETE FROM sec_audit WHERE seq = 1"),
        1,
        r"^record 1 is missing: the log starts at record 2$",
    ),
    "two records' content swapped": (
        lambda e: _swap_content(e, 8, 15),
        8,
        r"record 8 \(id .*\) was altered",
    ),
    "two records renumbered": (
        lambda e: _renumber(e, 8, 9),
        8,
        r"record 8 \(id .*\) does not follow record 7: its prev_hash does not match",
    ),
    "a record rewritten with a fresh hash": (
        lambda e: _rewrite(e, 13, actor="mallory"),
        14,
        r"record 14 \(id .*\) does not follow record 13: .*record 13 was rewritten",
    ),
    "a record relinked (prev_hash and hash)": (
        lambda e: _rewrite(e, 13, prev_hash="f" * 64),
        13,
        r"record 13 \(id .*\) does not follow record 12",
    ),
    "the first record relinked": (
        lambda e: _rewrite(e, 1, prev_hash="f" * 64),
        1,
        r"record 1 \(id .*\) does not start the chain",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_verify_names_the_first_tampered_record(case: str, audit: AuditLog, engine: Engine) -> None:
    tamper, bad, problem = TAMPERING[case]
    fill(audit, 24)
    tamper(engine)
    for batch in (5, 5000):
        report = audit.verify(batch=batch)
        assert not report.ok
        assert report.first_bad_seq == bad
        assert report.checked == report.head_seq == bad - 1
        assert re.search(problem, report.problem), report.problem
    assert len(audit.page()[0]) >= 20  # tampered records can still be read


def test_a_removed_tail_is_caught_by_the_witnessed_head(audit: AuditLog, engine: Engine) -> None:
    fill(audit, 10)
    witnessed = audit.head()
    _sql(engine, "DELETE FROM sec_audit WHERE seq > 7")
    assert audit.verify().ok  # the chain alone cannot tell: the head must be kept elsewhere
    report = audit.verify(expect_head=witnessed)
    assert not report.ok and report.first_bad_seq == 8 and report.head_seq == 7
    assert report.problem.startswith("record 8 is missing: the log ends at record 7")


def test_a_replaced_tail_is_caught_by_the_witnessed_head(audit: AuditLog, engine: Engine) -> None:
    fill(audit, 10)
    witnessed = audit.head()
    _sql(engine, "DELETE FROM sec_audit WHERE seq > 8")
    audit.append([view(100), view(101), view(102)])
    assert audit.verify().ok
    report = audit.verify(expect_head=witnessed)
    assert not report.ok and report.first_bad_seq == 10
    assert "record 10 (id" in report.problem and "witnessed as the head" in report.problem
    assert audit.verify(expect_head=(8, _row(engine, 8)["hash"])).ok  # older heads still hold


# -- serialization across replicas ----------------------------------------------------------


def test_two_replicas_appending_at_once_never_fork_the_chain(
    database: Database, clock: ManualClock
) -> None:
    engines = [open_security_db(database.url, schema=database.schema or None) for _ in range(2)]
    replicas = [AuditLog(e, clock, recorded_by=f"gateway-{i}") for i, e in enumerate(engines)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(50):
                replicas[t % 2].append([view(t * 1000 + i)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        records: list[AuditRecord] = []
        cursor: int | None = 0
        while cursor is not None:
            page, cursor = replicas[0].page(after_seq=cursor, limit=64)
            records += page
        assert [r.seq for r in records] == list(range(1, 201))
        assert {r.recorded_by for r in records} == {"gateway-0", "gateway-1"}
        report = replicas[1].verify(batch=37)
        assert report.ok and report.checked == 200
    finally:
        for e in engines:
            e.dispose()


# -- the group-commit writer --------------------------------------------------------------------


class CountingLog(AuditLog):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[int] = []

    def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        self.batches.append(len(entries))
        return super().append(entries)


async def test_the_writer_commits_concurrent_records_in_batches(
    engine: Engine, clock: ManualClock
) -> None:
    counting = CountingLog(engine, clock, recorded_by="gateway")
    writer = AuditWriter(counting, max_batch=16)
    try:
        records = await asyncio.gather(*(writer.record(view(i)) for i in range(100)))
    finally:
        await writer.close()
    assert [r.details["n"] for r in records] == list(range(100))  # each caller gets its own
    assert sorted(r.seq for r in records) == list(range(1, 101))
    assert sum(counting.batches) == 100
    assert len(counting.batches) < 100 and max(counting.batches) <= 16
    assert counting.verify().ok


async def test_close_writes_what_is_queued_and_refuses_what_comes_after(audit: AuditLog) -> None:
    writer = AuditWriter(audit)
    pending = [asyncio.ensure_future(writer.record(view(i))) for i in range(5)]
    await asyncio.sleep(0)  # the callers enqueue
    await writer.close()
    assert [p.result().seq for p in pending] == [1, 2, 3, 4, 5]
    with pytest.raises(Unavailable, match="closed"):
        await writer.record(view(6))


async def test_when_the_audit_write_fails_every_waiting_action_is_refused(
    audit: AuditLog, engine: Engine
) -> None:
    writer = AuditWriter(audit)
    try:
        await writer.record(view(0))
        _sql(engine, "DROP TABLE sec_audit")
        results = await asyncio.gather(
            *(writer.record(view(i)) for i in range(1, 9)), return_exceptions=True
        )
    finally:
        await writer.close()
    assert len(results) == 8
    for result in results:
        assert isinstance(result, Unavailable)
        assert str(result).startswith("the audit log could not be written (")
        assert str(result).endswith("; the action was refused")


# -- the command line -----------------------------------------------------------------------


def _cli(database: Database, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="agentledger")
    audit_cli.register(parser.add_subparsers(dest="command", required=True))
    db = ["--db-url", database.url] + (["--db-schema", database.schema] if database.schema else [])
    args = parser.parse_args(["audit", argv[0], *db, *argv[1:]])
    return int(args.run(args))


def test_cli_verify_says_intact_or_names_the_tampered_record(
    database: Database, audit: AuditLog, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(audit, 12)
    seq, head = audit.head()
    assert _cli(database, "verify") == 0
    out = capsys.readouterr().out
    assert "audit log intact: 12 records checked" in out and f"head: 12:{head}" in out
    assert _cli(database, "verify", "--expect-head", f"{seq}:{head}") == 0
    capsys.readouterr()

    _sql(engine, "UPDATE sec_audit SET reason = 'nothing to see' WHERE seq = 6")
    assert _cli(database, "verify") == 1
    out = capsys.readouterr().out
    assert "audit log TAMPERED: record 6 (id " in out and "was altered" in out
    assert "intact up to record 5" in out

    _sql(engine, "DELETE FROM sec_audit WHERE seq >= 6")
    assert _cli(database, "verify", "--expect-head", f"{seq}:{head}") == 1
    assert "record 6 is missing: the log ends at record 5" in capsys.readouterr().out
    with pytest.raises(InvalidArgument, match="is not SEQ:HASH"):
        _cli(database, "verify", "--expect-head", "12:nothex")


def test_cli_list_prints_a_table_or_json(
    database: Database, audit: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    audit.append([view(1), view(2, owner="carol", allowed=False), view(3)])
    assert _cli(database, "list", "--owner", "alice", "--limit", "1") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["seq", "time", "(UTC)"]
    assert "task.view" in lines[1] and "task:task-1" in lines[1] and "allowed" in lines[1]
    assert lines[-1] == "-- more: --after 1"
    assert _cli(database, "list", "--task", "task-2", "--json") == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["next_after"] is None
    [rec] = doc["records"]
    assert (rec["seq"], rec["allowed"], rec["reason"]) == (2, False, "not shared with bob")


def test_cli_reads_its_database_from_the_environment_and_never_creates_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="agentledger")
    audit_cli.register(parser.add_subparsers(dest="command", required=True))
    monkeypatch.delenv("AGENTLEDGER_SECURITY_DB_URL", raising=False)
    monkeypatch.delenv("AGENTLEDGER_SECURITY_DB_SCHEMA", raising=False)
    monkeypatch.setenv("AGENTLEDGER_DATA_DIR", str(tmp_path))
    args = parser.parse_args(["audit", "verify"])
    with pytest.raises(NotFound, match=r"no security database at .*security\.db"):
        args.run(args)
    assert not (tmp_path / "security.db").exists()

    engine = open_security_db(f"sqlite:///{tmp_path / 'security.db'}")
    try:
        AuditLog(engine, ManualClock(), recorded_by="t").append([view(1)])
    finally:
        engine.dispose()
    assert args.run(args) == 0
    assert "1 records checked" in capsys.readouterr().out
