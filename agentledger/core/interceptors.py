"""The interceptor chain every service uses: tracing -> logging -> (authentication) -> errors.

Tracing, logging and error mapping run in one interceptor (``ObservedCall``), because each
layer of grpc-interceptor costs an extra coroutine per call and this VM's calls are short; the
steps keep their order. Authentication and RBAC, when installed, sit behind it as their own
interceptors, so that their refusals are logged and mapped like any other error.

Domain errors become their status codes with their messages; anything unexpected is logged in
full with a reference and reaches the caller only as INTERNAL with that reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import grpc
from grpc import aio
from grpc_interceptor.server import AsyncServerInterceptor
from opentelemetry import propagate, trace

from agentledger.core.errors import AgentLedgerError, ErrorCode
from agentledger.core.logging import log_context

log = logging.getLogger("agentledger.rpc")

STATUS_BY_CODE: dict[ErrorCode, grpc.StatusCode] = {
    code: grpc.StatusCode[code.value] for code in ErrorCode
}


class ObservedCall(AsyncServerInterceptor):
    """One span per RPC, a log context with rpc/task_id, an outcome line, and error mapping."""

    def __init__(self, slow_ms: float = 1000.0) -> None:
        self._tracer = trace.get_tracer("agentledger.rpc")
        self._slow_ms = slow_ms

    async def intercept(
        self, method: Callable[..., Any], request: Any, context: aio.ServicerContext, name: str
    ) -> Any:
        result = method(request, context)
        if hasattr(result, "__aiter__"):
            return self._stream(result, request, context, name)
        with self._observe(request, context, name):
            try:
                return await result
            except Exception as exc:
                await self._abort(exc, context, name)

    async def _stream(
        self, stream: AsyncIterator[Any], request: Any, context: aio.ServicerContext, name: str
    ) -> AsyncIterator[Any]:
        # A cancelled stream is closed later by asyncio from another task, where context
        # variables set here cannot be reset: so the span is not made current, and the log
        # context is set around each step of the stream instead of across its yields.
        span = self._tracer.start_span(name, context=_caller(context), kind=trace.SpanKind.SERVER)
        fields = {"rpc": name, "task_id": _task_id(request)}
        started, outcome = time.perf_counter(), "OK"
        iterator = aiter(stream)
        try:
            while True:
                with log_context(**fields):
                    try:
                        item = await anext(iterator)
                    except StopAsyncIteration:
                        break
                    except Exception as exc:
                        outcome = _outcome_of(exc, context)
                        await self._abort(exc, context, name)
                yield item
        except BaseException as exc:
            if outcome == "OK":
                outcome = _outcome_of(exc, context)
            raise
        finally:
            span.end()
            self._done(name, started, outcome, fields)

    @contextlib.contextmanager
    def _observe(self, request: Any, context: aio.ServicerContext, name: str) -> Iterator[None]:
        started, outcome = time.perf_counter(), "OK"
        fields = {"rpc": name, "task_id": _task_id(request)}
        with (
            self._tracer.start_as_current_span(
                name, context=_caller(context), kind=trace.SpanKind.SERVER
            ),
            log_context(**fields),
        ):
            try:
                yield
            except BaseException as exc:
                outcome = _outcome_of(exc, context)
                raise
            finally:
                self._done(name, started, outcome, fields)

    def _done(self, name: str, started: float, outcome: str, fields: dict[str, str]) -> None:
        ms = (time.perf_counter() - started) * 1000
        level = logging.INFO if ms >= self._slow_ms or outcome != "OK" else logging.DEBUG
        if log.isEnabledFor(level):
            with log_context(**fields):
                log.log(level, "rpc %s %s in %.1f ms", name, outcome, ms, extra={"duration_ms": ms})

    async def _abort(self, exc: Exception, context: aio.ServicerContext, name: str) -> None:
        if isinstance(exc, aio.AbortError):
            raise exc  # the servicer already set a status
        if isinstance(exc, AgentLedgerError):
            await context.abort(STATUS_BY_CODE[exc.code], exc.message)
        ref = uuid.uuid4().hex[:12]
        log.error(
            "unexpected error in %s (ref %s)", name, ref, exc_info=exc, extra={"error_ref": ref}
        )
        await context.abort(
            grpc.StatusCode.INTERNAL, f"internal error (ref {ref}); the service logged it"
        )


def _caller(context: aio.ServicerContext) -> Any:
    """The caller's trace context, from the call's metadata."""
    metadata = context.invocation_metadata() or ()
    return propagate.extract({k: v for k, v in metadata if isinstance(v, str)})


def _task_id(request: Any) -> str:
    return str(getattr(request, "task_id", "")) if hasattr(request, "DESCRIPTOR") else ""


def _outcome_of(exc: BaseException, context: aio.ServicerContext) -> str:
    if isinstance(exc, AgentLedgerError):
        return exc.code.value
    if isinstance(exc, aio.AbortError):
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "ABORTED"
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return "CANCELLED"
    return type(exc).__name__


def default_chain(extra: Sequence[aio.ServerInterceptor] = ()) -> list[aio.ServerInterceptor]:
    """The chain, outermost first; ``extra`` (authentication, RBAC) runs behind the first."""
    return [ObservedCall(), *extra]
