"""Alembic environment of the Engine: runs on the connection that core.db.migrate passes."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=context.config.get_main_option("version_table") or "alembic_version_engine",
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
