"""`db upgrade`: create or migrate the application database."""

from __future__ import annotations

import click

from rostering_pipeline.appdb import engine as appdb_engine


@click.group()
def db() -> None:
    """The application database (ROSTERING_DATABASE_URL, default SQLite in the data folder)."""


@db.command()
def upgrade() -> None:
    """Create the tables, or migrate them to this version's schema (safe to repeat)."""
    appdb_engine.upgrade()
    engine = appdb_engine.make_engine()
    try:
        where = engine.url.render_as_string(hide_password=True)
        revision = appdb_engine.current_revision(engine)
    finally:
        engine.dispose()
    click.echo(f"application database {where} is at revision {revision}")
