"""The `agentledger` command: `up` runs the mesh and stops it cleanly; `trace` talks to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentledger.cli import main
from bench.common import free_port
from tests.conftest import Store

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
