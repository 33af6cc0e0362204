"""Starts an Optimizer gRPC server around a built service (used by __main__ and by tests)."""

from __future__ import annotations

from collections.abc import Sequence

from grpc import aio

from agentledger.core.interceptors import default_chain
from agentledger.core.server import RunningServer, create_server, service_from_descriptor
from agentledger.optimizer.v1 import optimizer_pb2 as pb
from services.optimizer.domain.service import OptimizerService
from services.optimizer.servicer import OptimizerServicer

DESCRIPTOR = pb.DESCRIPTOR.services_by_name["Optimizer"]
SERVICE_NAME = DESCRIPTOR.full_name


async def start(
    service: OptimizerService, address: str, *, security: Sequence[aio.ServerInterceptor] = ()
) -> RunningServer:
    """``security``: the authentication interceptors (none in tests of the service alone)."""
    servicer = OptimizerServicer(service)
    return await create_server(
        [service_from_descriptor(servicer, DESCRIPTOR)],
        address,
        interceptors=default_chain(extra=security),
    )
