"""A task through the gateway end to end: submit, follow it live over SSE, resume a stream
from its Last-Event-ID, read its summary, events, task and optimizer outputs; errors as JSON."""

from __future__ import annotations

from typing import Any

import orjson

from tests.gateway.harness import Mesh


async def submit(mesh: Mesh, who: str = "alice", plan: str = "chain3", **body: Any) -> str:
    r = await mesh.client(who).post("/api/tasks", json={"plan_id": plan, **body})
    assert r.status_code == 201, r.text
    task_id: str = r.json()["task_id"]
    return task_id


async def follow(mesh: Mesh, who: str, task_id: str, **headers: str) -> list[dict[str, Any]]:
    """Every SSE record of a stream until it ends: {"id", "event", "data"} or comments."""
    records: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with mesh.client(who).stream(
        "GET", f"/api/tasks/{task_id}/events/stream", headers=headers
    ) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if not line:
                if current:
                    records.append(current)
                current = {}
            elif line.startswith(":"):
                records.append({"comment": line[1:].strip()})
            else:
                key, _, value = line.partition(": ")
                current[key] = orjson.loads(value) if key == "data" else value
    return records


async def test_submit_follow_and_read(mesh: Mesh) -> None:
    task_id = await submit(mesh)
    records = await follow(mesh, "alice", task_id)
    events = [r for r in records if "id" in r]
    assert events, records
    seqs = [r["data"]["seq"] for r in events]
    assert seqs == list(range(1, len(seqs) + 1))  # in order, no gap
    assert all(r["id"] == r["data"]["cursor"] for r in events)
    assert records[-1]["event"] == "end"
    types = [r["data"]["type"] for r in events]
    assert "task.created" in types and types.count("node.completed") == 3

    # Resuming from the 3rd event's id sends exactly what follows it.
    resumed = await follow(mesh, "alice", task_id, **{"Last-Event-ID": events[2]["id"]})
    assert [r["data"]["seq"] for r in resumed if "id" in r] == seqs[3:]
    alice = mesh.client("alice")
    by_query = await alice.get(
        f"/api/tasks/{task_id}/events", params={"cursor": events[2]["id"], "limit": 2}
    )
    assert [e["seq"] for e in by_query.json()["events"]] == seqs[3:5]

    task = (await alice.get(f"/api/tasks/{task_id}")).json()
    assert task["task"]["state"] == "COMPLETED" and task["task"]["owner"] == "alice"
    assert [n["node_id"] for n in task["nodes"]] == ["a", "b", "c"]
    summary = (await alice.get(f"/api/tasks/{task_id}/summary")).json()
    assert summary["state"] == "COMPLETED" and summary["owner"] == "alice"
    listed = (await alice.get("/api/tasks")).json()
    assert [t["task_id"] for t in listed["tasks"]] == [task_id]
    opt = await alice.get(f"/api/tasks/{task_id}/optimizer")
    assert opt.status_code == 200 and opt.json()["task_id"] == task_id


async def test_errors_are_json_with_a_code(mesh: Mesh) -> None:
    alice = mesh.client("alice")
    missing = await alice.get("/api/tasks/nope/summary")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    bad = await alice.post("/api/tasks", json={"plan_id": "chain3", "budget": {"tokens": -1}})
    assert bad.status_code == 400 and "budget.tokens" in bad.json()["error"]["message"]
    unknown = await alice.post("/api/tasks", json={"plan_id": "no-such-plan"})
    assert unknown.status_code == 404 and "no-such-plan" in unknown.json()["error"]["message"]
    anon = await mesh.client(None).get("/api/tasks")
    assert anon.status_code == 401 and anon.headers["www-authenticate"].startswith("Bearer")
    forged = await mesh.client(None).get(
        "/api/tasks", headers={"Authorization": "Bearer alt_000000000000_" + "x" * 43}
    )
    assert forged.status_code == 401


async def test_the_engine_records_the_caller_as_owner_and_actor(mesh: Mesh) -> None:
    # The body cannot name another owner, and the actor of a change is the caller.
    r = await mesh.client("alice").post(
        "/api/tasks", json={"plan_id": "blocker", "budget": {"seconds": 600}}
    )
    task_id = r.json()["task_id"]
    assert r.json()["owner"] == "alice"
    share = await mesh.client("alice").put(f"/api/tasks/{task_id}/shares/olga")
    assert share.status_code == 200 and share.json()["subjects"] == ["olga"]
    cancel = await mesh.client("olga").post(f"/api/tasks/{task_id}/cancel", json={"reason": "x"})
    assert cancel.status_code == 200, cancel.text
    records = await follow(mesh, "alice", task_id)
    changes = [
        r["data"] for r in records if "id" in r and r["data"]["type"] == "task.state_changed"
    ]
    assert changes[-1]["payload"]["to"] == "CANCELLED"
    assert changes[-1]["actor"] == "olga" or changes[-1]["payload"].get("actor") == "olga"


async def test_a_bad_cursor_is_a_400_before_the_stream_begins(mesh: Mesh) -> None:
    task_id = await submit(mesh)
    alice = mesh.client("alice")
    for headers, params in (({"Last-Event-ID": "nonsense"}, {}), ({}, {"cursor": "e1.zz"})):
        r = await alice.get(f"/api/tasks/{task_id}/events/stream", headers=headers, params=params)
        assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]
    doc = (await alice.get("/openapi.json")).json()
    assert all("422" not in op["responses"] for p in doc["paths"].values() for op in p.values())
