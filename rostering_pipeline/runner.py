"""Runs `roster_sync` for one district in-process, blocking, against the shared instance."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from rostering_pipeline import config
from rostering_pipeline.defs.extract import effective_mode
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_config import sync_run_config, sync_tags
from rostering_pipeline.defs.turns import in_process_tags, runs_in_progress
from rostering_pipeline.districts import get_district
from rostering_pipeline.outcomes import exit_code_for


@dataclass(frozen=True)
class SyncOutcome:
    run_id: str
    success: bool
    exit_code: int
    message: str  # the district's recorded error when the run failed
    materializations: dict[str, dict]  # asset path -> metadata values of this run


def instance() -> dg.DagsterInstance:
    """`DAGSTER_HOME`, or `<data>/dagster_home` so that CLI, demo and `make ui` share one home."""
    home = config.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))
    # Two processes creating a fresh SQLite home at once can leave its migrations forked for
    # good: the first one creates the storage while the others wait.
    with (home / ".create.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        settings = home / "dagster.yaml"
        if not settings.exists():  # the embedded default: SQLite storage in the home itself
            settings.write_text("telemetry:\n  enabled: false\n")
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # creates the run storage now, under the lock
    return instance


def run_sync(
    district_key: str,
    *,
    mode: str = "full",
    approve_deactivations: int = 0,
    notify: Callable[[str], None] | None = None,
) -> SyncOutcome:
    """`notify`: told, in one line, when the run will wait for another run of the district."""
    from rostering_pipeline.definitions import defs  # loading definitions is slow: only when run

    engine = AppDatabase().engine()  # the engine the run's steps use too (one pool per URL)
    with engine.connect() as conn:
        district = get_district(conn, district_key)
    effective_mode(district, mode)  # refuse before launching anything
    dagster = instance()
    if not dagster.has_dynamic_partition("district", district.key):
        dagster.add_dynamic_partitions("district", [district.key])
    if notify:
        for busy in runs_in_progress(dagster, district.key):
            notify(f"'{district.key}': run {busy.run_id} is in progress; this sync waits its turn")
    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=dagster,
        partition_key=district.key,
        run_config={
            **sync_run_config(mode, approve_deactivations),
            # The event log keeps every event for the UI; the terminal gets one line (the CLI's).
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        },
        tags={**sync_tags(district, mode), **in_process_tags()},
        raise_on_error=False,
    )
    materializations = {
        event.asset_key.to_user_string(): {
            key: value.value
            for key, value in event.step_materialization_data.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }
    if result.success:
        return SyncOutcome(result.run_id, True, 0, "", materializations)
    with engine.connect() as conn:
        district = get_district(conn, district_key)
    return SyncOutcome(
        result.run_id,
        False,
        exit_code_for(district.last_error_kind),
        district.last_error or "the run failed; see it in the Dagster UI",
        materializations,
    )
