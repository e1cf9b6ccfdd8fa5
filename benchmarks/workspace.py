"""A fresh place to run in: a dedicated PostgreSQL database, a temporary data folder and Dagster
home, an encryption key; every child process inherits them through the environment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import sqlalchemy as sa

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.devserver import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from rostering_pipeline.districts import add_district
from rostering_pipeline.secrets import ENV_VAR, SecretBox, new_key_entry

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE = "rostering_bench"


class Workspace:
    """`with Workspace() as ws:`; the database is dropped and the folder removed afterwards."""

    def __init__(self) -> None:
        server = sa.make_url(os.environ.get("ROSTERING_TEST_DATABASE_URL", DEFAULT_SERVER))
        self.url = server.set(drivername="postgresql+psycopg", database=DATABASE)
        self._admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        self._folder = tempfile.TemporaryDirectory(prefix="rostering-bench-")
        self.engine: sa.Engine | None = None

    @property
    def url_text(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @property
    def libpq_url(self) -> str:
        """The same database for psycopg and dlt, which take a plain `postgresql://` URL."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def data_dir(self) -> Path:
        return Path(self._folder.name)

    def __enter__(self) -> Workspace:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
        os.environ.update(
            {
                "ROSTERING_DATA_DIR": str(self.data_dir),
                "ROSTERING_DATABASE_URL": self.url_text,
                "DAGSTER_HOME": str(self.data_dir / "dagster_home"),
                ENV_VAR: new_key_entry("bench"),
            }
        )
        os.environ.pop("ROSTERING_SNAPSHOT_URL", None)
        upgrade()
        self.engine = make_engine()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.engine is not None:
            self.engine.dispose()
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        self._admin.dispose()
        self._folder.cleanup()

    def register(self, key: str, base_url: str, token_url: str, version: str = "1.1") -> None:
        """The district with the defaults of `districts add` (pages of 1,000, 4 in flight)."""
        add_district(
            self.engine,
            key=key,
            name=f"Benchmark district {key}",
            base_url=base_url,
            auth_method="oauth2",
            client_id=DEMO_CLIENT_ID,
            token_url=token_url,
            client_secret=DEMO_CLIENT_SECRET,
            box=SecretBox.from_env(),
            oneroster_version=version,
        )

    def reset_schema(self, schema: str) -> None:
        """An empty schema for a baseline, so that every baseline starts from nothing."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")

    def register_csv(self, key: str) -> None:
        """A district that sends OneRoster CSV packages, with the defaults of `districts add`."""
        add_district(
            self.engine,
            key=key,
            name=f"Benchmark district {key}",
            source="csv",
            client_secret=None,
            box=SecretBox.from_env(),
        )
