"""The one interceptor chain every service uses: tracing -> logging -> (auth) -> error mapping.

Domain errors become their status codes with their messages; anything unexpected is logged in
full with a reference and reaches the caller only as INTERNAL with that reference.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
from grpc import aio
from grpc_interceptor.server import AsyncServerInterceptor
from opentelemetry import propagate, trace

from agentledger.core.errors import AgentLedgerError, ErrorCode
from agentledger.core.logging import log_context

log = logging.getLogger("agentledger.rpc")

STATUS_BY_CODE: dict[ErrorCode, grpc.StatusCode] = {code: grpc.StatusCode[code.value] for code in ErrorCode}

# Errors that the servicer already turned into a status, or a cancelled call: not ours to map.
_PASS_THROUGH = (aio.AbortError,)


def _is_streaming(result: Any) -> bool:
    return hasattr(result, "__aiter__")


class _Interceptor(AsyncServerInterceptor):
    """Runs ``around`` for unary calls and around the whole iteration of streaming ones."""

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext, name: str
    ) -> Any:
        result = method(request, context)
        if _is_streaming(result):
            return self._around_stream(result, request, context, name)
        return await self._around_unary(result, request, context, name)

    async def _around_unary(self, call: Any, request: Any, ctx: aio.ServicerContext, name: str) -> Any:
        return await call

    def _around_stream(
        self, stream: AsyncIterator[Any], request: Any, ctx: aio.ServicerContext, name: str
    ) -> AsyncIterator[Any]:
        return stream


def _task_id(request: Any) -> str:
    return getattr(request, "task_id", "") if hasattr(request, "DESCRIPTOR") else ""


class TracingInterceptor(_Interceptor):
    """One OpenTelemetry span per RPC, continuing the caller's trace from metadata."""

    def __init__(self) -> None:
        self._tracer = trace.get_tracer("agentledger.rpc")

    def _span(self, ctx: aio.ServicerContext, name: str) -> Any:
        carrier = {k: v for k, v in (ctx.invocation_metadata() or ()) if isinstance(v, str)}
        return self._tracer.start_as_current_span(
            name, context=propagate.extract(carrier), kind=trace.SpanKind.SERVER
        )

    async def _around_unary(self, call: Any, request: Any, ctx: aio.ServicerContext, name: str) -> Any:
        with self._span(ctx, name):
            return await call

    async def _around_stream(  # type: ignore[override]
        self, stream: AsyncIterator[Any], request: Any, ctx: aio.ServicerContext, name: str
    ) -> AsyncIterator[Any]:
        with self._span(ctx, name):
            async for item in stream:
                yield item


class LoggingInterceptor(_Interceptor):
    """Puts rpc and task_id in the log context and logs each call's outcome and duration."""

    def __init__(self, slow_ms: float = 1000.0) -> None:
        self._slow_ms = slow_ms

    def _done(self, name: str, started: float, outcome: str) -> None:
        ms = (time.perf_counter() - started) * 1000
        level = logging.INFO if ms >= self._slow_ms or outcome != "OK" else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "rpc %s %s in %.1f ms", name, outcome, ms, extra={"duration_ms": ms})

    async def _around_unary(self, call: Any, request: Any, ctx: aio.ServicerContext, name: str) -> Any:
        started, outcome = time.perf_counter(), "OK"
        with log_context(rpc=name, task_id=_task_id(request)):
            try:
                return await call
            except BaseException as exc:
                outcome = _outcome(exc)
                raise
            finally:
                self._done(name, started, outcome)

    async def _around_stream(  # type: ignore[override]
        self, stream: AsyncIterator[Any], request: Any, ctx: aio.ServicerContext, name: str
    ) -> AsyncIterator[Any]:
        started, outcome = time.perf_counter(), "OK"
        with log_context(rpc=name, task_id=_task_id(request)):
            try:
                async for item in stream:
                    yield item
            except BaseException as exc:
                outcome = _outcome(exc)
                raise
            finally:
                self._done(name, started, outcome)


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, AgentLedgerError):
        return exc.code.value
    return type(exc).__name__


class ErrorMappingInterceptor(_Interceptor):
    """Maps domain errors to status codes; masks and logs anything unexpected as INTERNAL."""

    async def _around_unary(self, call: Any, request: Any, ctx: aio.ServicerContext, name: str) -> Any:
        try:
            return await call
        except _PASS_THROUGH:
            raise
        except AgentLedgerError as exc:
            await ctx.abort(STATUS_BY_CODE[exc.code], exc.message)
        except Exception:
            await _abort_internal(ctx, name)

    async def _around_stream(  # type: ignore[override]
        self, stream: AsyncIterator[Any], request: Any, ctx: aio.ServicerContext, name: str
    ) -> AsyncIterator[Any]:
        try:
            async for item in stream:
                yield item
        except _PASS_THROUGH:
            raise
        except AgentLedgerError as exc:
            await ctx.abort(STATUS_BY_CODE[exc.code], exc.message)
        except Exception:
            await _abort_internal(ctx, name)


async def _abort_internal(ctx: aio.ServicerContext, name: str) -> None:
    ref = uuid.uuid4().hex[:12]
    log.exception("unexpected error in %s (ref %s)", name, ref, extra={"error_ref": ref})
    await ctx.abort(grpc.StatusCode.INTERNAL, f"internal error (ref {ref}); the service logged it")


def default_chain(extra: Sequence[aio.ServerInterceptor] = ()) -> list[aio.ServerInterceptor]:
    """The chain, outermost first. ``extra`` (authentication, RBAC) sits before error mapping."""
    return [TracingInterceptor(), LoggingInterceptor(), *extra, ErrorMappingInterceptor()]
