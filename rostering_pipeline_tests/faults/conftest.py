"""Fixtures of the fault suite: an app DB environment (both kinds, or PostgreSQL) and a provider."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.devserver import ProviderServer
from rostering_pipeline_tests.faults.support import serve


def _environment(monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str) -> sa.Engine:
    monkeypatch.setenv("ROSTERING_DATABASE_URL", url)
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", "k1:" + base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    upgrade(url)
    return make_engine(url)


@pytest.fixture
def env(data_dir, app_db_url, monkeypatch) -> Iterator[sa.Engine]:
    """An upgraded app DB on SQLite and on PostgreSQL, a secret key, a Dagster home."""
    engine = _environment(monkeypatch, data_dir, app_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_env(data_dir, empty_pg_url, monkeypatch) -> Iterator[sa.Engine]:
    """The same on PostgreSQL only: for faults that do not depend on the app DB's kind."""
    engine = _environment(monkeypatch, data_dir, empty_pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_env(data_dir, monkeypatch) -> Iterator[sa.Engine]:
    """The same on the embedded SQLite default: for what depends on SQLite's locking."""
    engine = _environment(monkeypatch, data_dir, f"sqlite:///{data_dir / 'app.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def provider() -> Iterator[ProviderServer]:
    with serve() as server:
        yield server
