"""The product tables' database: templates, metering, quotas and exports.

On a laptop a SQLite file in the data folder; in a deployment a PostgreSQL database (or schema)
that every replica of the product service points at.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from agentledger.core.db import create_db_engine, migrate

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def open_product_db(url: str, *, schema: str | None = None, pool_size: int = 4) -> Engine:
    """An engine on the product tables, migrated to the newest revision."""
    engine = create_db_engine(url, pool_size=pool_size, schema=schema or None)
    migrate(engine, "product", MIGRATIONS)
    return engine
