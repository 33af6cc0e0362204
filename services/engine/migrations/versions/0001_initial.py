"""Engine tables: tasks (also the durable queue), transitions, node checkpoints, the event
outbox and plan snapshots.

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
        "en_tasks",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=False, server_default=""),
        sa.Column("goal", sa.Text(), nullable=False, server_default=""),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("inputs_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("budget_tokens", BIG, nullable=True),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("budget_seconds", sa.Float(), nullable=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("plan_rule", sa.String(128), nullable=False),
        sa.Column("plan_evidence_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("state", sa.String(16), nullable=False),
        # Transitions so far: the next transition row gets state_seq + 1.
        sa.Column("state_seq", sa.Integer(), nullable=False, server_default="0"),
        # A request (pause | cancel) that the lease holder carries out at its next step.
        sa.Column("control", sa.String(16), nullable=False, server_default=""),
        sa.Column("control_actor", sa.String(256), nullable=False, server_default=""),
        sa.Column("control_reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("lease_owner", sa.String(128), nullable=False, server_default=""),
        # Fencing token: every write of a worker names the epoch its claim got.
        sa.Column("lease_epoch", BIG, nullable=False, server_default="0"),
        sa.Column("lease_expires_ns", BIG, nullable=False, server_default="0"),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("available_ns", BIG, nullable=False, server_default="0"),
        sa.Column("created_ns", BIG, nullable=False),
        sa.Column("updated_ns", BIG, nullable=False),
        sa.Column("started_ns", BIG, nullable=False, server_default="0"),
        sa.Column("ended_ns", BIG, nullable=False, server_default="0"),
        sa.Column("run_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("tokens_in", BIG, nullable=False, server_default="0"),
        sa.Column("tokens_out", BIG, nullable=False, server_default="0"),
        sa.Column("usd", sa.Float(), nullable=False, server_default="0"),
        sa.Column("tool_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("degrade_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pause_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failure_type", sa.String(32), nullable=False, server_default=""),
        sa.Column("failure_message", sa.Text(), nullable=False, server_default=""),
        sa.Column("result_json", sa.Text(), nullable=False, server_default="{}"),
        # What the task waits for in WAITING_INPUT: {node_id, question, fields, evidence}.
        sa.Column("pending_json", sa.Text(), nullable=False, server_default=""),
        # Input supplied through ResumeTask, per node: {node_id: {field: value}}.
        sa.Column("human_input_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("outbox_seq", BIG, nullable=False, server_default="0"),
    )
    # The queue's claim scan: runnable tasks in priority, then arrival order.
    op.create_index("en_tasks_queue", "en_tasks", ["state", "priority", "available_ns"])
    op.create_index("en_tasks_owner", "en_tasks", ["owner", "created_ns"])
    op.create_table(
        "en_transitions",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("epoch", BIG, nullable=False),
        sa.Column("at_ns", BIG, nullable=False),
    )
    op.create_table(
        "en_nodes",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("node_id", sa.String(128), primary_key=True),
        # completed | failed | waiting
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("variant", sa.String(128), nullable=False),
        sa.Column("tried_variants", sa.Text(), nullable=False, server_default=""),
        sa.Column("output_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("claims_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("failure_json", sa.Text(), nullable=False, server_default=""),
        sa.Column("tokens_in", BIG, nullable=False, server_default="0"),
        sa.Column("tokens_out", BIG, nullable=False, server_default="0"),
        sa.Column("usd", sa.Float(), nullable=False, server_default="0"),
        sa.Column("tool_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("started_ns", BIG, nullable=False),
        sa.Column("ended_ns", BIG, nullable=False),
        sa.Column("epoch", BIG, nullable=False),
        sa.Column("artifacts_json", sa.Text(), nullable=False, server_default="[]"),
    )
    op.create_table(
        "en_outbox",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("oseq", BIG, primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "en_plans",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_ns", BIG, nullable=False),
    )


def downgrade() -> None:
    for table in ("en_plans", "en_outbox", "en_nodes", "en_transitions", "en_tasks"):
        op.drop_table(table)
