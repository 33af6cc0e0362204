"""The gRPC server factory and process lifecycle that every service uses.

``create_server`` binds (``"127.0.0.1:0"`` picks a free port, as tests do) and wires health
checking, reflection and the interceptor chain. ``run_until_signalled`` serves until SIGTERM or
SIGINT, then reports NOT_SERVING, lets calls in flight finish, and stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from agentledger.core.errors import InvalidArgument
from agentledger.core.interceptors import default_chain

log = logging.getLogger("agentledger.server")

MAX_MESSAGE_BYTES = 32 * 1024 * 1024

Register = Callable[[aio.Server], None]


@dataclass
class Service:
    """One servicer to mount: how to add it to a server, and its full name for health/reflection."""

    full_name: str
    register: Register


def _serialize(message: Any) -> bytes:
    # A handler may answer with bytes it already encoded (a page of stored events, a cached
    # summary): they go out as they are.
    return message if isinstance(message, bytes) else message.SerializeToString()


def service_from_descriptor(servicer: object, descriptor: ServiceDescriptor) -> Service:
    """Mounts ``servicer`` for every method of ``descriptor``, like the generated
    ``add_*Servicer_to_server``, except that handlers may return pre-encoded responses."""
    factories = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    handlers = {
        m.name: factories[(m.client_streaming, m.server_streaming)](
            getattr(servicer, m.name),
            request_deserializer=message_factory.GetMessageClass(m.input_type).FromString,
            response_serializer=_serialize,
        )
        for m in descriptor.methods
    }

    def register(server: aio.Server) -> None:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(descriptor.full_name, handlers),)
        )

    return Service(descriptor.full_name, register)


@dataclass
class RunningServer:
    server: aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: tuple[str, ...]

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float = 5.0) -> None:
        await self.set_serving(False)
        await self.server.stop(grace)


async def create_server(
    services: Sequence[Service],
    address: str,
    *,
    interceptors: Sequence[aio.ServerInterceptor] | None = None,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> RunningServer:
    """Builds, binds and starts a server; it answers SERVING for each service once started."""
    server = aio.server(
        interceptors=list(interceptors) if interceptors is not None else default_chain(),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    for svc in services:
        svc.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = tuple(svc.full_name for svc in services)
    reflection.enable_server_reflection(
        (
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise InvalidArgument(f"cannot listen on {address}: address in use or not valid")
    await server.start()
    running = RunningServer(server, port, health_servicer, names)
    await running.set_serving(True)
    return running


async def run_until_signalled(
    running: RunningServer,
    *,
    grace: float = 10.0,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serves until SIGTERM/SIGINT, then NOT_SERVING, a graceful stop, and ``on_stop``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: NOT_SERVING, letting calls in flight finish (grace %.0f s)", grace)
    await running.stop(grace)
    if on_stop is not None:
        await on_stop()
    log.info("stopped")
