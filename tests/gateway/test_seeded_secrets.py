"""Seeded secrets: every kind the redaction policy knows, plus a value in an input the plan
marks sensitive, goes into a task's inputs, its agents' outputs, claims and events, a text
artifact, a tool's output and an error message. Afterwards none of them may be found in the
database files, the blob store, the task's files, the logs, the SSE stream or any API answer."""

from __future__ import annotations

import io
import logging
import secrets
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from agentledger.core.logging import log_handler
from tests.conftest import Database, _pg_conninfo
from tests.engine.harness import PLANS
from tests.gateway.harness import Mesh, start_mesh
from tests.gateway.test_gateway_flow import follow
from tests.security.secrets_corpus import Seed, find_any, seeded_secrets

GATEWAY_PLANS = Path(__file__).with_name("plans")


@pytest.fixture
async def leaky_mesh(database: Database, tmp_path: Path) -> AsyncIterator[Mesh]:
    m = await start_mesh(
        database, tmp_path, AGENTLEDGER_ENGINE_PLAN_DIRS=f"{PLANS},{GATEWAY_PLANS}"
    )
    try:
        yield m
    finally:
        await m.close()


def _stored_files(root: Path) -> list[Path]:
    """Databases (with their WAL), blobs, and each task's files except the agents' own
    scratch folder (work/), which holds whatever an agent writes there."""
    return [p for p in root.rglob("*") if p.is_file() and "work" not in p.relative_to(root).parts]


async def test_no_seeded_secret_survives_anywhere(
    leaky_mesh: Mesh, tmp_path: Path, database: Database
) -> None:
    mesh = leaky_mesh
    seeds = seeded_secrets()
    sensitive = "s3nsitive-" + secrets.token_hex(12)
    everything = [*seeds, Seed("sensitive", f"token {sensitive}", sensitive)]
    assert len({s.kind for s in seeds}) >= 20
    notes = "\n".join(s.text for s in seeds)
    assert set(find_any(notes, seeds)) == {s.kind for s in seeds}  # the scan does find them

    logs = io.StringIO()
    handler = log_handler("test", "json", logs)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        alice = mesh.client("alice")
        r = await alice.post(
            "/api/tasks",
            json={
                "plan_id": "leaky",
                "goal": f"use {seeds[0].text}",
                "inputs": {"notes": notes, "api_token": sensitive},
            },
        )
        assert r.status_code == 201, r.text
        answers = [r.text]
        task_id = r.json()["task_id"]
        logging.getLogger("agentledger.test").info("submitted with %s", notes)
        records = await follow(mesh, "alice", task_id)
        answers.append(repr(records))
        assert records[-1]["event"] == "end" and records[-1]["data"]["state"] == "FAILED"
        types = [r["data"]["type"] for r in records if "id" in r]
        assert "agent.note" in types and "node.artifact_written" in types
        for path in (
            f"/api/tasks/{task_id}",
            f"/api/tasks/{task_id}/summary",
            f"/api/tasks/{task_id}/events?limit=1000",
            f"/api/tasks/{task_id}/optimizer",
            "/api/tasks",
        ):
            got = await alice.get(path)
            assert got.status_code == 200, (path, got.text)
            answers.append(got.text)
        blobs = {b for r in records if "id" in r for b in r["data"]["blob_ids"]}
        assert blobs, "the artifact and the tool's output are blobs"
        for blob in blobs:
            got = await alice.get(f"/api/tasks/{task_id}/blobs/{blob}")
            assert got.status_code == 200
            answers.append(got.content.decode("utf-8", "replace"))
        # What the product service makes of the task: its goal, story, usage, a comparison, a
        # template, the bill and the export's every file.
        await mesh.product.finisher.sweep()
        for path in (
            f"/api/tasks/{task_id}/goal",
            f"/api/tasks/{task_id}/explain",
            f"/api/tasks/{task_id}/explain?format=markdown",
            f"/api/tasks/{task_id}/usage",
            f"/api/tasks/compare?a={task_id}&b={task_id}",
            "/api/billing",
        ):
            got = await alice.get(path)
            assert got.status_code == 200, (path, got.text)
            answers.append(got.text)
        made = await alice.post(f"/api/templates/from_task/{task_id}", json={})
        assert made.status_code == 201, made.text
        answers.append(made.text)
        exported = await alice.get(f"/api/tasks/{task_id}/export")
        assert exported.status_code == 200, exported.text
        with zipfile.ZipFile(io.BytesIO(exported.content)) as zf:
            names = zf.namelist()
            assert any(n.endswith("/events.jsonl") for n in names) and len(names) >= 6
            answers += [zf.read(n).decode("utf-8", "replace") for n in names]
        task = (await alice.get(f"/api/tasks/{task_id}")).json()
        assert task["task"]["inputs"]["api_token"].startswith("[redacted:sensitive:")
        crash = next(n for n in task["nodes"] if n["node_id"] == "crash")
        assert "could not use" in crash["failure_message"]  # the message, without the secrets
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    await mesh.close()  # everything flushed before the files are read

    found: dict[str, list[str]] = {}
    for name, text in [("logs", logs.getvalue()), *(("api", a) for a in answers)]:
        if hits := find_any(text, everything):
            found[name] = hits
    assert "submitted with" in logs.getvalue()
    files = _stored_files(tmp_path)
    assert any(p.name.endswith(".db") for p in files) or database.kind == "postgresql"
    for path in files:
        if hits := find_any(path.read_bytes(), everything):
            found[str(path.relative_to(tmp_path))] = hits
    if database.kind == "postgresql":
        for table, text in _pg_tables(database):
            if hits := find_any(text, everything):
                found[f"postgresql:{table}"] = hits
    assert not found, f"secrets survived: {found}"


def _pg_tables(database: Database) -> list[tuple[str, str]]:
    """Every row of every table of the test's schema, as text."""
    with psycopg.connect(_pg_conninfo(database.url), autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (database.schema,),
            )
        ]
        return [
            (
                t,
                "\n".join(
                    repr(row) for row in conn.execute(f'SELECT * FROM {database.schema}."{t}"')
                ),
            )
            for t in tables
        ]
