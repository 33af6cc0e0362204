"""Authentication and RBAC inside every gRPC service (SPEC 1.6): the second enforcement point.

``Authenticate`` reads ``authorization: Bearer <signed identity>`` from the call's metadata,
verifies it (the mesh key: a caller cannot forge or merely assert an identity), checks that the
principal's role has the permission the policy names for the method, and runs the handler with
that principal current (``agentledger.security.identity.current_principal``), for unary calls and
for every step of a stream. Object-level checks (whose task is it?) stay in the services, which
know the task. Health checks and reflection are public.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

import grpc
from grpc import aio
from grpc_interceptor.server import AsyncServerInterceptor

from agentledger.core.errors import AgentLedgerError
from agentledger.security.identity import (
    SERVICE_ROLE,
    MeshVerifier,
    Principal,
    principal_scope,
)
from agentledger.security.rbac import Policy
from agentledger.security.settings import SecuritySettings

log = logging.getLogger("agentledger.auth")

# Called for every refusal with the principal (None when unauthenticated), the method and the
# reason; the audit log records them. It runs on the event loop: keep it sync and cheap.
OnDenied = Callable[[Principal | None, str, str], None]

AUTH_OFF = Principal(SERVICE_ROLE, SERVICE_ROLE, via="auth-off")


class Authenticate(AsyncServerInterceptor):
    """Verifies the caller's identity and the method's permission before the handler runs."""

    def __init__(
        self,
        verifier: Callable[[str], Principal],
        policy: Policy,
        *,
        on_denied: OnDenied | None = None,
        enabled: bool = True,
    ) -> None:
        self._verify = verifier
        self._policy = policy
        self._on_denied = on_denied
        self._enabled = enabled

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext, name: str
    ) -> Any:
        if self._policy.is_public(name):
            principal: Principal | None = None
        elif not self._enabled:
            principal = AUTH_OFF
        else:
            principal = await self._admit(context, name)
        with principal_scope(principal):
            result = method(request, context)
            if hasattr(result, "__aiter__"):
                return _in_scope(result, principal)
            return await result

    async def _admit(self, context: aio.ServicerContext, name: str) -> Principal:
        credentials = [
            v for k, v in (context.invocation_metadata() or ()) if k.lower() == "authorization"
        ]
        if not credentials:
            await self._refuse(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                None,
                name,
                f"{name} needs an identity: send 'authorization: Bearer <signed identity>' "
                "(the gateway and the services' clients do)",
            )
        if len(credentials) > 1:
            await self._refuse(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                None,
                name,
                "more than one authorization header; send exactly one",
            )
        value = credentials[0]
        scheme, _, token = (value if isinstance(value, str) else "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await self._refuse(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                None,
                name,
                "the authorization header must read 'Bearer <signed identity>'",
            )
        try:
            principal = self._verify(token.strip())
        except AgentLedgerError as exc:
            await self._refuse(context, grpc.StatusCode.UNAUTHENTICATED, None, name, exc.message)
        permission = self._policy.rpc_permission(name)
        if permission is None:
            await self._refuse(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                principal,
                name,
                f"{name} is not in the RBAC policy ({self._policy.source}), so nobody may call "
                "it; add it under rpc",
            )
        if not self._policy.allows(principal.role, permission):
            holders = ", ".join(self._policy.roles_with(permission)) or "the mesh's services"
            await self._refuse(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                principal,
                name,
                f"role {principal.role} lacks {permission}, needed to call {name}; "
                f"roles that have it: {holders}",
            )
        return principal

    async def _refuse(
        self,
        context: aio.ServicerContext,
        code: grpc.StatusCode,
        principal: Principal | None,
        name: str,
        reason: str,
    ) -> NoReturn:
        if self._on_denied is not None:
            try:
                self._on_denied(principal, name, reason)
            except Exception:
                # A failing recorder must not turn a refusal into an internal error.
                log.exception("on_denied failed for %s", name)
        await context.abort(code, reason)
        raise AssertionError("context.abort returned")  # it always raises


async def _in_scope(stream: AsyncIterator[Any], principal: Principal | None) -> AsyncIterator[Any]:
    # Set around each step rather than across yields: a cancelled stream is closed from another
    # task, where a context variable set here could not be reset (see ObservedCall._stream).
    iterator = aiter(stream)
    try:
        while True:
            with principal_scope(principal):
                try:
                    item = await anext(iterator)
                except StopAsyncIteration:
                    return
            yield item
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            with principal_scope(principal):
                await close()


def mesh_interceptors(
    settings: SecuritySettings, policy: Policy, on_denied: OnDenied | None = None
) -> list[aio.ServerInterceptor]:
    """The authentication interceptor for a service, from the process's security settings."""
    if not settings.auth:
        log.warning(
            "AGENTLEDGER_AUTH=off: every call is served as the built-in service principal, "
            "with no identity checked; never run a deployment like this"
        )
        return [Authenticate(lambda _: AUTH_OFF, policy, on_denied=on_denied, enabled=False)]
    verifier = MeshVerifier(settings.mesh_key, roles=policy.roles)
    return [Authenticate(verifier.verify, policy, on_denied=on_denied)]
