"""Where the local admin commands (`token`, `audit`) find the security database: --db-url and
--db-schema, else AGENTLEDGER_SECURITY_DB_URL / _SCHEMA, else <data dir>/security.db."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agentledger.core.db import sqlite_url
from agentledger.core.settings import DEFAULT_DATA_DIR, Env


def add_db_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db-url",
        default=None,
        help="security database (default: $AGENTLEDGER_SECURITY_DB_URL, "
        "else <$AGENTLEDGER_DATA_DIR>/security.db)",
    )
    parser.add_argument(
        "--db-schema",
        default=None,
        help="PostgreSQL schema (default: $AGENTLEDGER_SECURITY_DB_SCHEMA)",
    )


def db_target(args: argparse.Namespace) -> tuple[str, str]:
    """(url, schema) of the security database for these arguments."""
    env = Env(os.environ)
    data_dir = Path(env.text("AGENTLEDGER_DATA_DIR", DEFAULT_DATA_DIR))
    url = args.db_url or env.text("AGENTLEDGER_SECURITY_DB_URL", sqlite_url(data_dir, "security"))
    return url, args.db_schema or env.text("AGENTLEDGER_SECURITY_DB_SCHEMA", "")
