"""The TraceStore's tables, as SQLAlchemy Core objects (migrations create them; see migrations/)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

# The index row of a task (one per task) and its event sequence counter.
tasks = Table(
    "ts_tasks",
    metadata,
    # A compact surrogate key: event rows carry it instead of the task id string.
    Column(
        "task_no",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("task_id", String(128), nullable=False, unique=True),
    Column("owner", String(256), nullable=False),
    Column("tenant", String(256), nullable=False, server_default=""),
    Column("mode", String(32), nullable=False, server_default=""),
    Column("plan_id", String(256), nullable=False, server_default=""),
    Column("plan_version", String(64), nullable=False, server_default=""),
    Column("state", String(32), nullable=False, server_default=""),
    Column("goal_status", String(32), nullable=False, server_default=""),
    Column("failure_type", String(32), nullable=False, server_default=""),
    Column("cost_usd", Float, nullable=False, server_default="0"),
    Column("tokens", BigInteger, nullable=False, server_default="0"),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Column("ended_ns", BigInteger, nullable=False, server_default="0"),
    Column("duration_ms", BigInteger, nullable=False, server_default="0"),
    Column("degrade_count", Integer, nullable=False, server_default="0"),
    Column("pause_count", Integer, nullable=False, server_default="0"),
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Index("ix_ts_tasks_created", "created_ns", "task_id"),
    Index("ix_ts_tasks_updated", "updated_ns", "task_id"),
    Index("ix_ts_tasks_cost", "cost_usd", "task_id"),
    Index("ix_ts_tasks_duration", "duration_ms", "task_id"),
    Index("ix_ts_tasks_owner_created", "owner", "created_ns"),
    Index("ix_ts_tasks_state_created", "state", "created_ns"),
)

# The summary document (JSON), kept apart so that index scans stay narrow.
summaries = Table(
    "ts_summaries",
    metadata,
    Column("task_id", String(128), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("document", LargeBinary, nullable=False),
)

# The append-only event log: clustered by (task, sequence) so a page is one range scan.
events = Table(
    "ts_events",
    metadata,
    Column("task_no", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(128), nullable=False),
    Column("type", String(128), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("node_id", String(256), nullable=False),
    Column("severity", SmallInteger, nullable=False),
    # The whole event as the servicer serves it (TraceEvent fields 1-9, protobuf-encoded).
    Column("wire", LargeBinary, nullable=False),
    Index("ux_ts_events_event_id", "task_no", "event_id", unique=True),
    sqlite_with_rowid=False,
)

# Statistics kept incrementally, one row per (day, tenant, owner, plan, mode, state).
stats = Table(
    "ts_stats",
    metadata,
    Column("day", Integer, primary_key=True, autoincrement=False),
    Column("tenant", String(256), primary_key=True),
    Column("owner", String(256), primary_key=True),
    Column("plan_id", String(256), primary_key=True),
    Column("mode", String(32), primary_key=True),
    Column("state", String(32), primary_key=True),
    Column("task_count", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("degraded", BigInteger, nullable=False),
    Column("paused", BigInteger, nullable=False),
    Column("ended", BigInteger, nullable=False),
    # Sparse duration histogram of ended tasks: JSON {bucket: count}.
    Column("duration_hist", Text, nullable=False),
)

blobs = Table(
    "ts_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(256), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
)

# Blob bytes when the database is the blob backend (shared by every replica).
blob_chunks = Table(
    "ts_blob_chunks",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

# Which tasks refer to which blobs: a blob is served only through a task that holds it.
task_blobs = Table(
    "ts_task_blobs",
    metadata,
    Column("task_id", String(128), primary_key=True),
    Column("sha256", String(64), primary_key=True),
)
