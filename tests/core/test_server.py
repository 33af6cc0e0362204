"""The shared server factory and interceptor chain, against real servers on free ports."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc.aio import AioRpcError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from agentledger.core.errors import NotFound
from agentledger.core.server import Service, create_server
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from agentledger.trace_store.v1 import trace_store_pb2_grpc as pb_grpc
from tests.conftest import Store

ROOT = Path(__file__).resolve().parents[2]


class Exploding(pb_grpc.TraceStoreServicer):
    async def GetSummary(
        self, request: pb.GetSummaryRequest, context: object
    ) -> pb.GetSummaryResponse:
        if request.task_id == "missing":
            raise NotFound("task 'missing' does not exist")
        raise RuntimeError("db password is hunter2")

    async def StreamEvents(self, request: pb.StreamEventsRequest, context: object):  # type: ignore[no-untyped-def]
        yield pb.StreamEventsResponse(heartbeat=pb.Heartbeat(cursor="c"))
        raise RuntimeError("boom in a stream")


@pytest.fixture
async def exploding() -> object:
    servicer = Exploding()
    running = await create_server(
        [
            Service(
                "agentledger.trace_store.v1.TraceStore",
                lambda s: pb_grpc.add_TraceStoreServicer_to_server(servicer, s),
            )
        ],
        "127.0.0.1:0",
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    yield pb_grpc.TraceStoreStub(channel), running
    await channel.close()
    await running.stop(0)


async def test_domain_errors_map_to_their_status(
    exploding: tuple[pb_grpc.TraceStoreStub, object],
) -> None:
    stub, _ = exploding
    with pytest.raises(AioRpcError) as err:
        await stub.GetSummary(pb.GetSummaryRequest(task_id="missing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "task 'missing' does not exist"


async def test_unexpected_errors_are_masked_and_logged_in_full(
    exploding: tuple[pb_grpc.TraceStoreStub, object], caplog: pytest.LogCaptureFixture
) -> None:
    stub, _ = exploding
    with caplog.at_level(logging.ERROR, "agentledger.rpc"), pytest.raises(AioRpcError) as err:
        await stub.GetSummary(pb.GetSummaryRequest(task_id="x"))
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in (err.value.details() or "")
    ref = (err.value.details() or "").split("ref ")[1].split(")")[0]
    logged = [r for r in caplog.records if getattr(r, "error_ref", "") == ref]
    assert logged and logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


async def test_errors_inside_streams_are_masked_too(
    exploding: tuple[pb_grpc.TraceStoreStub, object],
) -> None:
    stub, _ = exploding
    call = stub.StreamEvents(pb.StreamEventsRequest(task_id="t"))
    first = await call.read()
    assert first.heartbeat.cursor == "c"
    with pytest.raises(AioRpcError) as err:
        await call.read()
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "boom" not in (err.value.details() or "")


async def test_health_and_reflection(store: Store) -> None:
    async with grpc.aio.insecure_channel(store.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "agentledger.trace_store.v1.TraceStore"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        names: list[str] = []
        async for reply in refl.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        ):
            names += [s.name for s in reply.list_services_response.service]
        assert "agentledger.trace_store.v1.TraceStore" in names
        assert "grpc.health.v1.Health" in names
        await store.server.set_serving(False)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_a_service_process_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    from bench.common import free_port, wait_serving

    port = free_port()
    env = {
        **os.environ,
        "AGENTLEDGER_DATA_DIR": str(tmp_path),
        "AGENTLEDGER_TRACE_STORE_LISTEN": f"127.0.0.1:{port}",
        "AGENTLEDGER_TRACE_STORE_DB_URL": f"sqlite:///{tmp_path / 'ts.db'}",
        "AGENTLEDGER_MESH_KEY": "k" * 48,  # health checks need no identity
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.trace_store"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_serving(f"127.0.0.1:{port}")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "NOT_SERVING" in err and '"msg": "stopped"' in err
