"""Reading configuration from environment variables, once, into frozen settings objects.

Only a process entry point calls ``from_env``; everything else receives settings through its
constructor. A malformed value stops the process at start with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentledger.core.errors import InvalidArgument

DEFAULT_DATA_DIR = "data"


class Env:
    """Typed access to an environment mapping; errors name the variable and the expected form."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    @property
    def environ(self) -> Mapping[str, str]:
        """The mapping read, for parsers of a subsystem's own variables."""
        return self._environ

    def text(self, name: str, default: str) -> str:
        value = self._environ.get(name, "").strip()
        return value or default

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidArgument(f"{name}={raw!r} is not an integer") from None
        if minimum is not None and value < minimum:
            raise InvalidArgument(f"{name}={value} is below its minimum {minimum}")
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise InvalidArgument(f"{name}={raw!r} is not a number") from None
        if value != value or (minimum is not None and value < minimum):
            raise InvalidArgument(f"{name}={raw!r} must be a number >= {minimum}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._environ.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in {"1", "true", "yes", "on"}:
            return True
        if raw in {"0", "false", "no", "off"}:
            return False
        raise InvalidArgument(f"{name}={raw!r} is not a boolean; use true or false")


@dataclass(frozen=True)
class CommonSettings:
    """What every service process reads: where data lives, how to log, where to listen."""

    data_dir: Path
    log_level: str
    log_format: str  # "json" or "text"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CommonSettings:
        env = Env(environ)
        log_format = env.text("AGENTLEDGER_LOG_FORMAT", "json")
        if log_format not in {"json", "text"}:
            raise InvalidArgument(f"AGENTLEDGER_LOG_FORMAT={log_format!r}: use json or text")
        return cls(
            data_dir=Path(env.text("AGENTLEDGER_DATA_DIR", DEFAULT_DATA_DIR)),
            log_level=env.text("AGENTLEDGER_LOG_LEVEL", "INFO").upper(),
            log_format=log_format,
        )
