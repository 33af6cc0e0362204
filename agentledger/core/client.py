"""What every typed client shares: channels, deadlines, retries on an explicit set of codes,
and gRPC failures turned into the domain errors, so callers never import grpc to branch."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import grpc
from grpc import aio
from opentelemetry import propagate

from agentledger.core.errors import AgentLedgerError, ErrorCode, error_for
from agentledger.core.server import MAX_MESSAGE_BYTES

T = TypeVar("T")

# Safe to retry: the call did not reach a decision (idempotent RPCs only).
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


def open_channel(target: str) -> aio.Channel:
    return aio.insecure_channel(
        target,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
        ],
    )


def to_domain_error(err: aio.AioRpcError) -> AgentLedgerError:
    code = err.code()
    try:
        ecode = ErrorCode(code.name) if code is not None else ErrorCode.INTERNAL
    except ValueError:
        ecode = ErrorCode.UNAVAILABLE if code == grpc.StatusCode.CANCELLED else ErrorCode.INTERNAL
    return error_for(ecode, err.details() or ecode.value)


# A credential (``"Bearer <signed identity>"``) or a function returning one, fresh when asked.
Identity = str | Callable[[], str]

# The identity of the person a request is served for: the gateway sets it around each request,
# so that every call it makes for that request carries that person, not the gateway itself.
_ON_BEHALF_OF: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "agentledger_on_behalf_of", default=None
)


@contextlib.contextmanager
def on_behalf_of(identity: Identity) -> Iterator[None]:
    """Calls made inside the block carry ``identity`` instead of the client's own."""
    token = _ON_BEHALF_OF.set(identity)
    try:
        yield
    finally:
        _ON_BEHALF_OF.reset(token)


def call_metadata(identity: Identity = "") -> tuple[tuple[str, str], ...]:
    """Trace context and the caller's identity (the forwarded one, else the client's own)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    pairs = list(carrier.items())
    chosen = _ON_BEHALF_OF.get() or identity
    credential = chosen() if callable(chosen) else chosen
    if credential:
        pairs.append(("authorization", credential))
    return tuple(pairs)


async def with_retries(
    call: Callable[[], Awaitable[T]], *, attempts: int = 4, base_delay: float = 0.05
) -> T:
    """Runs ``call``; retries RETRYABLE failures with jittered backoff; raises domain errors."""
    for attempt in range(attempts):
        try:
            return await call()
        except aio.AioRpcError as err:
            if err.code() not in RETRYABLE or attempt == attempts - 1:
                raise to_domain_error(err) from None
        await asyncio.sleep(base_delay * (2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")
