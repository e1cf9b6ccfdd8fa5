"""Shared fixtures: a data folder per test and, when reachable, a PostgreSQL database per worker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An isolated ROSTERING_DATA_DIR (and everything that defaults under it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("ROSTERING_DATA_DIR", str(folder))
    for var in ("ROSTERING_DATABASE_URL", "ROSTERING_SNAPSHOT_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(var, raising=False)
    return folder


def _server_url() -> sa.URL:
    return sa.make_url(os.environ.get("ROSTERING_TEST_DATABASE_URL", DEFAULT_PG_URL))


@pytest.fixture(scope="session")
def pg_url(worker_id: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this worker; skips without a server (fails if CI=true)."""
    server = _server_url()
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        reason = (
            f"PostgreSQL not reachable at {server.render_as_string(hide_password=True)}: {exc.orig}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # The pid keeps apart the workers of concurrent pytest sessions on one server.
    name = f"rostering_test_{worker_id}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_pg_url(pg_url: str) -> str:
    """The worker's PostgreSQL database with an empty `public` schema (no tables, no Alembic)."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def app_db_url(request, tmp_path) -> str:
    """An empty application database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("empty_pg_url")
