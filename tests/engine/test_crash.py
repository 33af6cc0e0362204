"""kill -9 an engine in the middle of tasks, start others: every task completes, no completed
node runs again, no transition is written twice (SQLite: one successor; PostgreSQL: two)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

from agentledger.cli.up import wait_serving
from agentledger.engine.v1 import engine_pb2 as pb
from services.engine.client import EngineClient
from services.trace_store.client import payload
from tests.conftest import Database, Store
from tests.engine.harness import PLANS

ROOT = Path(__file__).resolve().parents[2]
TASKS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _engine_process(
    database: Database, tmp_path: Path, store: Store, name: str
) -> tuple[subprocess.Popen[str], str]:
    address = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "AGENTLEDGER_DATA_DIR": str(tmp_path),
        "AGENTLEDGER_ENGINE_LISTEN": address,
        "AGENTLEDGER_TRACE_STORE_ADDR": store.target,
        "AGENTLEDGER_ENGINE_PLAN_DIRS": str(PLANS),
        "AGENTLEDGER_ENGINE_WORKERS": "4",
        "AGENTLEDGER_ENGINE_LEASE_SECONDS": "0.6",
        "AGENTLEDGER_ENGINE_POLL_SECONDS": "0.05",
        "AGENTLEDGER_ENGINE_WORKER_ID": name,
        "AGENTLEDGER_ENGINE_DB_URL": (
            database.url if database.kind == "postgresql" else f"sqlite:///{tmp_path}/engine.db"
        ),
        "AGENTLEDGER_ENGINE_DB_SCHEMA": database.schema,
        "AGENTLEDGER_LOG_FORMAT": "text",
        # What is under test is recovery; the trace store beside it runs without auth too.
        "AGENTLEDGER_AUTH": "off",
    }
    with (tmp_path / f"{name}.log").open("w") as log:  # the child keeps its own copy
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.engine"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )
    wait_serving(address, proc, 60)
    return proc, address


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _events(store: Store, task_id: str) -> list[tuple[str, str, dict[str, object]]]:
    page = await store.client.list_events(task_id, limit=1000)
    return [(e.type, e.node_id, payload(e)) for e in page.events]


async def test_killing_an_engine_mid_task_loses_nothing_and_repeats_nothing(
    database: Database, tmp_path: Path, store: Store
) -> None:
    victim, address = _engine_process(database, tmp_path, store, "victim")
    successors: list[subprocess.Popen[str]] = []
    try:
        async with EngineClient(address) as engine:
            ids = [
                (
                    await engine.submit(
                        owner="alice",
                        goal=f"crash {i}",
                        budget=pb.Budget(seconds=300),
                        plan_id="crashy",
                    )
                ).task_id
                for i in range(TASKS)
            ]
        # Kill once the first task has checkpointed two nodes: the others are mid-flight.
        completed = 0
        async for msg in store.client.stream_events(ids[0]):
            if msg.HasField("batch"):
                completed += sum(e.type == "node.completed" for e in msg.batch.events)
                if completed >= 2:
                    break
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        before_kill = {t: await _events(store, t) for t in ids}

        for name in ("successor-1", "successor-2")[: 2 if database.kind == "postgresql" else 1]:
            successors.append(_engine_process(database, tmp_path, store, name)[0])

        async def finished(task_id: str) -> str:
            async for msg in store.client.stream_events(task_id, until_terminal=True):
                if msg.HasField("end"):
                    return msg.end.state
            return ""

        states = await asyncio.wait_for(asyncio.gather(*(finished(t) for t in ids)), 120)
        assert states == ["COMPLETED"] * TASKS

        for task_id in ids:
            events = await _events(store, task_id)
            completions = Counter(n for t, n, _ in events if t == "node.completed")
            assert completions == {"n1": 1, "n2": 1, "n3": 1, "n4": 1}, task_id
            # A node checkpointed before the kill never started again.
            done_before = {n for t, n, _ in before_kill[task_id] if t == "node.completed"}
            starts = Counter(n for t, n, _ in events if t == "node.started")
            assert all(starts[n] == 1 for n in done_before), (task_id, starts)
            runs = Counter((tmp_path / "tasks" / task_id / "work" / "runs.log").read_text().split())
            assert all(runs[n] == 1 for n in done_before), (task_id, runs)
            # Each transition exactly once, in order, in the trace.
            transitions = [p for t, _, p in events if t == "task.state_changed"]
            seqs = [p["transition_seq"] for p in transitions]
            assert seqs == list(range(1, len(seqs) + 1)), (task_id, seqs)
            assert [p["to"] for p in transitions].count("COMPLETED") == 1
        took_over = 0
        for task_id in ids:
            took_over += sum(
                t == "task.lease_taken_over" for t, _, _ in await _events(store, task_id)
            )
        assert took_over >= 1  # the victim's tasks were resumed by a successor, not restarted
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        for proc in successors:
            _stop(proc)
