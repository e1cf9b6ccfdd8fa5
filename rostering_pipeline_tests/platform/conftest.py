"""The production instance under test: the repo's dagster.yaml on fresh PostgreSQL databases."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import sqlalchemy as sa
from moto.server import ThreadedMotoServer

from rostering_pipeline_tests.platform.support import REPO, free_port

BUCKET = "rostering-snapshots"
SECRET_KEY = "s3-secret-key-in-the-url"


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


@pytest.fixture
def object_store(monkeypatch) -> Iterator[pafs.S3FileSystem]:
    """An empty bucket on a local S3 server; ROSTERING_SNAPSHOT_URL points into it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    keys, where = f"test-key:{SECRET_KEY}@", f"endpoint_override=127.0.0.1:{port}&scheme=http"
    where += "&region=us-east-1"
    store, _ = pafs.FileSystem.from_uri(f"s3://{keys}{BUCKET}?{where}&allow_bucket_creation=true")
    store.create_dir(BUCKET)
    monkeypatch.setenv("ROSTERING_SNAPSHOT_URL", f"s3://{keys}{BUCKET}/rostering?{where}")
    try:
        yield store
    finally:
        server.stop()
