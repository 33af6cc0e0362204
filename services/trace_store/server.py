"""Starts a TraceStore gRPC server around a built service (used by __main__ and by tests)."""

from __future__ import annotations

from agentledger.core.server import RunningServer, Service, create_server
from agentledger.trace_store.v1 import trace_store_pb2 as pb
from agentledger.trace_store.v1 import trace_store_pb2_grpc as pb_grpc
from services.trace_store.domain.service import TraceStoreService
from services.trace_store.servicer import TraceStoreServicer

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TraceStore"].full_name


async def start(service: TraceStoreService, address: str) -> RunningServer:
    servicer = TraceStoreServicer(service)
    return await create_server(
        [
            Service(
                SERVICE_NAME,
                lambda server: pb_grpc.add_TraceStoreServicer_to_server(servicer, server),
            )
        ],
        address,
    )
