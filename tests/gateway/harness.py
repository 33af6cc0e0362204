"""The whole mesh with security on, in-process: a TraceStore, an engine and the product service
(each behind the authentication interceptor), and the gateway served by uvicorn on a free port; API tokens for a
cast of people with different roles, in two tenants."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx

from agentledger.core.clock import SystemClock
from agentledger.core.mesh import MeshSecurity
from agentledger.core.server import RunningServer
from agentledger.security.identity import MeshSigner, Principal
from agentledger.security.rbac import Policy
from agentledger.security.tokens import TokenStore
from gateway import wiring as gateway_wiring
from gateway.serve import HttpServer, start_http
from gateway.settings import GatewaySettings
from services.engine import server as engine_server
from services.engine import wiring as engine_wiring
from services.product import server as product_server
from services.product import wiring as product_wiring
from services.product.settings import ProductSettings
from services.trace_store import server as store_server
from services.trace_store import wiring as store_wiring
from services.trace_store.client import TraceStoreClient
from tests.conftest import Database, store_settings
from tests.engine.harness import engine_settings

# name -> (role, tenant)
CAST = {
    "alice": ("owner", "acme"),  # owns the tasks in the tests
    "olga": ("operator", "acme"),  # tasks are shared with her
    "victor": ("viewer", "acme"),  # tasks are shared with him
    "adam": ("admin", ""),
    "mallory": ("owner", "other"),  # another tenant's owner: sees nothing of alice's
    "nina": ("operator", "acme"),  # an operator nothing is shared with
}


@dataclass
class Mesh:
    url: str
    env: dict[str, str]
    tokens: dict[str, str]
    gateway: gateway_wiring.Built
    http: HttpServer
    engine: engine_wiring.Built
    engine_server: RunningServer
    engine_target: str
    store_server: RunningServer
    store_built: store_wiring.Built
    store_target: str
    product: product_wiring.Built
    product_server: RunningServer
    product_target: str
    security: list[MeshSecurity] = field(default_factory=list)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    closed: bool = False

    def client(self, who: str | None, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        headers.update(kw.pop("headers", {}))
        c = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kw)
        self._clients.append(c)
        return c

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for c in self._clients:
            await c.aclose()
        await self.http.stop()
        await self.gateway.close()
        await self.product_server.stop(0)
        await self.product.close()
        await self.engine_server.stop(0)
        await self.engine.close()
        await self.store_server.stop(0)
        await self.store_built.close()
        for s in self.security:
            await s.close()


def security_env(database: Database, tmp_path: Path) -> dict[str, str]:
    env = {
        "AGENTLEDGER_DATA_DIR": str(tmp_path),
        "AGENTLEDGER_MESH_KEY": secrets.token_urlsafe(48),
        "AGENTLEDGER_SECURITY_DB_URL": (
            database.url if database.kind == "postgresql" else f"sqlite:///{tmp_path}/security.db"
        ),
    }
    if database.schema:
        env["AGENTLEDGER_SECURITY_DB_SCHEMA"] = database.schema
    return env


async def start_mesh(
    database: Database,
    tmp_path: Path,
    security: dict[str, str] | None = None,
    product_env: dict[str, str] | None = None,
    **engine_env: str,
) -> Mesh:
    """``security``: more security settings (e.g. a JWT issuer) for every process;
    ``product_env``: the product service's settings (quotas, the export cap...)."""
    product_env = product_env or {}
    env = {**security_env(database, tmp_path), **(security or {})}
    store_sec = MeshSecurity.from_env("trace_store", env)
    settings = store_settings(database, tmp_path)
    store_built = store_wiring.build(settings)
    store_running = await store_server.start(
        store_built.service, "127.0.0.1:0", security=store_sec.interceptors()
    )
    store_target = f"127.0.0.1:{store_running.port}"
    engine_sec = MeshSecurity.from_env("engine", env)
    where = SimpleNamespace(target=store_target)  # all engine_settings reads of a Store
    # The engine asks the product service about quotas, the product service asks the engine
    # for tasks: the product's port is chosen first.
    product_target = f"127.0.0.1:{free_port()}"
    e_settings = engine_settings(  # type: ignore[arg-type]
        database, tmp_path, where, AGENTLEDGER_PRODUCT_ADDR=product_target, **engine_env
    )
    engine = engine_wiring.build(e_settings, identity=engine_sec.credentials())
    engine_running = await engine_server.start(
        engine.service, "127.0.0.1:0", security=engine_sec.interceptors()
    )
    engine_target = f"127.0.0.1:{engine_running.port}"
    product_sec = MeshSecurity.from_env("product", env)
    p_settings = product_settings(database, tmp_path, engine_target, store_target, **product_env)
    product = product_wiring.build(
        p_settings, identity=product_sec.credentials(), policy=product_sec.policy
    )
    product_running = await product_server.start(
        product.servicer, product_target, security=product_sec.interceptors()
    )
    g_settings = GatewaySettings.from_env(
        {
            **env,
            "AGENTLEDGER_ENGINE_ADDR": engine_target,
            "AGENTLEDGER_TRACE_STORE_ADDR": store_target,
            "AGENTLEDGER_PRODUCT_ADDR": product_target,
            "AGENTLEDGER_GATEWAY_ACL_CACHE_SECONDS": "0",
        }
    )
    gw = gateway_wiring.build(g_settings)
    http = await start_http(gw.app)
    tokens = {}
    store = TokenStore(gw.db, SystemClock())
    for name, (role, tenant) in CAST.items():
        _, tokens[name] = store.create(
            name=name, role=role, tenant=tenant, created_by="test", policy=Policy.load()
        )
    return Mesh(
        url=f"http://127.0.0.1:{http.port}",
        env=env,
        tokens=tokens,
        gateway=gw,
        http=http,
        engine=engine,
        engine_server=engine_running,
        engine_target=engine_target,
        store_server=store_running,
        store_built=store_built,
        store_target=store_target,
        product=product,
        product_server=product_running,
        product_target=product_target,
        security=[store_sec, engine_sec, product_sec],
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def product_settings(
    database: Database, tmp_path: Path, engine_target: str, store_target: str, **overrides: str
) -> ProductSettings:
    """No sweeping: a test sweeps when it wants (`mesh.product.finisher.sweep()`)."""
    env = {
        "AGENTLEDGER_DATA_DIR": str(tmp_path),
        "AGENTLEDGER_ENGINE_ADDR": engine_target,
        "AGENTLEDGER_TRACE_STORE_ADDR": store_target,
        "AGENTLEDGER_PRODUCT_SWEEP_SECONDS": "0",
        "AGENTLEDGER_PRODUCT_DB_URL": (
            database.url if database.kind == "postgresql" else f"sqlite:///{tmp_path}/product.db"
        ),
        **({"AGENTLEDGER_PRODUCT_DB_SCHEMA": database.schema} if database.schema else {}),
        **overrides,
    }
    return ProductSettings.from_env(env)


async def sse_lines(response: httpx.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        yield line


def service_store_client(mesh: Mesh) -> TraceStoreClient:
    """A trace_store client with a service identity, to check what was stored."""
    signer = MeshSigner(mesh.env["AGENTLEDGER_MESH_KEY"].encode())
    return TraceStoreClient(
        mesh.store_target, identity=signer.credentials(Principal("test", "service", via="test"))
    )
