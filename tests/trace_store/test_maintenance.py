"""Planner statistics on SQLite: gathered at start and by a periodic loop."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from tests.conftest import Database, start_store, stop_store, store_settings
from tests.helpers import new_task


async def test_statistics_round_records_the_task_index(database: Database, tmp_path: Path) -> None:
    if database.kind != "sqlite":
        return  # PostgreSQL's autovacuum gathers statistics by itself
    store, built = await start_store(store_settings(database, tmp_path))
    try:
        for i in range(20):
            await new_task(store.client, f"t{i}", owner=f"o{i % 3}")
        await built.statistics.run_once()
        with built.engine.connect() as conn:
            rows = conn.execute(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'ts_tasks'")).all()
        assert {"ix_ts_tasks_state_created", "ix_ts_tasks_duration"} <= {r[0] for r in rows}
    finally:
        await stop_store(store, built)
