"""TraceStore tables: task index, summaries, event log, statistics, blobs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ts_tasks",
        sa.Column(
            "task_no",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("task_id", sa.String(128), nullable=False, unique=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=False, server_default=""),
        sa.Column("mode", sa.String(32), nullable=False, server_default=""),
        sa.Column("plan_id", sa.String(256), nullable=False, server_default=""),
        sa.Column("plan_version", sa.String(64), nullable=False, server_default=""),
        sa.Column("state", sa.String(32), nullable=False, server_default=""),
        sa.Column("goal_status", sa.String(32), nullable=False, server_default=""),
        sa.Column("failure_type", sa.String(32), nullable=False, server_default=""),
        sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("updated_ns", sa.BigInteger, nullable=False),
        sa.Column("ended_ns", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("duration_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("degrade_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pause_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_ts_tasks_created", "ts_tasks", ["created_ns", "task_id"])
    op.create_index("ix_ts_tasks_updated", "ts_tasks", ["updated_ns", "task_id"])
    op.create_index("ix_ts_tasks_cost", "ts_tasks", ["cost_usd", "task_id"])
    op.create_index("ix_ts_tasks_duration", "ts_tasks", ["duration_ms", "task_id"])
    op.create_index("ix_ts_tasks_owner_created", "ts_tasks", ["owner", "created_ns"])
    op.create_index("ix_ts_tasks_state_created", "ts_tasks", ["state", "created_ns"])
    op.create_table(
        "ts_summaries",
        sa.Column("task_id", sa.String(128), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ts_events",
        sa.Column("task_no", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("node_id", sa.String(256), nullable=False),
        sa.Column("severity", sa.SmallInteger, nullable=False),
        # The whole event as the servicer serves it (TraceEvent fields 1-9, protobuf-encoded).
        sa.Column("wire", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ux_ts_events_event_id", "ts_events", ["task_no", "event_id"], unique=True)
    op.create_table(
        "ts_stats",
        sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tenant", sa.String(256), primary_key=True),
        sa.Column("owner", sa.String(256), primary_key=True),
        sa.Column("plan_id", sa.String(256), primary_key=True),
        sa.Column("mode", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(32), primary_key=True),
        sa.Column("task_count", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("degraded", sa.BigInteger, nullable=False),
        sa.Column("paused", sa.BigInteger, nullable=False),
        sa.Column("ended", sa.BigInteger, nullable=False),
        sa.Column("duration_hist", sa.Text, nullable=False),
    )
    op.create_table(
        "ts_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(256), nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ts_blob_chunks",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ts_task_blobs",
        sa.Column("task_id", sa.String(128), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    for table in (
        "ts_task_blobs",
        "ts_blob_chunks",
        "ts_blobs",
        "ts_stats",
        "ts_events",
        "ts_summaries",
        "ts_tasks",
    ):
        op.drop_table(table)
