"""The security tables' database: where tokens, shares and the audit log live.

On a laptop a SQLite file in the data folder that the gateway, the CLI and the services share;
in a deployment a PostgreSQL database (or schema) that every replica points at.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from agentledger.core.db import create_db_engine, migrate

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def open_security_db(url: str, *, schema: str | None = None, pool_size: int = 4) -> Engine:
    """An engine on the security tables, migrated to the newest revision."""
    engine = create_db_engine(url, pool_size=pool_size, schema=schema or None)
    migrate(engine, "security", MIGRATIONS)
    return engine
