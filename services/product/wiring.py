"""Builds the Product service from settings: its database, its clients of the engine and
trace_store, the domain use cases and the sweep that records goal statuses and metering."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from sqlalchemy import Engine

from agentledger.core.client import Identity
from agentledger.core.clock import Clock, SystemClock
from agentledger.core.db import is_sqlite
from agentledger.core.offload import Offloader
from agentledger.security.rbac import Policy
from services.engine.client import EngineClient
from services.product.db import open_product_db
from services.product.domain.accounts import Accounts
from services.product.domain.finisher import Finisher
from services.product.domain.service import Insights
from services.product.domain.store import ProductStore
from services.product.rephraser import HttpRephraser
from services.product.servicer import ProductServicer
from services.product.settings import ProductSettings
from services.product.sources import EngineTasks, StoreTraces
from services.trace_store.client import TraceStoreClient


@dataclass
class Built:
    servicer: ProductServicer
    insights: Insights
    accounts: Accounts
    finisher: Finisher
    db: Engine
    offload: Offloader
    engine: EngineClient
    trace_store: TraceStoreClient
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _sweeping: asyncio.Task[None] | None = None

    def start_sweeping(self, interval_s: float) -> None:
        if interval_s > 0 and self._sweeping is None:
            self._sweeping = asyncio.create_task(self.finisher.run(interval_s, self._stop))

    async def close(self) -> None:
        self._stop.set()
        if self._sweeping is not None:
            self._sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeping
        await self.engine.close()
        await self.trace_store.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.offload.shutdown)
        await loop.run_in_executor(None, self.db.dispose)


def build(
    settings: ProductSettings,
    *,
    identity: Identity = "",
    clock: Clock | None = None,
    policy: Policy | None = None,
) -> Built:
    """Call from inside the running event loop."""
    clock = clock or SystemClock()
    db = open_product_db(settings.db_url, schema=settings.db_schema or None)
    offload = Offloader(readers=4, writers=1 if is_sqlite(db) else 4, name="product")
    engine = EngineClient(settings.engine_target, identity=identity)
    trace_store = TraceStoreClient(settings.trace_store_target, identity=identity)
    tasks, traces = EngineTasks(engine), StoreTraces(trace_store, clock)
    insights = Insights(tasks, traces, clock, settings.insights)
    accounts = Accounts(
        ProductStore(db), offload, tasks, traces, clock, settings.quotas, insights.plans.get
    )
    finisher = Finisher(insights, accounts, traces, clock, lookback_s=settings.sweep_lookback_s)
    rephraser = HttpRephraser(settings.rephraser) if settings.rephraser.url else None
    servicer = ProductServicer(insights, accounts, policy or Policy.load(), finisher, rephraser)
    return Built(servicer, insights, accounts, finisher, db, offload, engine, trace_store)
