"""Builds the engine from settings: database and migrations, plans and selection rules, agents,
governance, the trace relay, the queue and its worker pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from agentledger.core.client import Identity
from agentledger.core.clock import Clock, SystemClock
from agentledger.core.db import create_db_engine, is_sqlite, migrate
from agentledger.core.errors import AgentLedgerError, NotFound
from agentledger.core.offload import Offloader
from services.engine.advisor import OptimizerAdvisor
from services.engine.domain.agents.registry import AgentRegistry
from services.engine.domain.governance import GovernanceEngine
from services.engine.domain.plan_catalog import PlanCatalog
from services.engine.domain.plan_loader import load_plan
from services.engine.domain.plan_selection import SelectionRules
from services.engine.domain.protect import InputSealer
from services.engine.domain.queue import QueueLimits, TaskQueue
from services.engine.domain.ratelimit import TokenBuckets
from services.engine.domain.relay import Relay, TraceSink
from services.engine.domain.runner import RunnerDeps
from services.engine.domain.service import EngineService, PlanResolver
from services.engine.domain.state_manager import StateManager
from services.engine.domain.store import EngineStore
from services.engine.domain.system_trace import SystemTraceWriter
from services.engine.domain.workers import WorkerPool
from services.engine.quota_gate import ProductQuotaGate
from services.engine.settings import EngineSettings
from services.engine.trace_sink import GrpcTraceSink
from services.optimizer.client import OptimizerClient
from services.product.client import ProductClient
from services.trace_store.client import TraceStoreClient

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("agentledger.engine")


@dataclass
class Built:
    service: EngineService
    pool: WorkerPool
    queue: TaskQueue
    store: EngineStore
    registry: AgentRegistry
    engine: Engine
    offload: Offloader
    client: TraceStoreClient | None
    optimizer: OptimizerClient | None = None
    product: ProductClient | None = None

    async def close(self) -> None:
        await self.pool.stop()
        if self.client is not None:
            await self.client.close()
        if self.optimizer is not None:
            await self.optimizer.close()
        if self.product is not None:
            await self.product.close()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.offload.shutdown)
        await loop.run_in_executor(None, self.engine.dispose)


def build(
    settings: EngineSettings,
    *,
    clock: Clock | None = None,
    sink: TraceSink | None = None,
    registry: AgentRegistry | None = None,
    start_workers: bool = True,
    identity: Identity = "",
) -> Built:
    """Call from inside the running event loop. `sink` replaces the gRPC trace_store client
    (a co-located store); `start_workers=False` leaves claiming to the caller (tests)."""
    clock = clock or SystemClock()
    db = create_db_engine(
        settings.db_url, pool_size=settings.workers + 4, schema=settings.db_schema or None
    )
    migrate(db, "engine", MIGRATIONS)
    sqlite = is_sqlite(db)
    offload = Offloader(
        readers=4,
        writers=1 if sqlite else 4,
        name="engine",
        inline_writes=sqlite and settings.inline_writes,
    )
    store = EngineStore(db)
    states = StateManager()
    registry = registry or AgentRegistry(settings.agents)
    kinds = registry.kinds()
    catalog = PlanCatalog.from_folders(list(settings.plan_dirs), kinds)
    _add_stored_plans(store, catalog, kinds)
    rules = SelectionRules.load_file(settings.selection_rules)
    rules.check_plans(catalog)
    client = None
    if sink is None:
        client = TraceStoreClient(settings.trace_store_target, identity=identity)
        sink = GrpcTraceSink(client)
    relay = Relay(store, sink, offload)
    optimizer = (
        OptimizerClient(settings.optimizer_target, identity=identity)
        if settings.optimizer_target
        else None
    )
    product = (
        ProductClient(settings.product_target, timeout_s=10.0, identity=identity)
        if settings.product_target
        else None
    )
    plans = PlanResolver(store, offload, kinds)
    sealer = InputSealer(settings.inputs_key or _local_inputs_key(settings))
    deps = RunnerDeps(
        store=store,
        states=states,
        plans=plans,
        agents=registry,
        governance=GovernanceEngine(),
        relay=relay,
        offload=offload,
        clock=clock,
        limits=TokenBuckets(settings.rate_limits, time.monotonic_ns),
        tasks_dir=settings.tasks_dir,
        system_trace=SystemTraceWriter(settings.tasks_dir, sink, store, offload),
        summary_every_s=settings.summary_every_s,
        sealer=sealer,
        advisor=OptimizerAdvisor(optimizer) if optimizer is not None else None,
    )
    queue = TaskQueue(
        store,
        states,
        clock,
        worker_id=settings.worker_id,
        lease_s=settings.lease_s,
        limits=QueueLimits(settings.max_running, settings.max_per_owner),
    )
    pool = WorkerPool(
        queue,
        deps,
        offload,
        slots=settings.workers,
        poll_s=settings.poll_s,
        lease_s=settings.lease_s,
    )
    service = EngineService(
        store=store,
        states=states,
        catalog=catalog,
        rules=rules,
        relay=relay,
        offload=offload,
        clock=clock,
        known_agents=kinds,
        pool=pool,
        plans=plans,
        sealer=sealer,
        quota=ProductQuotaGate(product) if product is not None else None,
    )
    if start_workers:
        pool.start()
    return Built(service, pool, queue, store, registry, db, offload, client, optimizer, product)


def _add_stored_plans(store: EngineStore, catalog: PlanCatalog, kinds: frozenset[str]) -> None:
    """Plans submitted inline in earlier runs stay listed and readable. A file plan wins over
    a stored one of the same id and version (a submit of changed content is refused then)."""
    with store.read() as tx:
        stored = store.stored_plans(tx)
    for plan_id, version, text, source in stored:
        if version in _versions(catalog, plan_id):
            continue
        try:
            catalog.add(load_plan(text, source=source, known_agents=kinds))
        except AgentLedgerError as exc:  # e.g. an agent kind no longer registered
            log.warning("stored plan %s@%d is not loaded: %s", plan_id, version, exc)


def _versions(catalog: PlanCatalog, plan_id: str) -> list[int]:
    try:
        return catalog.versions(plan_id)
    except NotFound:
        return []


def _local_inputs_key(settings: EngineSettings) -> bytes:
    """No key configured (a laptop, a test): one made once in the data folder (mode 0600).
    A deployment sets AGENTLEDGER_ENGINE_INPUTS_KEY (or the mesh key) from a Secret instead."""
    path = settings.common.data_dir / "engine-inputs.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_bytes().strip()
