"""The `agentledger` command: `up` runs the mesh and stops it cleanly; `trace` talks to it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentledger.cli import main
from agentledger.cli.product import atomic_file
from agentledger.core.errors import Unavailable
from bench.common import free_port
from tests.conftest import Database, Store
from tests.gateway.harness import start_mesh

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.mesh


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentledger.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_up_starts_every_service_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    """The whole mesh from the command line: up, submit an example, answer its question,
    follow it to the end, stop."""
    port = free_port()
    addrs = {name: f"127.0.0.1:{free_port()}" for name in ("ENGINE", "OPTIMIZER", "GATEWAY")}
    env = {
        **os.environ,
        "AGENTLEDGER_TRACE_STORE_LISTEN": f"127.0.0.1:{port}",
        "AGENTLEDGER_USER": "tester",
        **{f"AGENTLEDGER_{name}_LISTEN": addr for name, addr in addrs.items()},
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentledger.cli", "up", "--data-dir", str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the banner comes once every service answers SERVING
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert any(f"grpc://127.0.0.1:{port}" in line for line in lines), "".join(lines)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

        client = {
            **os.environ,
            "AGENTLEDGER_ENGINE_ADDR": addrs["ENGINE"],
            "AGENTLEDGER_TRACE_STORE_ADDR": f"127.0.0.1:{port}",
            "AGENTLEDGER_USER": "tester",
            # The console signs its calls with the key `up` keeps there.
            "AGENTLEDGER_DATA_DIR": str(tmp_path / "data"),
        }
        # Without the key, the services refuse the CLI.
        refused = _cli({**client, "AGENTLEDGER_DATA_DIR": str(tmp_path)}, "tasks")
        assert refused.returncode == 2 and "unauthenticated" in refused.stderr
        asked = _cli(client, "submit", "data-cleanup", "--follow")
        assert asked.returncode == 3, asked.stdout + asked.stderr  # waiting for input
        assert "WAITING_INPUT" in asked.stdout and "line 9" in asked.stdout
        task_id = asked.stdout.split("task ", 1)[1].split(":", 1)[0]
        done = _cli(client, "resume", task_id, "--input", "drop_invalid=true", "--follow")
        assert done.returncode == 0, done.stdout + done.stderr
        # The console's submit and resume are in the audit log, as the user who ran them.
        audited = _cli(client, "audit", "list", "--actor", "tester", "--json")
        actions = [r["action"] for r in json.loads(audited.stdout)["records"]]
        assert actions == ["task.submit", "task.resume"], audited.stdout + audited.stderr
        assert "[5/5]" in done.stdout and f"task {task_id}: COMPLETED" in done.stdout
        listed = _cli(client, "tasks", "--owner", "tester")
        assert task_id in listed.stdout and "COMPLETED" in listed.stdout

        # The gateway: the owner token `up` printed reaches the same task over REST and SSE.
        token = (tmp_path / "data" / "owner.token").read_text().strip()
        assert any(token in line for line in lines)
        gateway = f"http://{addrs['GATEWAY']}"
        auth = {"Authorization": f"Bearer {token}"}
        tasks = httpx.get(f"{gateway}/api/tasks", headers=auth, timeout=10).json()["tasks"]
        assert [t["task_id"] for t in tasks] == [task_id]
        stream = httpx.get(f"{gateway}/api/tasks/{task_id}/events/stream", headers=auth, timeout=30)
        assert stream.status_code == 200 and "event: end" in stream.text
        assert httpx.get(f"{gateway}/api/tasks", timeout=10).status_code == 401
        made = _cli(client, "token", "create", "--name", "vera", "--role", "viewer")
        assert made.returncode == 0 and made.stdout.strip().startswith("alt_")
        assert _cli(client, "audit", "verify").returncode == 0
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            # SIGTERM first: `up` stops its services (a SIGKILL would orphan them).
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, "".join(lines) + rest
    assert "stopped" in rest
    assert (tmp_path / "data" / "trace_store.db").exists()


def test_up_reports_a_service_that_cannot_start(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTLEDGER_TRACE_STORE_MAX_BLOB_BYTES": "not-a-number"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentledger.cli",
            "up",
            "--data-dir",
            str(tmp_path),
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "trace_store did not start" in result.stderr
    assert (
        "AGENTLEDGER_TRACE_STORE_MAX_BLOB_BYTES='not-a-number' is not an integer" in result.stdout
    )


async def test_trace_commands_record_and_read_a_task(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    target = ["trace", "--target", store.target]
    loop = asyncio.get_running_loop()

    async def cli(*args: str) -> int:
        return await loop.run_in_executor(None, main, [*target, *args])

    assert await cli("put-task", "demo", "--owner", "me") == 0
    assert await cli("append", "demo", "node.completed", '{"node": "n1"}', "--phase", "build") == 0
    assert await cli("put-task", "demo", "--owner", "me", "--state", "COMPLETED") == 0
    assert await cli("follow", "demo") == 0
    out = capsys.readouterr().out
    assert "node.completed" in out and "ended: COMPLETED" in out
    assert await cli("append", "demo", "x", "[1]") == 2
    assert "must be a JSON object" in capsys.readouterr().err
    assert await cli("events", "nope") == 2
    assert "not found: task 'nope'" in capsys.readouterr().err


async def test_product_commands_against_a_mesh(
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SPEC 3.1-3.6 from the console: a finished task's goal, narrative, template, comparison,
    export, usage, quotas and bill, as an admin signing with the mesh key."""
    mesh = await start_mesh(database, tmp_path)
    monkeypatch.setenv("AGENTLEDGER_MESH_KEY", mesh.env["AGENTLEDGER_MESH_KEY"])
    monkeypatch.setenv("AGENTLEDGER_USER", "carol")
    monkeypatch.setenv("AGENTLEDGER_PRODUCT_ADDR", mesh.product_target)
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path / "out")
    engine = ["--engine", mesh.engine_target, "--trace-store", mesh.store_target]
    loop = asyncio.get_running_loop()

    def run(args: list[str]) -> int:
        try:
            return main(args)
        except SystemExit as exc:  # argparse refusing the command line
            return int(exc.code or 0)

    async def cli(*args: str) -> tuple[int, str, str]:
        code = await loop.run_in_executor(None, run, list(args))
        got = capsys.readouterr()
        return code, got.out, got.err

    def task_of(out: str) -> str:
        return out.split("task ", 1)[1].split(":", 1)[0]

    try:
        code, out, err = await cli("submit", "rows", "-i", "rows=[1,2,3]", "--follow", *engine)
        assert code == 0, out + err
        a = task_of(out)

        code, out, err = await cli("goal", a)
        assert code == 0 and f"task {a}: goal DONE (task COMPLETED; final" in out, out + err
        code, out, _ = await cli("goal", a, "--json")
        assert json.loads(out)["goal_status"] == "DONE"
        code, out, err = await cli("explain", a)
        assert code == 0 and out.startswith("#") and a in out, out + err
        code, out, _ = await cli("explain", a, "--json")
        assert json.loads(out)["written_by"] == "rules"

        code, out, err = await cli("template", "create", a, "--name", "sum rows")
        assert code == 0 and "rows (array, required)" in out, out + err
        tpl = out.split("template ", 1)[1].split(":", 1)[0]
        code, out, _ = await cli("template", "list")
        assert tpl in out and "sum rows" in out
        code, out, _ = await cli("template", "show", tpl, "--json")
        shown = json.loads(out)
        assert (shown["source_task_id"], shown["plan_id"]) == (a, "rows")
        code, out, err = await cli("template", "run", tpl)
        assert code == 2 and "missing required input(s) 'rows'" in err, out + err
        code, out, err = await cli("template", "run", tpl, "-i", "rows=[4,5]", "-f", *engine)
        assert code == 0 and "COMPLETED" in out, out + err
        b = task_of(out)

        # Run it again on rows it cannot sum: the engine asks for corrected data.
        code, out, err = await cli("rerun", a, "-i", 'rows=[1, "x"]', "-f", *engine)
        assert code == 3 and "WAITING_INPUT" in out, out + err
        c = task_of(out)
        code, out, _ = await cli("goal", c)
        assert f"task {c}: goal NOT_DONE (task WAITING_INPUT; as of #" in out, out
        assert "FAIL  node 'sum' completed (it is waiting: data_issue" in out, out
        assert "next:\n  - fix_data: Node 'sum' could not use its data" in out, out

        code, out, err = await cli("compare", a, b)
        assert code == 0 and out.startswith(f"# Compare {a} (A) with {b} (B)"), out + err
        code, out, _ = await cli("compare", a, c, "--json")
        compared = json.loads(out)
        assert (compared["identical"], compared["comparison"]["b"]["task_id"]) == (False, c)
        assert compared["headline"] == compared["comparison"]["headline"]

        code, out, err = await cli("export", a)
        archive = tmp_path / "out" / f"{a}.zip"
        assert code == 0 and f"wrote {a}.zip ({archive.stat().st_size} bytes)" in out, out + err
        with zipfile.ZipFile(archive) as zf:
            files = {name: zf.read(name) for name in zf.namelist()}
        manifest = json.loads(files[f"{a}/MANIFEST.json"])
        assert manifest["task_id"] == a and manifest["files"]
        for f in manifest["files"]:
            assert hashlib.sha256(files[manifest["root"] + f["path"]]).hexdigest() == f["sha256"]
        code, out, err = await cli("export", a)
        assert code == 2 and "exists; pass --force" in err, out + err
        assert (await cli("export", a, "--force"))[0] == 0
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{a}.zip"]
        code, out, err = await cli("export", a, "-o", str(tmp_path / "no-such-folder" / "a.zip"))
        assert code == 2 and "cannot write in" in err, out + err  # and no export counted

        code, out, _ = await cli("usage", a, "--json")
        used = json.loads(out)
        assert (used["owner"], used["exports"], used["compares"]) == ("carol", 2, 2)
        code, out, _ = await cli("usage", a)
        assert f"task {a}: COMPLETED, owner carol" in out and "exports 2, compares 2" in out

        limit = ["--scope", "owner", "--subject", "carol", "--quota", "daily_exports"]
        code, out, err = await cli("quota", "set", *limit, "--limit", "5")
        assert code == 0 and "daily_exports" in out and " set" in out, out + err
        code, out, _ = await cli("quota", "show", "--json")
        quotas = {q["quota"]: q for q in json.loads(out)["quotas"] if q["scope"] == "owner"}
        assert (quotas["daily_exports"]["limit"], quotas["daily_exports"]["usage"]) == (5, 2)
        code, out, _ = await cli("quota", "reset", *limit, "--json")
        assert code == 0 and json.loads(out)["source"] == "default"
        code, out, err = await cli("quota", "set", *limit[:-1], "weekly_naps", "--limit", "1")
        assert code == 2 and "invalid choice: 'weekly_naps'" in err

        code, out, err = await cli("billing")
        assert code == 0 and out.startswith("bill of carol") and a in out and b in out, out + err
        assert "total       3 task(s)" in out, out
        code, out, _ = await cli("billing", "--json")
        assert {line["task_id"] for line in json.loads(out)["lines"]} == {a, b, c}
        assert (await cli("cancel", c, "--engine", mesh.engine_target))[0] == 0

        assert (await cli("template", "delete", tpl))[0] == 0
        code, out, err = await cli("template", "show", tpl)
        assert code == 2 and f"not found: template '{tpl}' does not exist" in err
        for command in ("goal", "explain", "usage", "export"):
            code, out, err = await cli(command, "no-such-task")
            assert code == 2 and "not found" in err and "no-such-task" in err, command + err
            assert len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out" / "no-such-task.zip").exists()
    finally:
        await mesh.close()


def test_a_failed_export_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "t.zip"
    with pytest.raises(Unavailable), atomic_file(target, overwrite=False) as out:
        out.write(b"PK\x03\x04 half a zip")
        raise Unavailable("the product service went away; try again")
    assert list(tmp_path.iterdir()) == []
    with atomic_file(target, overwrite=False) as out:
        out.write(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["t.zip"] and target.read_bytes() == b"whole"
