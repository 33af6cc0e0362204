"""Security for a service process of the mesh: the interceptors that check every call's signed
identity against the policy, the service's own identity for the calls it makes, and the audit
record of every call it refuses.

A refused call reaching a service means someone went around the gateway (or a key is wrong), so
it is logged at WARNING and written to the audit log, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grpc import aio
from grpc_interceptor.server import AsyncServerInterceptor
from sqlalchemy import Engine

from agentledger.core.auth import mesh_interceptors
from agentledger.core.client import Identity
from agentledger.core.clock import SystemClock
from agentledger.core.errors import Unavailable
from agentledger.security.audit import AuditEntry, AuditLog
from agentledger.security.db import open_security_db
from agentledger.security.identity import MeshSigner, Principal, current_principal
from agentledger.security.rbac import Policy
from agentledger.security.settings import SecuritySettings

log = logging.getLogger("agentledger.security")


@dataclass
class MeshSecurity:
    service: str
    settings: SecuritySettings
    policy: Policy
    signer: MeshSigner | None
    db: Engine | None = None
    _pending: set[asyncio.Future[Any]] = field(default_factory=set)

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> MeshSecurity:
        settings = SecuritySettings.from_env(environ)
        signer = MeshSigner(settings.mesh_key) if settings.mesh_key else None
        if not settings.auth:
            log.warning(
                "AGENTLEDGER_AUTH=off: %s accepts every call without checking who makes it; "
                "never run it like this outside a test",
                service,
            )
        # Opened now, so that a wrong URL stops the process at start rather than losing the
        # first refusal's audit record.
        db = open_security_db(settings.db_url, schema=settings.db_schema or None, pool_size=1)
        return cls(service, settings, Policy.load(), signer, db)

    def interceptors(self) -> list[aio.ServerInterceptor]:
        return [
            *mesh_interceptors(self.settings, self.policy, on_denied=self._denied),
            AuditConsole(self),
        ]

    def credentials(self) -> Identity:
        """This service's own identity, for the calls it makes to the others."""
        if self.signer is None:
            return ""
        return self.signer.credentials(Principal(self.service, "service", via=self.service))

    def _denied(self, principal: Principal | None, method: str, reason: str) -> None:
        log.warning(
            "refused %s from %s: %s",
            method,
            f"{principal.subject} ({principal.role})" if principal else "an unauthenticated caller",
            reason,
        )
        entry = AuditEntry(
            action="rpc.denied",
            allowed=False,
            actor=principal.subject if principal else "",
            role=principal.role if principal else "",
            tenant=principal.tenant if principal else "",
            object_type="rpc",
            object_id=method,
            reason=reason,
            source=self.service,
        )
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule on
            future = asyncio.get_running_loop().run_in_executor(None, self._record, entry)
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

    def _record(self, entry: AuditEntry) -> None:
        try:
            self.append(entry)
        except Exception:
            log.exception("the refusal could not be written to the audit log")

    def append(self, entry: AuditEntry) -> None:
        """Writes one record (blocking: call it off the event loop)."""
        if self.db is None:
            self.db = open_security_db(
                self.settings.db_url, schema=self.settings.db_schema or None, pool_size=1
            )
        AuditLog(self.db, SystemClock(), recorded_by=self.service).append([entry])

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.db is not None:
            await asyncio.to_thread(self.db.dispose)


# What a person changes through the console (the CLI, signed with the mesh key) rather than
# through the gateway, which records its own: each is written to the audit log before it runs.
CONSOLE_ACTIONS = {
    "/agentledger.engine.v1.Engine/SubmitTask": "task.submit",
    "/agentledger.engine.v1.Engine/CancelTask": "task.cancel",
    "/agentledger.engine.v1.Engine/PauseTask": "task.pause",
    "/agentledger.engine.v1.Engine/ResumeTask": "task.resume",
    "/agentledger.engine.v1.Engine/RetryTask": "task.retry",
}


class AuditConsole(AsyncServerInterceptor):
    """Records the console's state changes; if the record cannot be written, the call is
    refused with UNAVAILABLE and nothing is done."""

    def __init__(self, security: MeshSecurity) -> None:
        self._security = security

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext, name: str
    ) -> Any:
        action = CONSOLE_ACTIONS.get(name)
        principal = current_principal()
        if action is not None and principal is not None and principal.via == "cli":
            entry = AuditEntry(
                action=action,
                allowed=True,
                actor=principal.subject,
                role=principal.role,
                tenant=principal.tenant,
                object_type="task" if getattr(request, "task_id", "") else "",
                object_id=str(getattr(request, "task_id", "")),
                source=f"console via {self._security.service}",
            )
            try:
                await asyncio.to_thread(self._security.append, entry)
            except Exception as exc:
                log.exception("a console action could not be audited; refused")
                raise Unavailable(
                    f"the audit log could not be written ({type(exc).__name__}); "
                    "the action was refused"
                ) from None
        result = method(request, context)
        return result if hasattr(result, "__aiter__") else await result
