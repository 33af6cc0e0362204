"""One table from domain error codes (the gRPC status names) to HTTP statuses, and the JSON
body every error answer has: ``{"error": {"code", "message", "status"}}``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentledger.core.errors import AgentLedgerError, ErrorCode

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.ALREADY_EXISTS: 409,
    ErrorCode.ABORTED: 409,
    ErrorCode.FAILED_PRECONDITION: 409,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.DEADLINE_EXCEEDED: 504,
}
CODE_OF_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "FAILED_PRECONDITION",
    413: "PAYLOAD_TOO_LARGE",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    status: int


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_response(status: int, code: str, message: str) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="agentledger"'} if status == 401 else None
    body = {"error": {"code": code, "message": message, "status": status}}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def domain_error(exc: AgentLedgerError) -> Response:
    return error_response(HTTP_STATUS.get(exc.code, 500), exc.code.value, exc.message)


async def on_domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AgentLedgerError)
    return domain_error(exc)


async def on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_OF_STATUS.get(exc.status_code, "HTTP_ERROR")
    return error_response(exc.status_code, code, str(exc.detail))


async def on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(e) for e in exc.errors()[:5]]
    return error_response(400, "INVALID_ARGUMENT", "; ".join(problems) or "invalid request")


def _describe(err: Any) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "request"
    return f"{where}: {err.get('msg', 'invalid')}"


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code}
    for status, code in (
        (400, "the request is malformed; the message names the field"),
        (401, "no or bad credentials"),
        (403, "the caller's role does not allow this"),
        (404, "no such object, or not one the caller may see"),
        (409, "the object's state does not allow this now"),
        (429, "a quota or rate limit was reached"),
        (503, "a service (or the audit log) is unavailable; nothing was done"),
    )
}
