"""Who is calling, what they may do to which task, and the audit record of it.

Every route goes through ``Access``: ``principal`` authenticates the bearer credential,
``check`` applies the RBAC policy and the task's owner and shares (a task the caller cannot
reach answers 404, as a missing one does), and ``audited`` runs an action only once its audit
record is durable. Every refusal is recorded too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request

from agentledger.core.client import Identity, on_behalf_of
from agentledger.core.errors import (
    AgentLedgerError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from agentledger.security.audit import AuditEntry, AuditWriter
from agentledger.security.identity import Authenticator, MeshSigner, Principal
from agentledger.security.rbac import Decision, Policy, TaskAcl, authorize
from agentledger.security.tokens import ShareStore
from services.engine.client import EngineClient

T = TypeVar("T")
ANONYMOUS = ""


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the principal and where it came from."""

    principal: Principal
    source: str


class Access:
    def __init__(
        self,
        *,
        policy: Policy,
        authenticator: Authenticator,
        shares: ShareStore,
        audit: AuditWriter,
        engine: EngineClient,
        signer: MeshSigner,
        acl_cache_s: float,
    ) -> None:
        self.policy = policy
        self._auth = authenticator
        self._shares = shares
        self.audit = audit
        self._engine = engine
        self._signer = signer
        self._acl_cache_s = acl_cache_s
        # A task's owner and tenant never change: kept for the process's life (bounded).
        self._owners: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._shared: dict[str, tuple[float, frozenset[str]]] = {}

    # ------------------------------------------------------------------ identity

    async def caller(self, request: Request) -> Caller:
        source = _source(request)
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        try:
            if not header:
                raise Unauthenticated(
                    "no credentials: send 'Authorization: Bearer <token>' "
                    "(create a token with `agentledger token create`)"
                )
            if scheme.lower() != "bearer" or not credential.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            principal = await self._authenticate(credential.strip())
        except Unauthenticated as exc:
            await self._deny(None, source, _action(request), "", "", exc.message)
            raise
        return Caller(principal, source)

    async def _authenticate(self, credential: str) -> Principal:
        # Most requests carry a token verified moments ago (or a JWT): answered on the loop.
        # A miss reads the database in a thread.
        known = self._auth.without_io(credential)
        if known is not None:
            return known
        return await asyncio.to_thread(self._auth.authenticate, credential)

    def identity(self, caller: Caller) -> Identity:
        """The caller's identity, signed for the services (cached and refreshed by the signer)."""
        p = caller.principal
        return self._signer.credentials(
            Principal(p.subject, p.role, p.tenant, via="gateway", token_id=p.token_id)
        )

    @contextlib.contextmanager
    def forwarding(self, caller: Caller) -> Iterator[None]:
        """Calls to services inside the block carry the caller's signed identity."""
        with on_behalf_of(self.identity(caller)):
            yield

    # ------------------------------------------------------------------ decisions

    async def check(
        self, caller: Caller, permission: str, task_id: str = "", *, action: str = ""
    ) -> TaskAcl | None:
        """Raises (after recording the refusal) unless ``caller`` may do ``permission``
        (on ``task_id`` when the permission is task-scoped); returns the task's ACL."""
        acl: TaskAcl | None = None
        missing = False
        if task_id:
            try:
                acl = await self.acl(task_id)
            except NotFound:
                missing = True
        decision = authorize(
            self.policy,
            caller.principal,
            permission,
            acl,
            task_id=task_id,
            task_missing=missing,
        )
        if not decision.allowed:
            await self._deny(
                caller.principal,
                caller.source,
                action or permission,
                task_id,
                acl.owner if acl else "",
                decision.reason,
            )
            raise _error(decision, task_id)
        return acl

    async def require(self, caller: Caller, permission: str, *, action: str = "") -> None:
        """Raises (after recording the refusal) unless the caller's role has ``permission``,
        for a request about no task in particular (e.g. "the audit records of my tasks")."""
        role = caller.principal.role
        if self.policy.allows(role, permission):
            return
        reason = f"role {role} lacks {permission} ({self.policy.describe(permission)})"
        await self._deny(caller.principal, caller.source, action or permission, "", "", reason)
        raise PermissionDenied(reason)

    async def acl(self, task_id: str) -> TaskAcl:
        owner = self._owners.get(task_id)
        if owner is None:
            task = (await self._engine.get(task_id)).task  # the gateway's own identity
            owner = (task.owner, task.tenant)
            self._owners[task_id] = owner
            if len(self._owners) > 100_000:
                self._owners.popitem(last=False)
        return TaskAcl(task_id, owner[0], owner[1], await self._shared_with(task_id))

    async def _shared_with(self, task_id: str) -> frozenset[str]:
        now = time.monotonic()
        hit = self._shared.get(task_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        subjects = await asyncio.to_thread(self._shares.subjects, task_id)
        if self._acl_cache_s > 0:
            if len(self._shared) > 100_000:
                self._shared.clear()
            self._shared[task_id] = (now + self._acl_cache_s, subjects)
        return subjects

    def forget_shares(self, task_id: str) -> None:
        self._shared.pop(task_id, None)

    # ------------------------------------------------------------------ audit

    def entry(
        self,
        caller: Caller,
        action: str,
        *,
        task_id: str = "",
        acl: TaskAcl | None = None,
        object_type: str = "task",
        object_id: str = "",
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        p = caller.principal
        return AuditEntry(
            action=action,
            allowed=True,
            actor=p.subject,
            role=p.role,
            tenant=p.tenant,
            object_type=object_type if (task_id or object_id) else "",
            object_id=object_id or task_id,
            object_owner=acl.owner if acl else "",
            source=caller.source,
            details=details or {},
        )

    async def audited(self, entry: AuditEntry, action: Awaitable[T] | None = None) -> T | None:
        """Runs ``action`` (a read) alongside the durable write of its audit record; when the
        record cannot be written, the result is withheld and the caller gets 503."""
        if action is None:
            await self.audit.record(entry)
            return None
        task = asyncio.ensure_future(action)
        try:
            await self.audit.record(entry)
        except BaseException:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise
        return await task

    async def _deny(
        self,
        principal: Principal | None,
        source: str,
        action: str,
        task_id: str,
        owner: str,
        reason: str,
    ) -> None:
        entry = AuditEntry(
            action=action,
            allowed=False,
            actor=principal.subject if principal else ANONYMOUS,
            role=principal.role if principal else "",
            tenant=principal.tenant if principal else "",
            object_type="task" if task_id else "",
            object_id=task_id,
            object_owner=owner,
            reason=reason,
            source=source,
        )
        # The refusal stands whether or not its record could be written.
        with contextlib.suppress(AgentLedgerError):
            await self.audit.record(entry)


def _error(decision: Decision, task_id: str) -> AgentLedgerError:
    if decision.status == 401:
        return Unauthenticated(decision.reason)
    if decision.status == 404:
        return NotFound(f"task {task_id} not found")
    return PermissionDenied(decision.reason)


def _source(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else ""


def _action(request: Request) -> str:
    route = request.scope.get("route")
    name = getattr(route, "name", "") or request.url.path
    return f"http.{name}"
