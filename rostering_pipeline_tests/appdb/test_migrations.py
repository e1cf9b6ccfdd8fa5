from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from rostering_pipeline.appdb import engine as appdb_engine
from rostering_pipeline.appdb.tables import metadata
from rostering_pipeline.errors import BadInput


def _diff(url: str) -> list:
    engine = appdb_engine.make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    return diff


def _table_names(url: str) -> set[str]:
    engine = appdb_engine.make_engine(url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_gives_exactly_the_tables_of_the_metadata(app_db_url):
    appdb_engine.upgrade(app_db_url)

    assert _table_names(app_db_url) == set(metadata.tables) | {"alembic_version"}
    assert _diff(app_db_url) == []


def test_upgrade_twice_is_a_no_op(app_db_url):
    appdb_engine.upgrade(app_db_url)
    engine = appdb_engine.make_engine(app_db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE canary (id INTEGER)"))
    engine.dispose()

    appdb_engine.upgrade(app_db_url)

    assert "canary" in _table_names(app_db_url)
    engine = appdb_engine.make_engine(app_db_url)
    assert appdb_engine.current_revision(engine) == appdb_engine.head_revision()
    engine.dispose()


def test_require_schema_names_the_command_when_missing(app_db_url):
    engine = appdb_engine.make_engine(app_db_url)
    with pytest.raises(BadInput, match=r"database not initialised; run `rostering-pipeline db"):
        appdb_engine.require_schema(engine)
    engine.dispose()

    appdb_engine.upgrade(app_db_url)
    appdb_engine.ready_engine(app_db_url).dispose()  # no error at head


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'folder' / 'app.db'}"  # folders made on demand
    appdb_engine.upgrade(url)
    engine = appdb_engine.make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(
                sa.text("INSERT INTO sync_requests (district_id, received_at) VALUES (42, '2024')")
            )
    engine.dispose()


def test_default_url_is_the_data_folder(data_dir):
    appdb_engine.upgrade()
    assert (data_dir / "app.db").is_file()


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgres+psycopg2://u@h/db"])
def test_postgresql_always_uses_psycopg3(url):
    engine = appdb_engine.make_engine(url)
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_a_malformed_url_never_echoes_the_password():
    with pytest.raises(BadInput) as caught:
        appdb_engine.make_engine("not a url :hunter2@")
    assert "hunter2" not in str(caught.value)


def test_an_unreachable_database_is_one_line_without_the_password():
    engine = appdb_engine.make_engine("postgresql://u:hunter2@127.0.0.1:1/db")
    with pytest.raises(Exception, match="cannot open the application database") as caught:
        appdb_engine.require_schema(engine)
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_built_wheel_ships_the_migrations(tmp_path):
    root = Path(appdb_engine.__file__).parents[2]
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the working tree
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    shutil.copytree(
        root / "rostering_pipeline",
        source / "rostering_pipeline",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )

    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "rostering_pipeline/appdb/migrations/env.py",
        "rostering_pipeline/appdb/migrations/script.py.mako",
        "rostering_pipeline/appdb/migrations/versions/0001_initial.py",
    } <= names
