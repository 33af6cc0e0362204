"""Starts a TraceStore gRPC server around a built service (used by __main__ and by tests)."""

from __future__ import annotations

from collections.abc import Sequence

from grpc import aio

from agentledger.core.interceptors import default_chain
from agentledger.core.server import RunningServer, create_server, service_from_descriptor
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from services.trace_store.domain.service import TraceStoreService
from services.trace_store.servicer import TraceStoreServicer

DESCRIPTOR = pb.DESCRIPTOR.services_by_name["TraceStore"]
SERVICE_NAME = DESCRIPTOR.full_name


async def start(
    service: TraceStoreService, address: str, *, security: Sequence[aio.ServerInterceptor] = ()
) -> RunningServer:
    """``security``: the authentication interceptors (none in tests of the service alone)."""
    servicer = TraceStoreServicer(service)
    return await create_server(
        [service_from_descriptor(servicer, DESCRIPTOR)],
        address,
        interceptors=default_chain(extra=security),
    )
