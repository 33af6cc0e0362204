"""Straight to each service, around the gateway: no identity, forged or expired ones, a token
signed with another key, `alg: none`, a wrong audience, or plain spoofed metadata are refused
with UNAUTHENTICATED; a valid identity whose role lacks the method gets PERMISSION_DENIED; and
every refusal lands in the audit log."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import orjson
import pytest
from grpc import aio

from agentledger.core.clock import SystemClock
from agentledger.core.mesh import MeshSecurity
from agentledger.engine.v1 import engine_pb2, engine_pb2_grpc
from agentledger.optimizer.v1 import optimizer_pb2, optimizer_pb2_grpc
from agentledger.security.audit import AuditLog
from agentledger.security.identity import MeshSigner, Principal
from agentledger.trace_store.v1 import trace_store_pb2, trace_store_pb2_grpc
from services.optimizer import server as optimizer_server
from services.optimizer import wiring as optimizer_wiring
from services.optimizer.domain.history import InMemoryHistory
from services.optimizer.settings import OptimizerSettings
from tests.gateway.harness import Mesh


@dataclass
class Target:
    name: str
    address: str
    call: Callable[[aio.Channel, tuple[tuple[str, str], ...]], Any]


@pytest.fixture
async def optimizer_target(mesh: Mesh) -> AsyncIterator[str]:
    sec = MeshSecurity.from_env("optimizer", mesh.env)
    built = optimizer_wiring.build(OptimizerSettings.from_env({}), history=InMemoryHistory())
    running = await optimizer_server.start(
        built.service, "127.0.0.1:0", security=sec.interceptors()
    )
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        await running.stop(0)
        await built.close()
        await sec.close()


def targets(mesh: Mesh, optimizer: str) -> list[Target]:
    return [
        Target(
            "trace_store.GetSummary",
            mesh.store_target,
            lambda ch, md: trace_store_pb2_grpc.TraceStoreStub(ch).GetSummary(
                trace_store_pb2.GetSummaryRequest(task_id="t1"), metadata=md, timeout=10
            ),
        ),
        Target(
            "trace_store.StreamEvents",
            mesh.store_target,
            lambda ch, md: _drain(
                trace_store_pb2_grpc.TraceStoreStub(ch).StreamEvents(
                    trace_store_pb2.StreamEventsRequest(task_id="t1"), metadata=md, timeout=10
                )
            ),
        ),
        Target(
            "engine.ListTasks",
            mesh.engine_target,
            lambda ch, md: engine_pb2_grpc.EngineStub(ch).ListTasks(
                engine_pb2.ListTasksRequest(), metadata=md, timeout=10
            ),
        ),
        Target(
            "optimizer.PlanSchedule",
            optimizer,
            lambda ch, md: optimizer_pb2_grpc.OptimizerStub(ch).PlanSchedule(
                optimizer_pb2.PlanScheduleRequest(), metadata=md, timeout=10
            ),
        ),
    ]


async def _drain(call: Any) -> None:
    async for _ in call:
        return


def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(doc)).rstrip(b"=").decode()


def forged(key: bytes) -> dict[str, str]:
    """Credentials that must all be refused, by what is wrong with them."""
    now = int(time.time())
    claims = {
        "sub": "adam",
        "role": "admin",
        "iss": "agentledger",
        "aud": "agentledger-mesh",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    other_key = secrets.token_bytes(48)
    return {
        "no identity": "",
        "spoofed name": "Bearer adam",
        "garbage": "Bearer not.a.jwt",
        "other key": "Bearer " + jwt.encode(claims, other_key, algorithm="HS256"),
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "expired": "Bearer "
        + jwt.encode({**claims, "iat": now - 900, "nbf": now - 900, "exp": now - 600}, key),
        "wrong audience": "Bearer " + jwt.encode({**claims, "aud": "somebody-else"}, key),
        "wrong issuer": "Bearer " + jwt.encode({**claims, "iss": "evil"}, key),
        "unknown role": "Bearer " + jwt.encode({**claims, "role": "root"}, key),
        "tampered": "Bearer " + _tamper(jwt.encode(claims, key), {"role": "service"}),
    }


def _tamper(token: str, changes: dict[str, Any]) -> str:
    head, body, sig = token.split(".")
    doc = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{head}.{_b64({**doc, **changes})}.{sig}"


async def test_forged_identities_are_refused_by_every_service(
    mesh: Mesh, optimizer_target: str
) -> None:
    key = mesh.env["AGENTLEDGER_MESH_KEY"].encode()
    refused: list[str] = []
    for target in targets(mesh, optimizer_target):
        async with aio.insecure_channel(target.address) as channel:
            for what, credential in forged(key).items():
                md = (("authorization", credential),) if credential else ()
                md += (("x-agentledger-subject", "adam"), ("x-agentledger-role", "admin"))
                with pytest.raises(aio.AioRpcError) as caught:
                    await target.call(channel, md)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, (target.name, what)
                refused.append(f"{target.name}:{what}")
    assert len(refused) == 4 * len(forged(key))
    log = AuditLog(mesh.gateway.db, SystemClock(), recorded_by="test")
    for s in mesh.security:
        await s.close()  # waits for the refusals' audit writes
    records, _ = log.page(limit=1000)
    denied = [r for r in records if r.action == "rpc.denied" and not r.allowed]
    assert len(denied) >= 3 * len(forged(key))  # trace_store and engine (optimizer: own log)


async def test_a_valid_identity_without_the_permission_is_denied(mesh: Mesh) -> None:
    signer = MeshSigner(mesh.env["AGENTLEDGER_MESH_KEY"].encode())
    viewer = "Bearer " + signer.mint(Principal("victor", "viewer", via="test"))
    async with aio.insecure_channel(mesh.store_target) as channel:
        stub = trace_store_pb2_grpc.TraceStoreStub(channel)
        with pytest.raises(aio.AioRpcError) as caught:
            await stub.AppendEvents(
                trace_store_pb2.AppendEventsRequest(task_id="t1"),
                metadata=(("authorization", viewer),),
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "viewer" in (caught.value.details() or "")
    async with aio.insecure_channel(mesh.engine_target) as channel:
        with pytest.raises(aio.AioRpcError) as caught:
            await engine_pb2_grpc.EngineStub(channel).SubmitTask(
                engine_pb2.SubmitTaskRequest(plan_id="chain3"),
                metadata=(("authorization", viewer),),
                timeout=10,
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
