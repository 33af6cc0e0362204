"""Starts an Engine gRPC server around a built service (used by __main__ and by tests)."""

from __future__ import annotations

from collections.abc import Sequence

from grpc import aio

from agentledger.core.interceptors import default_chain
from agentledger.core.server import RunningServer, create_server, service_from_descriptor
from agentledger.engine.v1 import engine_pb2 as pb
from services.engine.domain.service import EngineService
from services.engine.servicer import EngineServicer

DESCRIPTOR = pb.DESCRIPTOR.services_by_name["Engine"]
SERVICE_NAME = DESCRIPTOR.full_name


async def start(
    service: EngineService, address: str, *, security: Sequence[aio.ServerInterceptor] = ()
) -> RunningServer:
    """``security``: the authentication interceptors (none in tests of the service alone)."""
    return await create_server(
        [service_from_descriptor(EngineServicer(service), DESCRIPTOR)],
        address,
        interceptors=default_chain(extra=security),
    )
