"""Product tables: run templates, each task's metering record, quota settings, exports made.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIG = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "pd_templates",
        sa.Column("template_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=False, server_default=""),
        sa.Column("source_task_id", sa.String(64), nullable=False, server_default=""),
        # Redacted, like everything the trace holds.
        sa.Column("goal", sa.Text(), nullable=False, server_default=""),
        sa.Column("plan_id", sa.String(128), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        # "" when the plan is in the engine's catalog.
        sa.Column("plan_yaml", sa.Text(), nullable=False, server_default=""),
        sa.Column("default_mode", sa.String(16), nullable=False),
        sa.Column("budget_tokens", BIG, nullable=True),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("budget_seconds", sa.Float(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        # [TemplateField as an object, ...]: names and types, never values.
        sa.Column("input_fields_json", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("degrade_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_ns", BIG, nullable=False),
    )
    # Listing, newest first, by keyset: one owner's templates, or everyone's.
    op.create_index("ix_pd_templates_owner", "pd_templates", ["owner", "created_ns", "template_id"])
    op.create_index("ix_pd_templates_created", "pd_templates", ["created_ns", "template_id"])
    op.create_table(
        "pd_metering",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=False, server_default=""),
        # The UTC day the task was created, YYYY-MM-DD: the day its usage counts against.
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        # Replaced from the task's trace summary on each refresh.
        sa.Column("tokens_in", BIG, nullable=False, server_default="0"),
        sa.Column("tokens_out", BIG, nullable=False, server_default="0"),
        sa.Column("usd", sa.Float(), nullable=False, server_default="0"),
        sa.Column("tool_ms", BIG, nullable=False, server_default="0"),
        sa.Column("events", BIG, nullable=False, server_default="0"),
        sa.Column("blob_bytes", BIG, nullable=False, server_default="0"),
        # Counted by the product service itself: only ever incremented, never replaced.
        sa.Column("exports", BIG, nullable=False, server_default="0"),
        sa.Column("compares", BIG, nullable=False, server_default="0"),
        sa.Column("updated_ns", BIG, nullable=False, server_default="0"),
        # Set once the task has ended: the events whose usage makes up the cost.
        sa.Column("cost_seqs_json", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("ended", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # Daily usage per owner or tenant (quotas), and an owner's days (billing).
    op.create_index("ix_pd_metering_owner_day", "pd_metering", ["owner", "day", "task_id"])
    op.create_index("ix_pd_metering_tenant_day", "pd_metering", ["tenant", "day"])
    op.create_table(
        "pd_quotas",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(256), primary_key=True),
        sa.Column("quota", sa.String(32), primary_key=True),
        # 0: unlimited. ("limit" is a reserved word in SQL.)
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("set_by", sa.String(256), nullable=False, server_default=""),
        sa.Column("set_ns", BIG, nullable=False, server_default="0"),
    )
    op.create_table(
        "pd_exports",
        sa.Column(
            "export_no",
            # INTEGER PRIMARY KEY is SQLite's auto-numbered rowid; BIGINT would not be.
            BIG.with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("task_id", sa.String(64), nullable=False),
        # Who exported (the caller): the subject of the daily_exports quota.
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=False, server_default=""),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("at_ns", BIG, nullable=False),
        sa.Column("size", BIG, nullable=False),
        sa.Column("extra_json", sa.Text(), nullable=False, server_default="{}"),
    )
    # Exports per owner or tenant and day (the daily_exports quota).
    op.create_index("ix_pd_exports_owner_day", "pd_exports", ["owner", "day"])
    op.create_index("ix_pd_exports_tenant_day", "pd_exports", ["tenant", "day"])


def downgrade() -> None:
    op.drop_table("pd_exports")
    op.drop_table("pd_quotas")
    op.drop_table("pd_metering")
    op.drop_table("pd_templates")
