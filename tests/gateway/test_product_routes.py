"""The product routes end to end through REST, on the real mesh: a task's goal status, its
narrative, templates and runs made from them, compare, export, usage, quotas and billing; and
the refusals (a running task, unknown ids, the export cap, quotas without quota.manage)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Database
from tests.gateway.harness import Mesh, start_mesh
from tests.gateway.test_gateway_flow import follow, submit

GOAL_STATUSES = {"DONE", "PARTIAL", "NOT_DONE"}


async def ended(mesh: Mesh, who: str, task_id: str) -> str:
    """Follows the task until it ends; returns how it ended."""
    records = await follow(mesh, who, task_id)
    assert records[-1]["event"] == "end", records[-1]
    state = (await mesh.client(who).get(f"/api/tasks/{task_id}")).json()["task"]["state"]
    assert state in ("COMPLETED", "FAILED", "CANCELLED"), state
    return str(state)


def error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["status"] == status
    return str(body["message"])


def unzip(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        assert z.testzip() is None
        return {name: z.read(name) for name in z.namelist()}


def check_manifest(files: dict[str, bytes]) -> dict[str, Any]:
    """Every file MANIFEST.json lists is in the zip with that size and sha256, and nothing else
    is (but the manifest)."""
    [name] = [n for n in files if n.endswith("MANIFEST.json")]
    manifest: dict[str, Any] = orjson.loads(files[name])
    root = manifest["root"]
    listed = {root + f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {name}, (sorted(listed), sorted(files))
    for path, f in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == f["sha256"], path
        assert len(files[path]) == f["size"], path
    return manifest


async def test_a_task_from_goal_to_bill(mesh: Mesh) -> None:
    alice, adam = mesh.client("alice"), mesh.client("adam")
    task_id = await submit(mesh, "alice", "rows", inputs={"rows": [1, 2, 3]})
    assert await ended(mesh, "alice", task_id) == "COMPLETED"

    # 3.1 the goal status: final once the task has ended, and recorded in its trace.
    r = await alice.get(f"/api/tasks/{task_id}/goal")
    assert r.status_code == 200, r.text
    goal = r.json()
    assert goal["task_id"] == task_id and goal["task_state"] == "COMPLETED"
    assert goal["goal_status"] in GOAL_STATUSES
    assert goal["final"] is True and goal["recorded_seq"] > 0
    assert goal["last_seq"] >= goal["recorded_seq"] - 1
    assert goal["completion_breakdown"], goal
    for sub in goal["completion_breakdown"]:
        assert sub["status"] in GOAL_STATUSES and sub["requirements"], sub
    assert goal["goal_status"] == "DONE" and goal["user_next_actions"] == []
    again = (await alice.get(f"/api/tasks/{task_id}/goal")).json()
    assert again["recorded_seq"] == goal["recorded_seq"]  # recorded once
    summary = (await alice.get(f"/api/tasks/{task_id}/summary")).json()
    assert summary["goal_status"] == goal["goal_status"]

    # A failed task is NOT_DONE, and the report says what to do about it, with evidence.
    failed = await submit(mesh, "alice", "too_slow")
    assert await ended(mesh, "alice", failed) == "FAILED"
    r = await alice.get(f"/api/tasks/{failed}/goal")
    assert r.status_code == 200, r.text
    bad = r.json()
    assert bad["goal_status"] == "NOT_DONE" and bad["final"] and bad["recorded_seq"] > 0
    assert bad["missing_requirements"] and bad["user_next_actions"], bad
    for action in bad["user_next_actions"]:
        assert action["kind"] and action["why"] and action["evidence"], action
        cited = [(e["seq"], e["text"]) for e in action["evidence"]]
        assert len(cited) == len(set(cited)), cited  # each event once
    summary = (await alice.get(f"/api/tasks/{failed}/summary")).json()
    assert summary["goal_status"] == "NOT_DONE"

    # 3.2 the narrative: every sentence rests on events.
    r = await alice.get(f"/api/tasks/{task_id}/explain")
    assert r.status_code == 200, r.text
    told = r.json()
    assert told["goal"]["goal_status"] == goal["goal_status"] and told["written_by"] == "rules"
    assert told["sentences"] and all(s["seqs"] for s in told["sentences"]), told["sentences"]
    assert {s["section"] for s in told["sentences"]} >= {"what_happened", "cost"}
    md = await alice.get(f"/api/tasks/{task_id}/explain", params={"format": "markdown"})
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text == told["markdown"] and md.text.strip()

    # 3.3 a template: the inputs a run needs, never their values.
    r = await alice.post(f"/api/templates/from_task/{task_id}", json={"name": "sum rows"})
    assert r.status_code == 201, r.text
    template = r.json()
    tid = template["template_id"]
    assert template["name"] == "sum rows" and template["owner"] == "alice"
    assert template["source_task_id"] == task_id and template["plan_id"] == "rows"
    assert [f["name"] for f in template["input_fields"]] == ["rows"]
    assert template["input_fields"][0]["required"] is True
    assert "[1, 2, 3]" not in r.text and "[1,2,3]" not in r.text
    assert (await alice.get(f"/api/templates/{tid}")).json() == template
    listed = (await alice.get("/api/templates")).json()
    assert [t["template_id"] for t in listed["templates"]] == [tid]
    assert listed["next_cursor"] == ""
    for who in ("mallory", "olga"):  # another person's template is not found
        error(await mesh.client(who).get(f"/api/templates/{tid}"), 404)
    assert (await adam.get(f"/api/templates/{tid}")).status_code == 200

    missing = error(await alice.post(f"/api/tasks/from_template/{tid}", json={}), 400)
    assert "rows" in missing and tid in missing
    r = await alice.post(
        f"/api/tasks/from_template/{tid}", json={"inputs": {"rows": [4, 5]}, "mode": "fast"}
    )
    assert r.status_code == 201, r.text
    from_template = r.json()
    assert from_template["task_id"] != task_id and from_template["owner"] == "alice"
    assert from_template["plan_id"] == "rows" and from_template["mode"] == "fast"
    assert await ended(mesh, "alice", from_template["task_id"]) == "COMPLETED"

    # Run again: the earlier inputs carried over, or laid over.
    r = await alice.post(f"/api/tasks/{task_id}/rerun")
    assert r.status_code == 201, r.text
    rerun = r.json()["task_id"]
    assert rerun not in (task_id, from_template["task_id"])
    r = await alice.post(f"/api/tasks/{task_id}/rerun", json={"inputs": {"rows": [7]}})
    assert r.status_code == 201, r.text
    overlaid = r.json()["task_id"]
    assert await ended(mesh, "alice", rerun) == "COMPLETED"
    assert await ended(mesh, "alice", overlaid) == "COMPLETED"

    # 3.4 compare two runs, and a run with itself.
    r = await alice.get("/api/tasks/compare", params={"a": task_id, "b": rerun})
    assert r.status_code == 200, r.text
    compared = r.json()
    assert compared["headline"] and isinstance(compared["comparison"], dict)
    assert compared["comparison"], compared
    md = await alice.get(
        "/api/tasks/compare", params={"a": task_id, "b": rerun, "format": "markdown"}
    )
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert md.text == compared["markdown"] and md.text.strip()
    same = await alice.get("/api/tasks/compare", params={"a": task_id, "b": task_id})
    assert same.status_code == 200 and same.json()["identical"] is True

    # 3.5 the export: a zip whose manifest holds for every file.
    r = await alice.get(f"/api/tasks/{task_id}/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == f'attachment; filename="{task_id}.zip"'
    assert r.headers["x-content-type-options"] == "nosniff"
    manifest = check_manifest(unzip(r.content))
    assert manifest["task_id"] == task_id
    assert any(f["path"].endswith("README.md") for f in manifest["files"])

    # 3.6 usage: the export and the compares are counted.
    r = await alice.get(f"/api/tasks/{task_id}/usage")
    assert r.status_code == 200, r.text
    usage = r.json()
    assert usage["task_id"] == task_id and usage["owner"] == "alice"
    assert usage["exports"] == 1 and usage["compares"] >= 2
    assert usage["events"] >= goal["recorded_seq"] - 1 and usage["day"]

    # Quotas: an admin allows alice one export a day; she has made one.
    r = await adam.put("/api/quotas/owner/alice/daily_exports", json={"limit": 1})
    assert r.status_code == 200, r.text
    assert r.json() == {
        **r.json(),
        "quota": "daily_exports",
        "scope": "owner",
        "subject": "alice",
        "usage": 1.0,
        "limit": 1.0,
        "source": "set",
    }
    assert r.json()["resets_unix_nano"] > 0
    mine = (await alice.get("/api/quotas")).json()["quotas"]
    [exports] = [q for q in mine if q["quota"] == "daily_exports" and q["scope"] == "owner"]
    assert exports["limit"] == 1 and exports["usage"] == 1 and exports["source"] == "set"
    refused = error(await alice.get(f"/api/tasks/{task_id}/export"), 429)
    assert "daily_exports" in refused and "1 of 1" in refused and "resets at" in refused
    r = await adam.delete("/api/quotas/owner/alice/daily_exports")
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "default" and r.json()["limit"] == 0
    assert (await alice.get(f"/api/tasks/{task_id}/export")).status_code == 200

    # Who changed the quota, and to what, is in the audit log.
    records = (await adam.get("/api/audit", params={"actor": "adam"})).json()["records"]
    quota_records = [(r["action"], r["object_id"], r["details"]) for r in records]
    assert ("quota.set", "owner/alice/daily_exports", {"limit": 1.0}) in quota_records
    assert ("quota.reset", "owner/alice/daily_exports", {}) in quota_records

    # Billing: every task of alice's, each with its explanation.
    await mesh.product.finisher.sweep()
    r = await alice.get("/api/billing")
    assert r.status_code == 200, r.text
    bill = r.json()
    assert bill["owner"] == "alice" and bill["explanation"]
    lines = {line["task_id"]: line for line in bill["lines"]}
    assert set(lines) == {task_id, failed, from_template["task_id"], rerun, overlaid}
    assert all(line["explanation"] for line in lines.values())
    assert lines[task_id]["exports"] == 2 and bill["exports"] == 2
    assert (await adam.get("/api/billing", params={"owner": "alice"})).json() == bill


async def test_a_concurrent_tasks_quota_refuses_a_second_task(mesh: Mesh) -> None:
    alice, adam = mesh.client("alice"), mesh.client("adam")
    r = await adam.put("/api/quotas/owner/alice/concurrent_tasks", json={"limit": 1})
    assert r.status_code == 200 and r.json()["limit"] == 1, r.text
    running = await submit(mesh, "alice", "blocker", budget={"seconds": 600})
    refused = error(await alice.post("/api/tasks", json={"plan_id": "chain3"}), 429)
    assert "concurrent_tasks" in refused and "1 of 1" in refused, refused

    # A template of a task that has not ended is refused.
    message = error(await alice.post(f"/api/templates/from_task/{running}"), 409)
    assert running in message and "has ended" in message, message
    await alice.post(f"/api/tasks/{running}/cancel")
    await ended(mesh, "alice", running)
    r = await adam.delete("/api/quotas/owner/alice/concurrent_tasks")
    assert r.status_code == 200 and r.json()["source"] == "default", r.text
    assert (await alice.post("/api/tasks", json={"plan_id": "chain3"})).status_code == 201


async def test_unknown_and_unreachable_tasks_are_404(mesh: Mesh) -> None:
    alice = mesh.client("alice")
    mine = await submit(mesh, "alice")
    theirs = await submit(mesh, "nina")  # an operator in alice's tenant, nothing shared
    await ended(mesh, "alice", mine)
    for task in ("01NOSUCHTASK", theirs):
        for path in ("goal", "explain", "export", "usage"):
            error(await alice.get(f"/api/tasks/{task}/{path}"), 404)
        error(await alice.post(f"/api/tasks/{task}/rerun"), 404)
        error(await alice.post(f"/api/templates/from_task/{task}"), 404)
        for a, b in ((mine, task), (task, mine), (task, task)):
            r = await alice.get("/api/tasks/compare", params={"a": a, "b": b})
            assert task in error(r, 404)
    for path in ("/api/templates/tpl-nosuchtemplate0000", "/api/tasks/from_template/tpl-x"):
        r = await (alice.get(path) if path.startswith("/api/templates") else alice.post(path))
        assert "tpl-" in error(r, 404)
    error(await alice.delete("/api/templates/tpl-nosuchtemplate0000"), 404)
    # The refusals are audited, as are the reads that were allowed.
    records = (await mesh.client("adam").get("/api/audit", params={"limit": 1000})).json()
    seen = {(r["action"], r["object_id"], r["allowed"]) for r in records["records"]}
    for action in ("task.goal", "task.explain", "task.export", "task.usage", "task.compare"):
        assert (action, theirs, False) in seen, action
    await alice.get(f"/api/tasks/{mine}/goal")
    records = (await mesh.client("alice").get("/api/audit", params={"task_id": mine})).json()
    assert "task.goal" in {r["action"] for r in records["records"] if r["allowed"]}


async def test_compare_is_not_taken_for_a_task_id(mesh: Mesh) -> None:
    alice = mesh.client("alice")
    # Without its parameters, /api/tasks/compare is compare's 400, not "task compare not found".
    assert "query.a" in error(await alice.get("/api/tasks/compare"), 400)
    # And POST /api/tasks/from_template/retry is a template run, not a retry of a task.
    assert "template" in error(await alice.post("/api/tasks/from_template/retry"), 404)
    # A real compare answers under the same path.
    task_id = await submit(mesh, "alice")
    await ended(mesh, "alice", task_id)
    r = await alice.get("/api/tasks/compare", params={"a": task_id, "b": task_id})
    assert r.status_code == 200 and r.json()["identical"] is True, r.text


async def test_bodies_and_parameters_are_checked(mesh: Mesh) -> None:
    alice, adam = mesh.client("alice"), mesh.client("adam")
    task_id = await submit(mesh, "alice")
    await ended(mesh, "alice", task_id)
    tid = (await alice.post(f"/api/templates/from_task/{task_id}")).json()["template_id"]
    run = f"/api/tasks/from_template/{tid}"
    for body, names in (
        ({"inputs": {"n": 2**64}}, "inputs"),
        ({"budget": {"tokens": -1}}, "budget.tokens"),
        ({"budget": {"tokens": 2**63}}, "budget.tokens"),
        ({"budget": {"usd": 1, "cents": 2}}, "cents"),
        ({"mode": "turbo"}, "mode"),
        ({"priority": 3}, "priority"),
    ):
        assert names in error(await alice.post(run, json=body), 400), body
        assert names in error(await alice.post(f"/api/tasks/{task_id}/rerun", json=body), 400)
    assert "name" in error(
        await alice.post(f"/api/templates/from_task/{task_id}", json={"name": "x" * 201}), 400
    )
    quota = "/api/quotas/owner/alice/daily_exports"
    assert "limit" in error(await adam.put(quota, json={"limit": -1}), 400)
    assert "limit" in error(await adam.put(quota, json={}), 400)
    error(await adam.put("/api/quotas/owner/alice/daily_naps", json={"limit": 1}), 400)
    error(await adam.put("/api/quotas/people/alice/daily_exports", json={"limit": 1}), 400)
    error(await alice.get("/api/billing", params={"from_day": "yesterday"}), 400)
    assert "day" in error(await alice.get("/api/billing", params={"to_day": "2024-13-45"}), 400)
    error(await alice.get("/api/templates", params={"limit": 501}), 400)
    assert (
        await alice.post(run, json={"goal": "again", "budget": {"seconds": 60}})
    ).status_code == 201


async def test_quotas_and_bills_of_others_need_quota_manage(mesh: Mesh) -> None:
    for who in ("alice", "olga", "mallory"):
        c = mesh.client(who)
        error(await c.put("/api/quotas/owner/alice/daily_exports", json={"limit": 9}), 403)
        error(await c.delete("/api/quotas/owner/alice/daily_exports"), 403)
        if who != "alice":
            error(await c.get("/api/quotas", params={"owner": "alice"}), 403)
            error(await c.get("/api/billing", params={"owner": "alice"}), 403)
    victor = mesh.client("victor")  # a viewer reads no quotas, bills or templates at all
    for path in ("/api/quotas", "/api/billing", "/api/templates"):
        error(await victor.get(path), 403)
    # Each refusal is recorded.
    records = (await mesh.client("adam").get("/api/audit", params={"limit": 1000})).json()
    refused = {(r["actor"], r["action"]) for r in records["records"] if not r["allowed"]}
    assert {("alice", "quota.set"), ("olga", "quota.reset"), ("mallory", "quota.read")} <= refused
    assert ("olga", "billing.read") in refused and ("victor", "template.list") in refused
    # An admin reads anyone's; the owner their own.
    own = await mesh.client("alice").get("/api/quotas", params={"owner": "alice"})
    assert own.status_code == 200 and {q["subject"] for q in own.json()["quotas"]} >= {"alice"}
    assert (
        await mesh.client("adam").get("/api/quotas", params={"owner": "alice"})
    ).status_code == 200


async def test_an_export_over_the_cap_is_refused_before_it_starts(
    database: Database, tmp_path: Path
) -> None:
    mesh = await start_mesh(
        database, tmp_path, product_env={"AGENTLEDGER_PRODUCT_EXPORT_MAX_BYTES": "1000"}
    )
    try:
        task_id = await submit(mesh, "alice")
        await ended(mesh, "alice", task_id)
        message = error(await mesh.client("alice").get(f"/api/tasks/{task_id}/export"), 429)
        assert "export size cap of 1000 bytes" in message and task_id in message
        # Refused before it was made: no export is counted against the day.
        usage = (await mesh.client("alice").get(f"/api/tasks/{task_id}/usage")).json()
        assert usage["exports"] == 0

        # A cap the estimate fits under but the files do not: the cap is crossed once the
        # download has begun, and it aborts rather than ending as a zip that looks whole.
        insights = mesh.product.insights
        alice = mesh.client("alice")
        for _ in range(3):  # the estimate grew (the goal status was recorded): once more
            found = re.search(r"needs at least (\d+) bytes", message)
            assert found, message
            estimate = int(found[1])
            insights.config = dataclasses.replace(insights.config, export_max_bytes=estimate)
            async with alice.stream("GET", f"/api/tasks/{task_id}/export") as r:
                if r.status_code == 429:
                    await r.aread()
                    message = error(r, 429)
                    continue
                assert r.status_code == 200
                with pytest.raises(httpx.RemoteProtocolError):
                    await r.aread()
                break
        else:
            raise AssertionError(message)
    finally:
        await mesh.close()


async def test_a_quota_that_counts_whole_things_refuses_a_fraction(mesh: Mesh) -> None:
    r = await mesh.client("adam").put("/api/quotas/owner/alice/daily_exports", json={"limit": 1.5})
    assert "whole" in error(r, 400)
