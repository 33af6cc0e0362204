"""The Product service in the secured mesh, over gRPC: goal statuses recorded when tasks end,
metering, quotas enforced at submission (by the engine) and at export, templates and re-runs,
compare and export, and the errors a user meets. REST is tests/gateway/test_product_routes.py."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentledger.core.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from agentledger.security.identity import MeshSigner, Principal
from services.engine.client import EngineClient, budget
from services.product.client import ProductClient
from services.trace_store.client import TraceStoreClient, payload
from tests.conftest import Database
from tests.gateway.harness import CAST, Mesh, start_mesh


class Clients:
    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self._signer = MeshSigner(mesh.env["AGENTLEDGER_MESH_KEY"].encode())
        self._open: list[Any] = []
        self.store = self._keep(TraceStoreClient(mesh.store_target, identity=self.ident("svc")))

    def ident(self, who: str) -> Any:
        role, tenant = CAST.get(who, ("service", ""))
        return self._signer.credentials(Principal(who, role, tenant, via="test"))

    def _keep(self, client: Any) -> Any:
        self._open.append(client)
        return client

    def engine(self, who: str) -> EngineClient:
        return self._keep(EngineClient(self.mesh.engine_target, identity=self.ident(who)))  # type: ignore[no-any-return]

    def product(self, who: str) -> ProductClient:
        return self._keep(ProductClient(self.mesh.product_target, identity=self.ident(who)))  # type: ignore[no-any-return]

    async def close(self) -> None:
        for c in self._open:
            await c.close()

    async def run(self, who: str, plan: str, **kw: Any) -> str:
        task = await self.engine(who).submit(
            owner=who, goal=f"run {plan}", budget=budget(seconds=60), plan_id=plan, **kw
        )
        return task.task_id

    async def ended(self, task_id: str) -> None:
        """Follows the task's events until it has ended (no sleeping)."""
        async for _ in self.store.stream_events(task_id, until_terminal=True):
            pass

    async def events(self, task_id: str) -> list[Any]:
        page = await self.store.list_events(task_id, limit=1000)
        return list(page.events)


@pytest.fixture
async def clients(database: Database, tmp_path: Path) -> AsyncIterator[Clients]:
    mesh = await start_mesh(database, tmp_path)
    c = Clients(mesh)
    try:
        yield c
    finally:
        await c.close()
        await mesh.close()


async def test_a_task_that_ends_gets_its_goal_status_recorded_once(clients: Clients) -> None:
    task_id = await clients.run("alice", "chain3")
    await clients.ended(task_id)
    assert await clients.mesh.product.finisher.sweep() >= 1
    summary = await clients.store.get_summary(task_id)
    assert summary.state == "COMPLETED" and summary.goal_status == "DONE"
    goal = orjson.loads(summary.extra_json)["goal"]
    events = await clients.events(task_id)
    recorded = [e for e in events if e.type == "goal.evaluated"]
    assert len(recorded) == 1 and goal["seq"] == recorded[0].seq
    assert payload(recorded[0])["goal_status"] == "DONE"
    # Swept again, asked again: the same record, no second event.
    await clients.mesh.product.finisher.sweep()
    report = await clients.product("alice").goal_status(task_id)
    assert report.final and report.recorded_seq == recorded[0].seq
    assert report.goal_status == "DONE" and report.completion_breakdown
    assert [e.type for e in await clients.events(task_id)].count("goal.evaluated") == 1
    usage = await clients.product("alice").usage(task_id)
    assert usage.owner == "alice" and usage.state == "COMPLETED"
    assert usage.events >= recorded[0].seq - 1


async def test_a_failed_task_is_not_done_and_names_what_to_fix(clients: Clients) -> None:
    task_id = await clients.run("alice", "rows", inputs={"rows": [1, "x", 3]})
    # The data issue pauses it for a fix: not ended, so the report is not final yet.
    alice = clients.product("alice")
    async for msg in clients.store.stream_events(task_id):
        if any(e.type == "task.state_changed" and payload(e).get("to") == "WAITING_INPUT"
               for e in msg.batch.events):  # fmt: skip
            break
    report = await alice.goal_status(task_id)
    assert not report.final and report.recorded_seq == 0
    assert report.goal_status == "NOT_DONE"
    assert {a.kind for a in report.user_next_actions} & {"fix_data", "supply_input"}
    explained = await alice.explain(task_id)
    assert explained.sentences and all(s.seqs for s in explained.sentences)
    assert "## What to do next" in explained.markdown and explained.written_by == "rules"


