"""Shared fixtures: databases (SQLite always, PostgreSQL when AGENTLEDGER_TEST_PG_URL is set) and
real in-process TraceStore servers on free ports."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from agentledger.core.clock import ManualClock
from agentledger.core.server import RunningServer
from services.trace_store import server, wiring
from services.trace_store.client import TraceStoreClient
from services.trace_store.domain.service import TraceStoreService
from services.trace_store.settings import TraceStoreSettings

PG_URL = os.environ.get("AGENTLEDGER_TEST_PG_URL", "")


def _pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Database:
    kind: str  # "sqlite" | "postgresql"
    url: str
    schema: str  # PostgreSQL only: a schema of its own for this test

    def env(self) -> dict[str, str]:
        env = {"AGENTLEDGER_TRACE_STORE_DB_URL": self.url}
        if self.schema:
            env["AGENTLEDGER_TRACE_STORE_DB_SCHEMA"] = self.schema
            env["AGENTLEDGER_TRACE_STORE_NOTIFY_CHANNEL"] = f"trace_{self.schema}"
        return env


DB_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)]


@pytest.fixture(params=DB_KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'trace_store.db'}", "")
        return
    if not PG_URL:
        pytest.skip("AGENTLEDGER_TEST_PG_URL is not set")
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(_pg_conninfo(PG_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Database("postgresql", PG_URL, schema)
    finally:
        with psycopg.connect(_pg_conninfo(PG_URL), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def store_settings(database: Database, tmp_path: Path, **overrides: str) -> TraceStoreSettings:
    env = {
        "AGENTLEDGER_DATA_DIR": str(tmp_path),
        "AGENTLEDGER_TRACE_STORE_HEARTBEAT_SECONDS": "0.2",
        **database.env(),
        **overrides,
    }
    return TraceStoreSettings.from_env(env)


@dataclass
class Store:
    """A real TraceStore: service, gRPC server on a free port, a typed client, its clock."""

    service: TraceStoreService
    server: RunningServer
    client: TraceStoreClient
    clock: ManualClock
    target: str


async def start_store(
    settings: TraceStoreSettings, clock: ManualClock | None = None
) -> tuple[Store, wiring.Built]:
    clock = clock or ManualClock()
    built = wiring.build(settings, clock=clock)
    running = await server.start(built.service, "127.0.0.1:0")
    target = f"127.0.0.1:{running.port}"
    return Store(
        built.service, running, TraceStoreClient(target, timeout_s=20), clock, target
    ), built


async def stop_store(store: Store, built: wiring.Built) -> None:
    await store.client.close()
    await store.server.stop(0)
    await built.close()


@pytest.fixture
async def store(database: Database, tmp_path: Path) -> AsyncIterator[Store]:
    s, built = await start_store(store_settings(database, tmp_path))
    try:
        yield s
    finally:
        await stop_store(s, built)


def pytest_report_header() -> str:
    if PG_URL:
        return "databases: SQLite and PostgreSQL (AGENTLEDGER_TEST_PG_URL)"
    return "databases: SQLite only (set AGENTLEDGER_TEST_PG_URL to add PostgreSQL)"
