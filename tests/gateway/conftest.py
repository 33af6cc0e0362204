"""The secured mesh fixture: every service behind the interceptor, the gateway on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.gateway.harness import Mesh, start_mesh


@pytest.fixture
async def mesh(database: Database, tmp_path: Path) -> AsyncIterator[Mesh]:
    m = await start_mesh(database, tmp_path)
    try:
        yield m
    finally:
        await m.close()
