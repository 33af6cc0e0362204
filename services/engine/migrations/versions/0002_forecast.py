"""The optimizer's cost forecast of a task, kept to reconcile with the actuals at its end.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("en_tasks") as batch:
        batch.add_column(sa.Column("forecast_json", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("en_tasks") as batch:
        batch.drop_column("forecast_json")
