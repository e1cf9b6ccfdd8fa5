"""The production instance under test: the repo's dagster.yaml on fresh PostgreSQL databases."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rostering_pipeline_tests.platform.support import REPO


@pytest.fixture
def new_database(pg_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh databases beside the worker's (same server); drops them afterwards."""
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def create() -> str:
        name = f"rostering_platform_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def production_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME holding exactly the repo's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return home
