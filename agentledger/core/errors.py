"""The one error vocabulary: domain code raises these; one interceptor maps them to gRPC codes.

This module imports nothing from gRPC so that domain packages can use it. Messages say what was
wrong and what would be right, because they reach people unchanged.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    """Transport-neutral status codes; the names equal gRPC's ``StatusCode`` names."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    ABORTED = "ABORTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INTERNAL = "INTERNAL"


class AgentLedgerError(Exception):
    """Base of every error that is meant to reach a caller with its message."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(AgentLedgerError):
    code = ErrorCode.INVALID_ARGUMENT


class NotFound(AgentLedgerError):
    code = ErrorCode.NOT_FOUND


class AlreadyExists(AgentLedgerError):
    code = ErrorCode.ALREADY_EXISTS


class Conflict(AgentLedgerError):
    """A concurrent change won (optimistic lock, lease taken over): re-read and decide again."""

    code = ErrorCode.ABORTED


class FailedPrecondition(AgentLedgerError):
    code = ErrorCode.FAILED_PRECONDITION


class PermissionDenied(AgentLedgerError):
    code = ErrorCode.PERMISSION_DENIED


class Unauthenticated(AgentLedgerError):
    code = ErrorCode.UNAUTHENTICATED


class ResourceExhausted(AgentLedgerError):
    code = ErrorCode.RESOURCE_EXHAUSTED


class Unavailable(AgentLedgerError):
    code = ErrorCode.UNAVAILABLE


class DeadlineExceeded(AgentLedgerError):
    code = ErrorCode.DEADLINE_EXCEEDED


class Internal(AgentLedgerError):
    code = ErrorCode.INTERNAL


_BY_CODE: dict[ErrorCode, type[AgentLedgerError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        Conflict,
        FailedPrecondition,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
        Internal,
    )
}


def error_for(code: ErrorCode, message: str) -> AgentLedgerError:
    """The domain error for a status code, as typed clients raise it."""
    return _BY_CODE.get(code, Internal)(message)
