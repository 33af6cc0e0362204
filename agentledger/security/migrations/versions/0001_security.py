"""Security tables: the hash-chained audit log, API tokens (hashes only), task shares.

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
        "sec_audit",
        # The record's position in the chain, 1, 2, 3, ... with no gap.
        sa.Column("seq", BIG, primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.String(40), nullable=False, unique=True),
        sa.Column("at_unix_nano", BIG, nullable=False),
        # Who: the authenticated subject ("" when anonymous), their role and tenant.
        sa.Column("actor", sa.String(256), nullable=False, server_default=""),
        sa.Column("role", sa.String(32), nullable=False, server_default=""),
        sa.Column("tenant", sa.String(256), nullable=False, server_default=""),
        # What: a permission-like action ("task.view", "task.export", "token.create", ...).
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False, server_default=""),
        sa.Column("object_id", sa.String(256), nullable=False, server_default=""),
        # The owner of the object when it is a task: Owners page through their tasks' records.
        sa.Column("object_owner", sa.String(256), nullable=False, server_default=""),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        # From where: client address, and which process recorded it (gateway, engine, ...).
        sa.Column("source", sa.String(256), nullable=False, server_default=""),
        sa.Column("recorded_by", sa.String(64), nullable=False, server_default=""),
        sa.Column("details_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_sec_audit_owner", "sec_audit", ["object_owner", "seq"])
    op.create_index("ix_sec_audit_actor", "sec_audit", ["actor", "seq"])
    op.create_index("ix_sec_audit_object", "sec_audit", ["object_id", "seq"])
    op.create_table(
        "sec_tokens",
        sa.Column("token_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(256), nullable=False, server_default=""),
        # sha256 of the secret part; the token itself is shown once and never stored.
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_unix_nano", BIG, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False, server_default=""),
        sa.Column("expires_unix_nano", BIG, nullable=True),
        sa.Column("revoked_unix_nano", BIG, nullable=True),
    )
    op.create_index("ix_sec_tokens_subject", "sec_tokens", ["subject"])
    op.create_table(
        "sec_shares",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(256), primary_key=True),
        sa.Column("granted_by", sa.String(256), nullable=False),
        sa.Column("created_unix_nano", BIG, nullable=False),
    )
    op.create_index("ix_sec_shares_subject", "sec_shares", ["subject"])


def downgrade() -> None:
    op.drop_table("sec_shares")
    op.drop_table("sec_tokens")
    op.drop_table("sec_audit")
