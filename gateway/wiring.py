"""Builds the gateway from settings: the security database (tokens, shares, audit), the
verifiers, the typed clients with the gateway's own signed identity, and the application."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import Engine

from agentledger.core.clock import Clock, SystemClock
from agentledger.security.audit import AuditLog, AuditWriter
from agentledger.security.db import open_security_db
from agentledger.security.identity import Authenticator, JwtVerifier, MeshSigner, Principal
from agentledger.security.rbac import Policy
from agentledger.security.tokens import ShareStore, TokenStore
from gateway.access import Access
from gateway.app import create_app
from gateway.hub import LiveHub
from gateway.settings import GatewaySettings
from gateway.state import Gateway
from services.engine.client import EngineClient
from services.product.client import ProductClient
from services.trace_store.client import TraceStoreClient


@dataclass
class Built:
    app: FastAPI
    gateway: Gateway
    db: Engine
    audit: AuditWriter

    async def close(self) -> None:
        await self.audit.close()
        await self.gateway.engine.close()
        await self.gateway.trace.close()
        await self.gateway.product.close()
        await asyncio.to_thread(self.db.dispose)


def build(settings: GatewaySettings, *, clock: Clock | None = None) -> Built:
    """Call from inside the running event loop."""
    clock = clock or SystemClock()
    sec = settings.security
    policy = Policy.load()
    db = open_security_db(sec.db_url, schema=sec.db_schema or None)
    tokens = TokenStore(db, clock)
    shares = ShareStore(db, clock)
    audit_log = AuditLog(db, clock, recorded_by=settings.worker_id)
    audit = AuditWriter(audit_log)
    signer = MeshSigner(sec.mesh_key, clock=clock)
    own = signer.credentials(Principal("gateway", "service", via="gateway"))
    engine = EngineClient(settings.engine_target, timeout_s=settings.timeout_s, identity=own)
    trace = TraceStoreClient(
        settings.trace_store_target, timeout_s=settings.timeout_s, identity=own
    )
    # Compare, explain and export read whole traces: they get more time than a lookup.
    product = ProductClient(
        settings.product_target, timeout_s=max(settings.timeout_s, 60.0), identity=own
    )
    jwt = JwtVerifier(sec.jwt, policy, clock=clock) if sec.jwt else None
    access = Access(
        policy=policy,
        authenticator=Authenticator(tokens, jwt),
        shares=shares,
        audit=audit,
        engine=engine,
        signer=signer,
        acl_cache_s=settings.acl_cache_s,
    )
    gw = Gateway(
        settings, access, engine, trace, product, tokens, shares, audit_log, clock, LiveHub(trace)
    )
    return Built(create_app(gw), gw, db, audit)
