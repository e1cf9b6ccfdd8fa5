"""`db upgrade`: create or migrate the application database."""

from __future__ import annotations

import click

from rostering_pipeline import config
from rostering_pipeline.appdb import engine as appdb_engine
from rostering_pipeline.secrets import SecretBox, SecretKeyError


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
    _sweep_snapshots()


def _sweep_snapshots() -> None:
    """Snapshots written before encryption are encrypted now (or, with no key to encrypt them
    under, deleted), and every district's retention applied."""
    from rostering_pipeline import retention  # pyarrow and pandas: only for this command
    from rostering_pipeline.snapshots import SnapshotStore

    try:
        box: SecretBox | None = SecretBox.from_env()
    except SecretKeyError:
        box = None
    engine = appdb_engine.make_engine()
    try:
        reports, _ = retention.sweep(engine, SnapshotStore(config.snapshot_url()), box)
    finally:
        engine.dispose()
    for report in reports:
        if report.encrypted or report.plaintext_deleted or report.expired:
            click.echo(f"snapshots of {report.describe()}")
