"""The authentication interceptor on a real server: a real TraceStore, and recording Engine and
Optimizer servicers, behind the production interceptor chain. Forged and spoofed identities
sent straight to every method of every service are refused; roles are enforced per method;
the handler sees the caller, in unary calls and in streams."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
import jwt
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentledger.core.auth import AUTH_OFF, mesh_interceptors
from agentledger.core.errors import PermissionDenied
from agentledger.core.interceptors import default_chain
from agentledger.core.server import RunningServer, Service, create_server, service_from_descriptor
from agentledger.engine.v1 import engine_pb2
from agentledger.optimizer.v1 import optimizer_pb2
from agentledger.security.identity import MeshSigner, Principal, current_principal
from agentledger.security.rbac import Policy
from agentledger.security.settings import SecuritySettings
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store import wiring
from services.trace_store.client import TraceStoreClient
from services.trace_store.servicer import TraceStoreServicer
from tests.conftest import Database, store_settings
from tests.helpers import ev, new_task

KEY = "m" * 32
POLICY = Policy.load()
SERVICES: list[ServiceDescriptor] = [
    pb.DESCRIPTOR.services_by_name["TraceStore"],
    engine_pb2.DESCRIPTOR.services_by_name["Engine"],
    optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"],
]
ENGINE = "/agentledger.engine.v1.Engine"
TRACE = "/agentledger.trace_store.v1.TraceStore"
OPTIMIZER = "/agentledger.optimizer.v1.Optimizer"
ENGINE_P = Principal("engine", "service", via="mesh")
Seen = list[tuple[str, Principal | None]]


class RecordingTraceStore(TraceStoreServicer):
    """The real servicer, noting who the handler saw as the caller."""

    def __init__(self, *args: Any, seen: Seen) -> None:
        super().__init__(*args)
        self.seen = seen

    async def GetSummary(self, request: Any, context: aio.ServicerContext) -> bytes:
        self.seen.append(("GetSummary", current_principal()))
        return await super().GetSummary(request, context)

    async def StreamEvents(self, request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        async for item in super().StreamEvents(request, context):
            self.seen.append(("StreamEvents", current_principal()))
            yield item

    async def GetBlob(self, request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        async for item in super().GetBlob(request, context):
            self.seen.append(("GetBlob", current_principal()))
            yield item


class Recorder:
    """Answers every method of a service with an empty response, noting the caller."""

    def __init__(self, descriptor: ServiceDescriptor, seen: Seen) -> None:
        self._methods = {m.name: m for m in descriptor.methods}
        self._seen = seen

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = self._methods[name]
        response = message_factory.GetMessageClass(method.output_type)

        async def unary(request: Any, context: aio.ServicerContext) -> Any:
            self._seen.append((name, current_principal()))
            return response()

        async def stream(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            self._seen.append((name, current_principal()))
            yield response()

        return stream if method.server_streaming else unary


@dataclass
class Mesh:
    target: str
    signer: MeshSigner
    seen: Seen
    denied: list[tuple[Principal | None, str, str]] = field(default_factory=list)

    def bearer(self, role: str, subject: str = "") -> tuple[tuple[str, str], ...]:
        token = self.signer.mint(Principal(subject or role, role, via="gateway"))
        return (("authorization", f"Bearer {token}"),)

    def client(self, principal: Principal) -> TraceStoreClient:
        return TraceStoreClient(self.target, identity=self.signer.credentials(principal))


async def _start(tmp_path: Path, environ: dict[str, str], mesh: Mesh) -> tuple[RunningServer, Any]:
    def on_denied(principal: Principal | None, method: str, reason: str) -> None:
        mesh.denied.append((principal, method, reason))

    security = SecuritySettings.from_env({"AGENTLEDGER_DATA_DIR": str(tmp_path), **environ})
    db = Database("sqlite", f"sqlite:///{tmp_path / 'trace_store.db'}", "")
    built = wiring.build(store_settings(db, tmp_path))
    services = [
        service_from_descriptor(RecordingTraceStore(built.service, seen=mesh.seen), SERVICES[0]),
        *(service_from_descriptor(Recorder(d, mesh.seen), d) for d in SERVICES[1:]),
        _unlisted_service(),
    ]
    running = await create_server(
        services,
        "127.0.0.1:0",
        interceptors=default_chain(extra=mesh_interceptors(security, POLICY, on_denied)),
    )
    mesh.target = f"127.0.0.1:{running.port}"
    return running, built


def _unlisted_service() -> Service:
    """A method the policy does not list: nobody may call it."""

    async def ping(request: bytes, context: aio.ServicerContext) -> bytes:
        return b"pong"

    handler = grpc.method_handlers_generic_handler(
        "test.Unlisted", {"Ping": grpc.unary_unary_rpc_method_handler(ping)}
    )
    return Service("test.Unlisted", lambda s: s.add_generic_rpc_handlers((handler,)))


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    m = Mesh("", MeshSigner(KEY.encode()), [])
    running, built = await _start(tmp_path, {"AGENTLEDGER_MESH_KEY": KEY}, m)
    yield m
    await running.stop(0)
    await built.close()


async def _status(
    target: str, service: ServiceDescriptor, method: MethodDescriptor, metadata: Any
) -> grpc.StatusCode:
    """Calls ``method`` with an empty request and ``metadata``; its status code."""
    path = f"/{service.full_name}/{method.name}"
    request = message_factory.GetMessageClass(method.input_type)
    response = message_factory.GetMessageClass(method.output_type)
    kwargs: dict[str, Any] = {
        "request_serializer": request.SerializeToString,
        "response_deserializer": response.FromString,
    }
    async with aio.insecure_channel(target) as channel:
        try:
            if method.client_streaming:
                await channel.stream_unary(path, **kwargs)(
                    iter([request()]), metadata=metadata, timeout=10
                )
            elif method.server_streaming:
                call = channel.unary_stream(path, **kwargs)(
                    request(), metadata=metadata, timeout=10
                )
                async for _ in call:
                    break
                call.cancel()
            else:
                await channel.unary_unary(path, **kwargs)(request(), metadata=metadata, timeout=10)
        except aio.AioRpcError as err:
            return err.code()
    return grpc.StatusCode.OK


T = TypeVar("T")


async def _first(stream: AsyncIterator[T]) -> T:
    """The first message of a stream, which is then closed."""
    generator = cast(AsyncGenerator[T, None], stream)
    try:
        return await anext(generator)
    finally:
        await generator.aclose()


def _all_methods() -> Iterator[tuple[ServiceDescriptor, MethodDescriptor]]:
    for service in SERVICES:
        for method in service.methods:
            yield service, method


def _forged(role: str = "service", key: str = KEY, **over: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": "mallory",
        "role": role,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "iss": "agentledger",
        "aud": "agentledger-mesh",
    }
    claims.update(over)
    return jwt.encode(claims, key, algorithm="HS256")


def _unsigned() -> str:
    import base64
    import json

    def b64(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": "mallory", "role": "service", "iat": now, "nbf": now, "exp": now + 300}
    claims |= {"iss": "agentledger", "aud": "agentledger-mesh"}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


FORGERIES: dict[str, tuple[tuple[str, str], ...]] = {
    "no metadata": (),
    "spoofed subject headers": (
        ("x-agentledger-subject", "admin"),
        ("x-agentledger-role", "admin"),
    ),
    "a bare name as bearer": (("authorization", "Bearer alice"),),
    "no scheme": (("authorization", _forged()),),
    "another key": (("authorization", f"Bearer {_forged(key='x' * 32)}"),),
    "alg none": (("authorization", f"Bearer {_unsigned()}"),),
    "expired": (("authorization", f"Bearer {_forged(exp=int(time.time()) - 60)}"),),
    "wrong audience": (("authorization", f"Bearer {_forged(aud='agentledger-gateway')}"),),
    "wrong issuer": (("authorization", f"Bearer {_forged(iss='someone')}"),),
    "unknown role": (("authorization", f"Bearer {_forged(role='root')}"),),
    "an API token": (("authorization", "Bearer alt_0123456789ab_" + "A" * 43),),
    "two credentials": (
        ("authorization", f"Bearer {_forged()}"),
        ("authorization", "Bearer alice"),
    ),
}


async def test_forged_and_spoofed_identities_are_refused_by_every_method(mesh: Mesh) -> None:
    for label, metadata in FORGERIES.items():
        for service, method in _all_methods():
            code = await _status(mesh.target, service, method, metadata)
            assert code == grpc.StatusCode.UNAUTHENTICATED, (label, method.full_name, code)
    assert mesh.seen == []  # no handler ever ran
    calls = len(FORGERIES) * sum(len(s.methods) for s in SERVICES)
    assert len(mesh.denied) == calls
    assert all(principal is None for principal, _, _ in mesh.denied)


async def test_the_reasons_say_what_was_wrong(mesh: Mesh) -> None:
    reasons: dict[str, str] = {}
    async with aio.insecure_channel(mesh.target) as channel:
        stub = engine_pb2_stub(channel)
        for label, metadata in FORGERIES.items():
            with pytest.raises(aio.AioRpcError) as err:
                await stub(engine_pb2.ListPlansRequest(), metadata=metadata)
            reasons[label] = err.value.details() or ""
    assert "needs an identity" in reasons["no metadata"]
    assert "needs an identity" in reasons["spoofed subject headers"]
    assert "bad signature" in reasons["another key"]
    assert "alg none refused" in reasons["alg none"]
    assert "expired" in reasons["expired"]
    assert "wrong audience" in reasons["wrong audience"]
    assert "wrong issuer" in reasons["wrong issuer"]
    assert "must read 'Bearer" in reasons["no scheme"]
    assert "more than one" in reasons["two credentials"]
    assert [r for _, _, r in mesh.denied] == list(reasons.values())
    assert {m for _, m, _ in mesh.denied} == {f"{ENGINE}/ListPlans"}


def engine_pb2_stub(channel: aio.Channel) -> Any:
    return channel.unary_unary(
        f"{ENGINE}/ListPlans",
        request_serializer=engine_pb2.ListPlansRequest.SerializeToString,
        response_deserializer=engine_pb2.ListPlansResponse.FromString,
    )


async def test_roles_are_enforced_per_method(mesh: Mesh) -> None:
    expected: dict[str, set[str]] = {
        role: {
            f"/{s.full_name}/{m.name}"
            for s, m in _all_methods()
            if POLICY.allows(role, POLICY.rpc_permission(f"/{s.full_name}/{m.name}") or "")
        }
        for role in POLICY.roles
    }
    assert f"{TRACE}/AppendEvents" not in expected["admin"]
    assert f"{ENGINE}/SubmitTask" not in expected["viewer"]
    assert f"{OPTIMIZER}/PlanSchedule" in expected["operator"]
    for role in POLICY.roles:
        for service, method in _all_methods():
            path = f"/{service.full_name}/{method.name}"
            code = await _status(mesh.target, service, method, mesh.bearer(role))
            if path in expected[role]:
                # Past the interceptor: the handler answers (the real store with its own errors).
                assert code not in {
                    grpc.StatusCode.UNAUTHENTICATED,
                    grpc.StatusCode.PERMISSION_DENIED,
                }, (role, path, code)
            else:
                assert code == grpc.StatusCode.PERMISSION_DENIED, (role, path, code)
    refusal = next(d for d in mesh.denied if d[1] == f"{TRACE}/AppendEvents" and d[0])
    assert refusal[0] == Principal("viewer", "viewer", via="gateway")
    assert "role viewer lacks trace.write, needed to call" in refusal[2]
    assert "the mesh's services" in refusal[2]


async def test_a_method_missing_from_the_policy_is_refused(mesh: Mesh) -> None:
    async with aio.insecure_channel(mesh.target) as channel:
        ping = channel.unary_unary("/test.Unlisted/Ping")
        with pytest.raises(aio.AioRpcError) as err:
            await ping(b"", metadata=mesh.bearer("service"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "/test.Unlisted/Ping is not in the RBAC policy" in (err.value.details() or "")


async def test_the_handler_sees_the_caller_in_unary_calls_and_streams(mesh: Mesh) -> None:
    engine = mesh.client(ENGINE_P)
    await new_task(engine, "t1", owner="alice")
    await engine.append("t1", [ev("e1"), ev("e2")])
    blob = await engine.put_blob("t1", b"artifact bytes")
    alice = Principal("alice", "operator", via="gateway", token_id="0123456789ab")
    gateway = mesh.client(alice)
    assert (await gateway.get_summary("t1")).task_id == "t1"
    header, data = await gateway.get_blob("t1", blob.blob_id)
    assert data == b"artifact bytes" and header.size == len(data)
    assert (await _first(gateway.stream_events("t1"))).HasField("batch")
    await engine.close()
    await gateway.close()
    assert ("GetSummary", alice) in mesh.seen
    assert [p for name, p in mesh.seen if name == "GetBlob"] == [alice, alice]
    assert [p for name, p in mesh.seen if name == "StreamEvents"] == [alice]
    assert current_principal() is None  # nothing leaked into the caller's context
    assert mesh.denied == []


async def test_streams_are_refused_before_the_first_message(mesh: Mesh) -> None:
    engine = mesh.client(ENGINE_P)
    await new_task(engine, "t1", owner="alice")
    blob = await engine.put_blob("t1", b"secret artifact")
    viewer = mesh.client(Principal("val", "viewer"))
    with pytest.raises(PermissionDenied, match=r"role viewer lacks task\.blobs"):
        await viewer.get_blob("t1", blob.blob_id)
    await _first(viewer.stream_events("t1"))  # a viewer may read events
    await engine.close()
    await viewer.close()
    assert [name for name, _ in mesh.seen] == ["StreamEvents"]


async def test_health_and_reflection_need_no_identity(mesh: Mesh) -> None:
    async with aio.insecure_channel(mesh.target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert mesh.denied == []


async def test_refusals_are_not_logged_as_internal_errors(
    mesh: Mesh, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "agentledger.rpc"):
        code = await _status(mesh.target, SERVICES[0], SERVICES[0].methods[0], ())
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("UNAUTHENTICATED" in r.getMessage() for r in caplog.records)


async def test_with_auth_off_every_call_runs_as_the_service(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = Mesh("", MeshSigner(KEY.encode()), [])
    with caplog.at_level(logging.WARNING, "agentledger.auth"):
        running, built = await _start(tmp_path, {"AGENTLEDGER_AUTH": "off"}, m)
    try:
        assert any("AGENTLEDGER_AUTH=off" in r.getMessage() for r in caplog.records)
        engine_methods = SERVICES[1].methods
        for method in engine_methods:
            assert await _status(m.target, SERVICES[1], method, ()) == grpc.StatusCode.OK
        assert [p for _, p in m.seen] == [AUTH_OFF] * len(engine_methods)
    finally:
        await running.stop(0)
        await built.close()
