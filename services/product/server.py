"""Starts a Product gRPC server around the built service (used by __main__ and by tests)."""

from __future__ import annotations

from collections.abc import Sequence

from grpc import aio

from agentledger.core.interceptors import default_chain
from agentledger.core.server import RunningServer, create_server, service_from_descriptor
from agentledger.product.v1 import product_pb2 as pb
from services.product.servicer import ProductServicer

DESCRIPTOR = pb.DESCRIPTOR.services_by_name["Product"]
SERVICE_NAME = DESCRIPTOR.full_name


async def start(
    servicer: ProductServicer,
    address: str,
    *,
    security: Sequence[aio.ServerInterceptor] = (),
) -> RunningServer:
    """``security``: the authentication interceptors (none in tests of the service alone)."""
    return await create_server(
        [service_from_descriptor(servicer, DESCRIPTOR)],
        address,
        interceptors=default_chain(extra=security),
    )
