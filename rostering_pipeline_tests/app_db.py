"""Fresh application databases for tests: a migrated SQLite file, or the worker's PostgreSQL
database emptied and migrated (PostgreSQL schema is rebuilt only when it is not at head)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from rostering_pipeline.appdb import engine as appdb_engine
from rostering_pipeline.appdb.tables import metadata


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'app.db'}"


def drop_everything(url: str) -> None:
    """An empty database: on PostgreSQL the public schema is recreated."""
    engine = appdb_engine.make_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            conn.execute(sa.text("PRAGMA foreign_keys=OFF"))
            for name in sa.inspect(conn).get_table_names():
                conn.execute(sa.text(f'DROP TABLE "{name}"'))
    engine.dispose()


def fresh_app_db(url: str) -> str:
    """`url` migrated to head with every table empty; returns `url`."""
    engine = appdb_engine.make_engine(url)
    try:
        at_head = appdb_engine.current_revision(engine) == appdb_engine.head_revision()
        tables_present = set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if not (at_head and tables_present):
        drop_everything(url)
        appdb_engine.upgrade(url)
        return url
    engine = appdb_engine.make_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    engine.dispose()
    return url
