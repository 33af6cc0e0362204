"""Database setup: SQLite in WAL mode by default, PostgreSQL when a URL is given; migrations.

Each service owns its tables and its own Alembic history (its own version table), and migrates
its schema when it starts. On PostgreSQL an advisory lock serializes replicas that start at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from agentledger.core.errors import InvalidArgument


def sqlite_url(data_dir: Path, service: str) -> str:
    return f"sqlite:///{(data_dir / f'{service}.db').resolve()}"


def normalize_url(url: str) -> str:
    """Accepts plain ``postgresql://`` URLs and points them at the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not (url.startswith("sqlite") or url.startswith("postgresql+psycopg://")):
        raise InvalidArgument(
            f"database URL {url.split('://')[0]}://... is not supported; "
            "use sqlite:///path or postgresql://user@host/db"
        )
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The Python driver opens a transaction lazily and never for DDL; autocommit off with
    # explicit BEGIN keeps "BEGIN IMMEDIATE" (write intent up front) possible.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # Takes effect only when the file is created: larger pages make bulk appends ~15% cheaper.
    cur.execute("PRAGMA page_size=16384")
    cur.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL loses no committed data on a process crash, only on power loss.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA temp_store=MEMORY")
    # Per connection, and a pool holds several: 16 MiB each keeps a busy store's memory bounded
    # (at 64 MiB, four concurrent replays grew the process by 270 MB); the OS caches the rest.
    cur.execute("PRAGMA cache_size=-16384")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # The driver runs in autocommit mode (see _sqlite_pragmas): SQLAlchemy transactions begin here.
    conn.exec_driver_sql("BEGIN")


def create_db_engine(url: str, *, pool_size: int = 8, schema: str | None = None) -> Engine:
    """An engine for the URL; ``schema`` (PostgreSQL only) sets the search path, as tests do."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(
        url,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


def create_listen_engine(url: str, schema: str | None = None) -> Engine:
    """An unpooled engine for long-lived LISTEN connections (PostgreSQL)."""
    connect_args: dict[str, Any] = {"autocommit": True}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(normalize_url(url), poolclass=NullPool, connect_args=connect_args)


# What the drivers raise for a duplicate key, for code that works on the driver connection.
UNIQUE_VIOLATIONS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError,
    psycopg.errors.UniqueViolation,
)


class Driver:
    """A pooled driver connection (sqlite3 or psycopg) inside one transaction, with ``?``
    placeholders on both: hot paths use it to skip SQLAlchemy's per-statement work."""

    def __init__(self, raw: Any, sqlite: bool) -> None:
        self.raw = raw
        self.sqlite = sqlite

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(sql if self.sqlite else sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.sqlite:
            self.raw.executemany(sql, rows)
        else:
            with self.raw.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)

    @property
    def for_update(self) -> str:
        """Row locking for a read-then-write (SQLite's BEGIN IMMEDIATE already serializes)."""
        return "" if self.sqlite else " FOR UPDATE"


@contextlib.contextmanager
def driver_transaction(engine: Engine, *, write: bool) -> Iterator[Driver]:
    """One transaction on a pooled driver connection: committed on success, rolled back on error."""
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        sqlite = is_sqlite(engine)
        if sqlite:
            # Writers take the write lock up front, so two of them queue on busy_timeout
            # instead of failing to upgrade a read lock mid-transaction.
            raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Driver(raw, sqlite)
        except BaseException:
            if not sqlite:
                raw.rollback()
            elif raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        if sqlite:
            raw.execute("COMMIT")
        else:
            raw.commit()


def migrate(engine: Engine, service: str, migrations_dir: Path) -> None:
    """Brings the service's tables to the newest revision of its own migration history."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("version_table", f"alembic_version_{service}")
    with engine.begin() as conn:
        if not is_sqlite(engine):
            lock_id = int.from_bytes(hashlib.sha256(service.encode()).digest()[:4], "big")
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
