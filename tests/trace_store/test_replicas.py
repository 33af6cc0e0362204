"""Two TraceStore replicas on one PostgreSQL: live follow and cache invalidation across them.

Heartbeats are set to a minute, so the only way a follower on one replica can see an append
made through the other within the test's bound is the LISTEN/NOTIFY announcement.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store.client import TraceStoreClient
from tests.conftest import Database, start_store, stop_store, store_settings
from tests.helpers import all_seqs, ev, new_task

pytestmark = pytest.mark.pg


@pytest.fixture
def pg_database(database: Database) -> Database:
    if database.kind != "postgresql":
        pytest.skip("replicas share PostgreSQL")
    return database


async def test_follower_on_one_replica_sees_appends_through_the_other(
    pg_database: Database, tmp_path: Path
) -> None:
    settings = store_settings(pg_database, tmp_path, AGENTLEDGER_TRACE_STORE_HEARTBEAT_SECONDS="60")
    a, built_a = await start_store(settings)
    b, built_b = await start_store(settings)
    loop = asyncio.get_running_loop()
    try:
        for built in (built_a, built_b):
            assert built.announcer is not None
            assert await loop.run_in_executor(None, built.announcer.ready.wait, 10)
        await new_task(a.client, "t1")
        assert (await b.client.get_summary("t1")).state == "RUNNING"  # now cached on b
        stream = b.client.stream_events("t1", until_terminal=True)
        received: list[int] = []

        async def follow() -> pb.StreamEnd:
            async for msg in stream:
                received.extend(e.seq for e in msg.batch.events)
                if msg.HasField("end"):
                    return msg.end
            raise AssertionError("stream ended without an end message")

        follower = asyncio.create_task(follow())
        for i in range(10):
            await a.client.append("t1", [ev(f"e{i}")])
        await a.client.put_summary(pb.TraceSummary(task_id="t1", owner="alice", state="COMPLETED"))
        end = await asyncio.wait_for(follower, 10)
        assert end.state == "COMPLETED"
        assert received == list(range(1, 11))
        # b's cache was invalidated by the same announcement.
        got = await b.client.get_summary("t1")
        assert got.state == "COMPLETED" and got.version == 2
    finally:
        await stop_store(a, built_a)
        await stop_store(b, built_b)


async def test_concurrent_appends_through_two_replicas_stay_gap_free(
    pg_database: Database, tmp_path: Path
) -> None:
    settings = store_settings(pg_database, tmp_path)
    a, built_a = await start_store(settings)
    b, built_b = await start_store(settings)
    try:
        await new_task(a.client, "t1")

        async def writer(client: TraceStoreClient, prefix: str) -> None:
            for i in range(20):
                await client.append("t1", [ev(f"{prefix}{i}-{j}") for j in range(5)])

        await asyncio.gather(writer(a.client, "a"), writer(b.client, "b"))
        assert await all_seqs(a.client, "t1") == list(range(1, 201))
    finally:
        await stop_store(a, built_a)
        await stop_store(b, built_b)
