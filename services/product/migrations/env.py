"""Alembic environment of the product tables: runs on the connection core.db.migrate passes."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=context.config.get_main_option("version_table") or "alembic_version_product",
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
