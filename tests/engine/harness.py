"""A real engine for tests: a TraceStore on a free port, an engine (workers in-process) on
another, typed clients for both, and helpers that wait on the task's own event stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentledger.core.server import RunningServer
from agentledger.engine.v1 import engine_pb2 as pb
from services.engine import server as engine_server
from services.engine import wiring
from services.engine.client import EngineClient
from services.engine.settings import EngineSettings
from services.trace_store.client import payload
from tests.conftest import Database, Store

PLANS = Path(__file__).parent / "plans"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def engine_settings(
    database: Database, tmp_path: Path, store: Store, **overrides: str
) -> EngineSettings:
    env = {
        "AGENTLEDGER_DATA_DIR": str(tmp_path),
        "AGENTLEDGER_TRACE_STORE_ADDR": store.target,
        "AGENTLEDGER_ENGINE_PLAN_DIRS": str(PLANS),
        "AGENTLEDGER_ENGINE_WORKERS": "4",
        "AGENTLEDGER_ENGINE_POLL_SECONDS": "0.05",
        "AGENTLEDGER_ENGINE_SUMMARY_SECONDS": "0",
        "AGENTLEDGER_ENGINE_WORKER_ID": "w1",
        # Short, so a run that dies in a test is resumed within a couple of seconds.
        "AGENTLEDGER_ENGINE_LEASE_SECONDS": "2",
        "AGENTLEDGER_ENGINE_DB_URL": (
            database.url if database.kind == "postgresql" else f"sqlite:///{tmp_path}/engine.db"
        ),
        **({"AGENTLEDGER_ENGINE_DB_SCHEMA": database.schema} if database.schema else {}),
        **overrides,
    }
    return EngineSettings.from_env(env)


@dataclass
class EngineUnderTest:
    built: wiring.Built
    server: RunningServer
    client: EngineClient
    store: Store
    settings: EngineSettings

    async def close(self) -> None:
        await self.client.close()
        await self.server.stop(0)
        await self.built.close()

    async def submit(
        self,
        plan_id: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        owner: str = "alice",
        seconds: float = 120,
        **kw: Any,
    ) -> pb.Task:
        return await self.client.submit(
            owner=owner,
            goal=kw.pop("goal", f"run {plan_id}"),
            budget=kw.pop("budget", pb.Budget(seconds=seconds)),
            inputs=inputs,
            plan_id=plan_id,
            **kw,
        )

    async def events(self, task_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, node_id, payload) of every event so far."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        cursor = ""
        while True:
            page = await self.store.client.list_events(task_id, cursor=cursor, limit=1000)
            out += [(e.type, e.node_id, payload(e)) for e in page.events]
            if not page.has_more:
                return out
            cursor = page.next_cursor

    async def wait_state(self, task_id: str, states: set[str]) -> pb.Task:
        """Follows the task's events until a transition into one of `states` (no sleeping).
        The trace, not the engine's table, is what is waited on: it is written last."""
        async for msg in self.store.client.stream_events(task_id, until_terminal=True):
            for e in msg.batch.events if msg.HasField("batch") else ():
                to = payload(e).get("to") if e.type == "task.state_changed" else None
                # A terminal state is waited on until the stream ends: trace_store has the
                # final summary too then (the engine sends it after the events).
                if to in states and to not in TERMINAL:
                    return (await self.client.get(task_id)).task
        return (await self.client.get(task_id)).task


async def start_engine(
    database: Database, tmp_path: Path, store: Store, **overrides: str
) -> EngineUnderTest:
    settings = engine_settings(database, tmp_path, store, **overrides)
    built = wiring.build(settings, clock=None)
    running = await engine_server.start(built.service, "127.0.0.1:0")
    client = EngineClient(f"127.0.0.1:{running.port}", timeout_s=20)
    return EngineUnderTest(built, running, client, store, settings)
