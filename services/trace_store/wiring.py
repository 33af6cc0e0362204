"""Builds a TraceStoreService from settings: database, migrations, backends, announcements."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from agentledger.core.clock import Clock, SystemClock
from agentledger.core.db import create_db_engine, is_sqlite, migrate
from agentledger.core.offload import Offloader
from agentledger.security.redaction import DEFAULT_POLICY
from services.trace_store.codec import ProtobufWireEncoder
from services.trace_store.domain.announce import PgAnnouncer
from services.trace_store.domain.blobs import (
    BlobBackend,
    BlobStore,
    DatabaseBlobBackend,
    FolderBlobBackend,
)
from services.trace_store.domain.events import EventLog
from services.trace_store.domain.follow import LiveFeed
from services.trace_store.domain.ingest import IngestLimits, Ingestor, Redactor
from services.trace_store.domain.maintenance import PlannerStatistics, analyze
from services.trace_store.domain.query import TaskQuery
from services.trace_store.domain.service import TraceStoreService
from services.trace_store.domain.summaries import SummaryCache, SummaryStore
from services.trace_store.settings import TraceStoreSettings

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Built:
    service: TraceStoreService
    announcer: PgAnnouncer | None
    engine: Engine
    statistics: PlannerStatistics

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await self.statistics.stop()
        if self.announcer is not None:
            await loop.run_in_executor(None, self.announcer.stop)
        await self.service.close()
        await loop.run_in_executor(None, self.engine.dispose)


def build(
    settings: TraceStoreSettings, *, clock: Clock | None = None, redactor: Redactor | None = None
) -> Built:
    """Migrates the schema and assembles the service. Call from inside the running event loop.
    Every event and summary passes the redaction policy at ingestion (``redactor``, default:
    the deployment's policy, agentledger.security.redaction)."""
    clock = clock or SystemClock()
    engine = create_db_engine(
        settings.db_url, pool_size=settings.readers + 2, schema=settings.db_schema or None
    )
    migrate(engine, "trace_store", MIGRATIONS)
    analyze(engine)
    sqlite = is_sqlite(engine)
    announcer = None if sqlite else PgAnnouncer(settings.db_url, settings.notify_channel)
    ingestor = Ingestor(
        IngestLimits(
            max_batch_events=settings.max_batch_events, max_event_bytes=settings.max_event_bytes
        ),
        ProtobufWireEncoder(),
        redactor or DEFAULT_POLICY,
    )
    backend: BlobBackend = (
        FolderBlobBackend(settings.blob_dir)
        if settings.blob_backend == "folder"
        else DatabaseBlobBackend(engine)
    )
    # SQLite has one writer at a time: one writer thread queues writes without lock waits.
    offload = Offloader(
        readers=settings.readers,
        writers=1 if sqlite else 4,
        name="trace-store",
        inline_writes=sqlite and settings.inline_writes,
    )
    service = TraceStoreService(
        events=EventLog(
            engine, ingestor, clock, on_append=announcer.on_append if announcer else None
        ),
        summaries=SummaryStore(
            engine,
            ingestor,
            clock,
            SummaryCache(settings.cache_size),
            on_summary=announcer.on_summary if announcer else None,
        ),
        query=TaskQuery(engine),
        blobs=BlobStore(engine, backend, clock, settings.max_blob_bytes),
        feed=LiveFeed(),
        offload=offload,
        heartbeat_s=settings.heartbeat_s,
    )
    if announcer is not None:
        announcer.start(asyncio.get_running_loop(), service.on_announcement)
    statistics = PlannerStatistics(engine, offload, settings.analyze_s)
    if sqlite:
        statistics.start()
    return Built(service, announcer, engine, statistics)
