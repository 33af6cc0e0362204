"""The product features on an example plan, end to end in the secured mesh (SQLite and
PostgreSQL): data-cleanup asks about its bad rows, is told to drop them and completes PARTIAL
(rows were dropped); a template of it runs again with the corrected file and completes DONE; the
two runs are compared (they diverge where the first one stopped for its data), the second is
exported, and the bill lists both."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from services.trace_store.client import payload
from tests.conftest import Database
from tests.engine.test_examples import EXAMPLES, command_path
from tests.gateway.harness import start_mesh
from tests.product.test_service import Clients

CORRECTED = "examples/data_cleanup/data/orders_corrected.csv"


@pytest.fixture
async def clients(database: Database, tmp_path: Path) -> AsyncIterator[Clients]:
    mesh = await start_mesh(
        database,
        tmp_path,
        AGENTLEDGER_ENGINE_PLAN_DIRS=str(EXAMPLES),
        PATH=command_path(),
    )
    c = Clients(mesh)
    try:
        yield c
    finally:
        await c.close()
        await mesh.close()


async def waiting(c: Clients, task_id: str) -> None:
    async for msg in c.store.stream_events(task_id):
        for e in msg.batch.events:
            if e.type == "task.state_changed" and payload(e).get("to") == "WAITING_INPUT":
                return


async def test_data_cleanup_from_question_to_export(clients: Clients) -> None:
    alice = clients.product("alice")
    first = await clients.run("alice", "data-cleanup")
    await waiting(clients, first)
    asked = await alice.goal_status(first)
    assert asked.goal_status == "NOT_DONE" and not asked.final
    assert {(a.kind, a.field) for a in asked.user_next_actions} >= {
        ("fix_data", "drop_invalid"),
        ("fix_data", "csv_path"),
    }
    await clients.engine("alice").resume(first, input={"drop_invalid": True})
    await clients.ended(first)
    await clients.mesh.product.finisher.sweep()
    partial = await alice.goal_status(first)
    assert partial.final and partial.goal_status == "PARTIAL" and partial.task_state == "COMPLETED"
    assert [(a.kind, a.field) for a in partial.user_next_actions] == [("change_input", "csv_path")]
    story = await alice.explain(first)
    assert "PARTIAL although the task COMPLETED" in story.markdown
    assert all(s.seqs for s in story.sentences) and not story.refused

    template = await alice.create_template(first, name="orders")
    assert {f.name for f in template.input_fields} == {"csv_path", "drop_invalid"}
    assert not any(f.required for f in template.input_fields)
    second = (await alice.run_template(template.template_id, {"csv_path": CORRECTED})).task_id
    await clients.ended(second)
    await clients.mesh.product.finisher.sweep()
    done = await alice.goal_status(second)
    assert (done.goal_status, done.final) == ("DONE", True) and not done.user_next_actions

    compared = await alice.compare(first, second)
    assert not compared.identical
    doc = orjson.loads(compared.comparison_json)
    assert doc["divergence"]["node_id"] == "validate"
    assert "## First divergence" in compared.markdown

    _, chunks = await alice.export(second)
    data = b"".join([c async for c in chunks])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        root = f"{second}/"
        manifest = orjson.loads(zf.read(root + "MANIFEST.json"))
        assert {f["path"] for f in manifest["files"]} >= {
            "README.md",
            "ENGINEERING.md",
            "events.jsonl",
            "summary.json",
            "system_trace.json",
            "redaction_report.json",
            "artifacts/report/report.md",
        }
        for f in manifest["files"]:
            assert hashlib.sha256(zf.read(root + f["path"])).hexdigest() == f["sha256"], f
        readme = zf.read(root + "README.md").decode()
    assert "**Goal status:** DONE" in readme and "## The story of the run" in readme

    bill = await alice.billing()
    assert {line.task_id for line in bill.lines} == {first, second}
    assert bill.total.usd == sum(line.cost.usd for line in bill.lines)
    assert bill.exports == 1 and bill.compares == 2
    assert any(first in sentence or "2 tasks" in sentence for sentence in bill.explanation)
