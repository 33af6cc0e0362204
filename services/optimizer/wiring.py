"""Builds an OptimizerService from settings: its configuration and its history source."""

from __future__ import annotations

from dataclasses import dataclass

from agentledger.core.client import Identity
from services.optimizer.domain.history import HistorySource
from services.optimizer.domain.service import OptimizerService
from services.optimizer.history_source import TraceStoreHistory
from services.optimizer.settings import OptimizerSettings
from services.trace_store.client import TraceStoreClient


@dataclass
class Built:
    service: OptimizerService
    trace_store: TraceStoreHistory | None

    async def close(self) -> None:
        await self.service.close()
        if self.trace_store is not None:
            await self.trace_store.close()


def build(
    settings: OptimizerSettings, *, history: HistorySource | None = None, identity: Identity = ""
) -> Built:
    """Reads history from trace_store unless a source is given (tests give an in-memory one)."""
    store = None
    if history is None:
        client = TraceStoreClient(
            settings.trace_store_target, timeout_s=settings.trace_store_timeout_s, identity=identity
        )
        history = store = TraceStoreHistory(client)
    service = OptimizerService(settings.config, history, workers=settings.workers)
    return Built(service, store)
