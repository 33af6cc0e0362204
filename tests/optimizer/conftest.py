"""A real Optimizer on a free port with a typed client; history in memory unless a test wires
trace_store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from agentledger.core.server import RunningServer
from services.optimizer import server, wiring
from services.optimizer.client import OptimizerClient
from services.optimizer.domain.history import InMemoryHistory
from services.optimizer.settings import OptimizerSettings


@dataclass
class Optimizer:
    server: RunningServer
    client: OptimizerClient
    history: InMemoryHistory
    target: str


@pytest.fixture
async def optimizer() -> AsyncIterator[Optimizer]:
    history = InMemoryHistory()
    built = wiring.build(OptimizerSettings.from_env({}), history=history)
    running = await server.start(built.service, "127.0.0.1:0")
    target = f"127.0.0.1:{running.port}"
    client = OptimizerClient(target, timeout_s=30)
    try:
        yield Optimizer(running, client, history, target)
    finally:
        await client.close()
        await running.stop(0)
        await built.close()
