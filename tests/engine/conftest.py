"""Engine fixtures: a real TraceStore and a real engine, both on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Database, Store
from tests.engine.harness import EngineUnderTest, start_engine


@pytest.fixture
async def engine(
    database: Database, tmp_path: Path, store: Store
) -> AsyncIterator[EngineUnderTest]:
    e = await start_engine(database, tmp_path, store)
    try:
        yield e
    finally:
        await e.close()
