"""Runs every row of authz_matrix.csv against the real mesh: route x caller x object -> status.
Every route of the application must appear in the file, for every caller, so a new route cannot
ship without its row of expectations."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

from tests.engine.harness import PLANS
from tests.gateway.harness import Mesh, service_store_client
from tests.gateway.test_gateway_flow import follow, submit

MATRIX = Path(__file__).with_name("authz_matrix.csv")
CALLER = {
    "anonymous": None,
    "viewer": "victor",
    "operator": "olga",
    "owner": "alice",
    "admin": "adam",
    "other_tenant_owner": "mallory",
}


def rows() -> list[dict[str, str]]:
    with MATRIX.open() as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


async def finished_task(mesh: Mesh, who: str) -> tuple[str, str]:
    task_id = await submit(mesh, who)
    await follow(mesh, who, task_id)
    async with service_store_client(mesh) as store:
        blob = await store.put_blob(task_id, f"artifact of {task_id}".encode(), "text/plain")
    return task_id, blob.blob_id


async def template_of(mesh: Mesh, who: str, task_id: str) -> str:
    r = await mesh.client(who).post(f"/api/templates/from_task/{task_id}")
    assert r.status_code == 201, r.text
    template_id: str = r.json()["template_id"]
    return template_id


async def test_every_row_of_the_matrix(mesh: Mesh) -> None:
    mine, mine_blob = await finished_task(mesh, "alice")
    theirs, theirs_blob = await finished_task(mesh, "mallory")
    foreign, foreign_blob = await finished_task(mesh, "nina")
    # Templates are their maker's alone: alice's, mallory's, and the admin's own (of alice's
    # task, which he reaches). Spares for the DELETE rows, as for tokens.
    of_task = {"alice": mine, "mallory": theirs, "adam": mine}
    templates = {who: await template_of(mesh, who, task) for who, task in of_task.items()}
    spare_templates = {
        who: [await template_of(mesh, who, task) for _ in range(6)] for who, task in of_task.items()
    }
    for person in ("olga", "victor"):
        r = await mesh.client("alice").put(f"/api/tasks/{mine}/shares/{person}")
        assert r.status_code == 200, r.text
    # Spare tokens to revoke: one of each caller's own, and some of nina's (foreign).
    spare: dict[str, list[str]] = {}
    for person in [*filter(None, CALLER.values()), "nina"]:
        for _ in range(8 if person == "nina" else 3):
            made = await mesh.client("adam").post(
                "/api/tokens", json={"name": f"spare-{person}", "role": "viewer", "subject": person}
            )
            assert made.status_code == 201, made.text
            spare.setdefault(person, []).append(made.json()["info"]["token_id"])
    plan_text = (PLANS / "chain3.yaml").read_text()
    counter = itertools.count()

    def resolve(row: dict[str, str]) -> tuple[str, dict[str, Any] | None]:
        person = CALLER[row["caller"]]
        obj = row["object"]
        task, blob = {
            "own": (theirs, theirs_blob) if person == "mallory" else (mine, mine_blob),
            "foreign": (foreign, foreign_blob),
            "missing": ("01NOSUCHTASK", "0" * 64),
        }.get(obj, (mine, mine_blob))
        if row["path"] == "/api/tokens/{token}":
            owner = person or "alice"
            token = {
                "own": lambda: spare[owner].pop(),
                "foreign": lambda: spare["nina"].pop(),
                "missing": lambda: "000000000000",
            }[obj]()
        else:
            token = ""
        template = ""
        if "{template}" in row["path"]:
            own = person if person in ("mallory", "adam") else "alice"
            holder = {"own": own, "foreign": "alice" if person == "mallory" else "mallory"}
            if obj == "missing":
                template = "tpl-00000000000000000000"
            elif row["method"] == "DELETE":
                template = spare_templates[holder[obj]].pop()
            else:
                template = templates[holder[obj]]
        path = row["path"].format(
            task=task,
            blob=blob,
            subject="zed",
            token=token,
            template=template,
            scope="owner",
            quota="daily_exports",
            plan="chain3" if obj != "missing" else "no-such-plan",
        )
        bodies: dict[str, dict[str, Any]] = {
            "/api/tasks": {"plan_id": "chain3"},
            "/api/plans/validate": {"text": plan_text, "source": "chain3.yaml"},
            "/api/tokens": {"name": f"made-{next(counter)}", "role": "viewer"},
            "/api/quotas/{scope}/{subject}/{quota}": {"limit": 5},
        }
        body = bodies.get(row["path"]) if row["method"] in ("POST", "PUT") else None
        return path, body

    mismatches = []
    for row in rows():
        path, body = resolve(row)
        who = CALLER[row["caller"]]
        client = mesh.client(who)
        response = await client.request(row["method"], path, json=body)
        if response.status_code != int(row["expected"]):
            mismatches.append(
                f"{row['method']} {row['path']} as {row['caller']} on {row['object']}: "
                f"expected {row['expected']}, got {response.status_code} {response.text[:160]}"
            )
        elif response.status_code >= 400:
            assert response.json()["error"]["status"] == response.status_code
        await client.aclose()
    assert not mismatches, f"{len(mismatches)} of {len(rows())} rows differ:\n" + "\n".join(
        mismatches
    )


def test_every_route_and_caller_is_in_the_matrix(mesh: Mesh) -> None:
    listed = {(r["method"], r["path"].split("?")[0]) for r in rows()}
    callers = {(r["method"], r["path"], r["caller"]) for r in rows()}
    missing = []
    # Every operation of the OpenAPI document: app.routes holds included routers unflattened
    # (FastAPI >= 0.16x), so it does not list the routes themselves.
    operations = mesh.gateway.app.openapi()["paths"]
    assert len(operations) > 20, sorted(operations)
    for route_path, methods in operations.items():
        for method in methods:
            path = route_path.replace("{task_id}", "{task}").replace("{blob_id}", "{blob}")
            path = path.replace("{token_id}", "{token}").replace("{plan_id}", "{plan}")
            path = path.replace("{template_id}", "{template}")
            if (method.upper(), path) not in listed:
                missing.append(f"{method.upper()} {path}")
    assert not missing, f"routes without rows in {MATRIX.name}: {missing}"
    for method, path, _ in callers:
        for caller in CALLER:
            assert (method, path, caller) in callers, f"{method} {path} lacks caller {caller}"
