"""Structured logging: one JSON object per line, carrying the task and event in scope.

The interceptor chain sets ``task_id``/``event_id``/``rpc`` in context variables for the length
of a call, so that any log line written while serving it carries them without being passed.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from agentledger.security.redaction import DEFAULT_POLICY, RedactingLogFilter

_EMPTY: Mapping[str, str] = MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "agentledger_log_context", default=_EMPTY
)


@contextlib.contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Adds fields (task_id, event_id, rpc, ...) to every log line written inside the block."""
    merged = {**_CONTEXT.get(), **{k: v for k, v in fields.items() if v}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, context, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(_CONTEXT.get())
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """A human-friendly line for terminals: time level service [context] message."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        ctx = " ".join(f"{k}={v}" for k, v in _CONTEXT.get().items())
        line = (
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} "
            f"{record.levelname:<7} {self._service} {ctx + ' ' if ctx else ''}{record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def log_handler(service: str, fmt: str = "json", stream: Any = None) -> logging.Handler:
    """A handler writing lines in the chosen format, each record redacted first: no secret
    reaches a log line."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    handler.addFilter(RedactingLogFilter(DEFAULT_POLICY))
    return handler


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Sends every log line of the process to stderr in the chosen format, redacted."""
    handler = log_handler(service, fmt)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Migrations announce every step at INFO; only their problems belong in a service's log.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
