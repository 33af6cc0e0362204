"""TraceStore configuration, read once from the environment by the process entry point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from agentledger.core.db import sqlite_url
from agentledger.core.errors import InvalidArgument
from agentledger.core.settings import CommonSettings, Env

DEFAULT_ADDR = "127.0.0.1:50051"


@dataclass(frozen=True)
class TraceStoreSettings:
    common: CommonSettings
    listen: str
    db_url: str
    # Only for PostgreSQL: a schema to use instead of the default search path (tests, sharing).
    db_schema: str
    blob_backend: str  # "database" or "folder"
    blob_dir: Path
    max_blob_bytes: int
    max_event_bytes: int
    max_batch_events: int
    heartbeat_s: float
    cache_size: int
    notify_channel: str
    readers: int
    analyze_s: float
    # SQLite only: commit on the event loop instead of a writer thread (see the engine's).
    inline_writes: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TraceStoreSettings:
        env = Env(environ)
        common = CommonSettings.from_env(environ)
        backend = env.text("AGENTLEDGER_TRACE_STORE_BLOB_BACKEND", "database")
        if backend not in {"database", "folder"}:
            raise InvalidArgument(
                f"AGENTLEDGER_TRACE_STORE_BLOB_BACKEND={backend!r}: use database or folder"
            )
        return cls(
            common=common,
            listen=env.text("AGENTLEDGER_TRACE_STORE_LISTEN", DEFAULT_ADDR),
            db_url=env.text(
                "AGENTLEDGER_TRACE_STORE_DB_URL",
                env.text("AGENTLEDGER_DB_URL", sqlite_url(common.data_dir, "trace_store")),
            ),
            db_schema=env.text("AGENTLEDGER_TRACE_STORE_DB_SCHEMA", ""),
            blob_backend=backend,
            blob_dir=Path(
                env.text("AGENTLEDGER_TRACE_STORE_BLOB_DIR", str(common.data_dir / "blobs"))
            ),
            max_blob_bytes=env.integer(
                "AGENTLEDGER_TRACE_STORE_MAX_BLOB_BYTES", 256 * 1024 * 1024, minimum=1
            ),
            max_event_bytes=env.integer(
                "AGENTLEDGER_TRACE_STORE_MAX_EVENT_BYTES", 256 * 1024, minimum=64
            ),
            max_batch_events=env.integer(
                "AGENTLEDGER_TRACE_STORE_MAX_BATCH_EVENTS", 5000, minimum=1
            ),
            heartbeat_s=env.number("AGENTLEDGER_TRACE_STORE_HEARTBEAT_SECONDS", 15.0, minimum=0.01),
            cache_size=env.integer("AGENTLEDGER_TRACE_STORE_CACHE_SIZE", 10_000, minimum=0),
            notify_channel=env.text(
                "AGENTLEDGER_TRACE_STORE_NOTIFY_CHANNEL", "agentledger_trace_store"
            ),
            readers=env.integer("AGENTLEDGER_TRACE_STORE_READERS", 4, minimum=1),
            analyze_s=env.number("AGENTLEDGER_TRACE_STORE_ANALYZE_SECONDS", 600.0, minimum=1.0),
            inline_writes=env.flag("AGENTLEDGER_TRACE_STORE_INLINE_WRITES", False),
        )
