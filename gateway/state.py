"""What the routes share: the typed clients, the security stores and the access checks."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from agentledger.core.clock import Clock
from agentledger.security.audit import AuditLog
from agentledger.security.tokens import ShareStore, TokenStore
from gateway.access import Access, Caller
from gateway.hub import LiveHub
from gateway.settings import GatewaySettings
from services.engine.client import EngineClient
from services.product.client import ProductClient
from services.trace_store.client import TraceStoreClient


@dataclass
class Gateway:
    settings: GatewaySettings
    access: Access
    engine: EngineClient
    trace: TraceStoreClient
    product: ProductClient
    tokens: TokenStore
    shares: ShareStore
    audit_log: AuditLog
    clock: Clock
    hub: LiveHub


def of(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


async def gateway(request: Request) -> Gateway:
    """FastAPI dependency (async: a plain `def` one runs in the thread pool, a hop per call)."""
    return of(request)


async def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller (401, recorded, when there is none)."""
    return await of(request).access.caller(request)
