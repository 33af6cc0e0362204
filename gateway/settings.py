"""Gateway settings, read once from the environment.

- ``AGENTLEDGER_GATEWAY_LISTEN`` (default ``127.0.0.1:8080``): host:port to serve HTTP on.
- ``AGENTLEDGER_ENGINE_ADDR`` / ``AGENTLEDGER_TRACE_STORE_ADDR`` / ``AGENTLEDGER_PRODUCT_ADDR``:
  where the services answer.
- ``AGENTLEDGER_GATEWAY_TIMEOUT_SECONDS`` (default 10): deadline of each call to a service.
- ``AGENTLEDGER_GATEWAY_ACL_CACHE_SECONDS`` (default 2): how long a task's shares are cached; a
  revoked share stops working on other replicas within this time (at once on this one).
- ``AGENTLEDGER_GATEWAY_WORKER_ID``: names this replica in audit records (default: host:pid).
Security variables (database, mesh key, JWT): see ``agentledger.security.settings``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from agentledger.core.errors import InvalidArgument
from agentledger.core.settings import CommonSettings, Env
from agentledger.security.settings import SecuritySettings


@dataclass(frozen=True)
class GatewaySettings:
    common: CommonSettings
    security: SecuritySettings
    host: str
    port: int
    engine_target: str
    trace_store_target: str
    product_target: str
    timeout_s: float
    acl_cache_s: float
    worker_id: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        env = Env(environ)
        listen = env.text("AGENTLEDGER_GATEWAY_LISTEN", "127.0.0.1:8080")
        host, sep, port = listen.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise InvalidArgument(
                f"AGENTLEDGER_GATEWAY_LISTEN={listen!r} is not host:port (e.g. 127.0.0.1:8080)"
            )
        return cls(
            common=CommonSettings.from_env(environ),
            security=SecuritySettings.from_env(environ),
            host=host,
            port=int(port),
            engine_target=env.text("AGENTLEDGER_ENGINE_ADDR", "127.0.0.1:50052"),
            trace_store_target=env.text("AGENTLEDGER_TRACE_STORE_ADDR", "127.0.0.1:50051"),
            product_target=env.text("AGENTLEDGER_PRODUCT_ADDR", "127.0.0.1:50054"),
            timeout_s=env.number("AGENTLEDGER_GATEWAY_TIMEOUT_SECONDS", 10.0, minimum=0.1),
            acl_cache_s=env.number("AGENTLEDGER_GATEWAY_ACL_CACHE_SECONDS", 2.0, minimum=0),
            worker_id=env.text(
                "AGENTLEDGER_GATEWAY_WORKER_ID", f"gateway@{socket.gethostname()}:{os.getpid()}"
            ),
        )