async def test_quotas_refuse_a_submission_and_store_nothing(clients: Clients) -> None:
    adam, alice = clients.product("adam"), clients.product("alice")
    with pytest.raises(PermissionDenied):
        await alice.set_quota(scope="owner", subject="alice", quota="concurrent_tasks", limit=5)
    state = await adam.set_quota(scope="owner", subject="alice", quota="concurrent_tasks", limit=1)
    assert (state.limit, state.source) == (1, "set")
    waiting = await clients.run("alice", "ask")  # stops at a human question: stays active
    with pytest.raises(ResourceExhausted) as refused:
        await clients.run("alice", "chain3")
    message = str(refused.value)
    assert "concurrent_tasks" in message and "1 of 1" in message and "'alice'" in message
    listed = await clients.engine("alice").list_tasks(owner="alice")
    assert [t.task_id for t in listed.tasks] == [waiting]
    # Another owner is not limited by alice's quota; her template of a running task is refused.
    await clients.run("mallory", "chain3")
    with pytest.raises(FailedPrecondition, match="a template is made from a task that has ended"):
        await alice.create_template(waiting)
    shown = {(q.scope, q.quota): q for q in await alice.quota_status()}
    assert shown[("owner", "concurrent_tasks")].usage == 1
    await adam.set_quota(scope="owner", subject="alice", quota="concurrent_tasks", reset=True)
    assert await clients.run("alice", "chain3")


async def test_exports_count_against_a_daily_quota(clients: Clients) -> None:
    task_id = await clients.run("alice", "chain3")
    await clients.ended(task_id)
    await clients.product("adam").set_quota(
        scope="owner", subject="alice", quota="daily_exports", limit=1
    )
    alice = clients.product("alice")
    header, chunks = await alice.export(task_id)
    data = b"".join([c async for c in chunks])
    assert header.filename == f"{task_id}.zip" and header.content_type == "application/zip"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        root = f"{task_id}/"
        manifest = orjson.loads(zf.read(root + "MANIFEST.json"))
        for f in manifest["files"]:
            assert hashlib.sha256(zf.read(root + f["path"])).hexdigest() == f["sha256"]
        readme = zf.read(root + "README.md").decode()
    assert "Goal status:** DONE" in readme and "## The story of the run" in readme
    with pytest.raises(ResourceExhausted) as refused:
        await alice.export(task_id)
    assert "daily_exports" in str(refused.value) and "resets at" in str(refused.value)
    assert (await alice.usage(task_id)).exports == 1


async def test_templates_and_reruns_run_again_with_new_inputs(clients: Clients) -> None:
    task_id = await clients.run("alice", "rows", inputs={"rows": [1, 2, 3]})
    await clients.ended(task_id)
    alice = clients.product("alice")
    template = await alice.create_template(task_id, name="sum rows")
    assert template.plan_id == "rows" and [f.name for f in template.input_fields] == ["rows"]
    assert b"[1, 2, 3]" not in template.SerializeToString()  # no input values
    assert [t.template_id for t in (await alice.list_templates()).templates] == [
        template.template_id
    ]
    with pytest.raises(NotFound):
        await clients.product("mallory").get_template(template.template_id)
    with pytest.raises(InvalidArgument, match="'rows'"):
        await alice.run_template(template.template_id, {})
    again = await alice.run_template(template.template_id, {"rows": [4, 5]})
    rerun = await alice.rerun(task_id, {"rows": [7]})
    for new in (again, rerun):
        assert new.owner == "alice" and new.plan_id == "rows" and new.task_id != task_id
        await clients.ended(new.task_id)
    compared = await alice.compare(task_id, rerun.task_id)
    assert compared.headline and orjson.loads(compared.comparison_json)["a"]["task_id"] == task_id
    itself = await alice.compare(task_id, task_id)
    assert itself.identical and "the same task" in itself.headline
    await alice.delete_template(template.template_id)
    with pytest.raises(NotFound):
        await alice.get_template(template.template_id)


async def test_unknown_ids_are_not_found(clients: Clients) -> None:
    alice = clients.product("alice")
    missing = "t-0000000000000000000000000"
    for call in (
        alice.goal_status(missing),
        alice.explain(missing),
        alice.usage(missing),
        alice.compare(missing, missing),
        alice.export(missing),
        alice.create_template(missing),
        alice.rerun(missing),
        alice.get_template("tpl-missing"),
    ):
        with pytest.raises(NotFound):
            await call


async def test_submissions_fail_closed_when_the_product_service_is_down(
    clients: Clients,
) -> None:
    await clients.mesh.product_server.stop(0)
    with pytest.raises(Unavailable, match="the task was not stored"):
        await clients.run("alice", "chain3")
    assert not (await clients.engine("alice").list_tasks(owner="alice")).tasks


async def test_an_export_over_the_cap_is_refused_before_a_byte_and_not_counted(
    database: Database, tmp_path: Path
) -> None:
    mesh = await start_mesh(
        database, tmp_path, product_env={"AGENTLEDGER_PRODUCT_EXPORT_MAX_BYTES": "1000"}
    )
    c = Clients(mesh)
    try:
        task_id = await c.run("alice", "chain3")
        await c.ended(task_id)
        alice = c.product("alice")
        with pytest.raises(ResourceExhausted, match="1000"):
            await alice.export(task_id)
        assert (await alice.usage(task_id)).exports == 0
        states = {q.quota: q for q in await alice.quota_status()}
        assert states["daily_exports"].usage == 0
    finally:
        await c.close()
        await mesh.close()
