"""Helpers for end-to-end tests: a registered district against the local provider."""

from __future__ import annotations

import sqlalchemy as sa

from rostering_pipeline.defs.run_config import sync_run_config, sync_tags
from rostering_pipeline.devserver import ProviderServer
from rostering_pipeline.districts import add_district
from rostering_pipeline.runner import SyncOutcome, outcome_of, prepare_sync
from rostering_pipeline.secrets import SecretBox

CLIENT_ID = "e2e"
SECRET = "s3cr3t-for-the-e2e-test"


def register(engine: sa.Engine, server: ProviderServer, key: str = "d1", **settings) -> None:
    with engine.begin() as conn:
        add_district(
            conn,
            key=key,
            name=f"District {key}",
            base_url=server.base_url,
            auth_method="oauth2",
            client_id=CLIENT_ID,
            token_url=server.token_url,
            client_secret=SECRET,
            box=SecretBox.from_env(),
            **settings,
        )


def active(engine: sa.Engine, table: sa.Table, **where) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.active)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def sync_in_process(
    district_key: str, *, mode: str = "full", approve_deactivations: int = 0
) -> SyncOutcome:
    """The district's roster_sync executed in the test's own process, on the shared instance:
    the pipeline's behaviour without the launch's processes (a code server, a run worker), which
    the CLI's tests (`sync`, `backfill`) exercise."""
    from rostering_pipeline.definitions import defs

    district, dagster = prepare_sync(district_key, mode)
    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=dagster,
        partition_key=district.key,
        run_config={
            **sync_run_config(mode, approve_deactivations),
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        },
        tags=sync_tags(district, mode),
        raise_on_error=False,
    )
    run = dagster.get_run_by_id(result.run_id)
    assert run is not None
    return outcome_of(dagster, run)
