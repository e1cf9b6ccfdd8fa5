"""Alembic environment: runs on the connection `rostering_pipeline.appdb.engine` hands over.

Online only; the Config is built in code (`engine.alembic_config`), so there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context

from rostering_pipeline.appdb.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
