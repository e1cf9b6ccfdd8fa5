"""Runs `roster_sync` for one district through the shared instance, blocking, and reports it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from rostering_pipeline import config
from rostering_pipeline.defs.extract import check_request
from rostering_pipeline.defs.outcome_hooks import reason_outside_steps, record_failure_outside_steps
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_config import sync_run_config, sync_tags
from rostering_pipeline.defs.run_tags import PARTITION_TAG
from rostering_pipeline.defs.turns import runs_in_progress
from rostering_pipeline.districts import District, applied_after_hold, get_district
from rostering_pipeline.errors import BadInput
from rostering_pipeline.outcomes import exit_code_for

# The embedded instance: SQLite storage in the home itself (platform.storage), runs launched at
# once with their district's tags, the CLI's runs forked from the CLI (platform.launchers).
# Homes written by earlier versions hold only the coordinator, or only the telemetry lines.
_STORAGE = """\
storage:
  custom:
    module: rostering_pipeline.platform.storage
    class: EngineReusingSqliteStorage
    config:
      base_dir: {env: DAGSTER_HOME}
"""
_COORDINATOR = """\
run_coordinator:
  module: rostering_pipeline.platform.coordinators
  class: ImmediateDistrictRunCoordinator
"""
_LAUNCHER = """\
run_launcher:
  module: rostering_pipeline.platform.launchers
  class: LocalRunLauncher
"""
_TELEMETRY = "telemetry:\n  enabled: false\n"
EMBEDDED_SETTINGS = _STORAGE + _COORDINATOR + _LAUNCHER + _TELEMETRY
EARLIER_SETTINGS = (_TELEMETRY, _COORDINATOR + _TELEMETRY)
# The event log keeps every event for the UI; the terminal gets the CLI's own lines.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class SyncOutcome:
    run_id: str
    success: bool
    exit_code: int
    message: str  # the district's recorded error when the run failed
    materializations: dict[str, dict]  # asset path -> metadata values of this run

    @property
    def mode(self) -> str | None:
        """The mode the roster step applied in (a CSV package's manifest decides it)."""
        return self.materializations.get("app_db/roster", {}).get("mode")

    @property
    def changes(self) -> dict[str, dict[str, int]]:
        """The roster step's counts: entity -> action -> rows ({} when it did not apply)."""
        table = self.materializations.get("app_db/roster", {}).get("changes_by_entity")
        if table is None:
            return {}
        return {
            record.data["entity"]: {k: v for k, v in record.data.items() if k != "entity"}
            for record in table.records
        }


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
        if not settings.exists() or settings.read_text() in EARLIER_SETTINGS:
            settings.write_text(EMBEDDED_SETTINGS)
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # creates the run storage now, under the lock
    return instance


def prepare_sync(
    district_key: str, mode: str, package: str | None = None, approve_deactivations: int = 0
) -> tuple[District, dg.DagsterInstance, str]:
    """The district (a mode its status forbids, or a CSV package that cannot be read, is refused
    before anything is launched), the instance, which knows the district's partition, and the
    mode the run's tags name."""
    with AppDatabase().engine().connect() as conn:
        district = get_district(conn, district_key)
        later = applied_after_hold(conn, district.id) if package and approve_deactivations else None
    checked = check_request(district, mode, package)
    if later is not None:
        raise BadInput(
            f"nothing launched: run {later} applied a roster of '{district.key}' after its "
            "last held sync; approving a held file now would apply an older roster over it "
            "(import a newer file instead)"
        )
    dagster = instance()
    if not dagster.has_dynamic_partition("district", district.key):
        dagster.add_dynamic_partitions("district", [district.key])
    # A REST run is tagged with the mode asked for; a package's with its manifest's.
    return district, dagster, checked if district.source == "csv" else mode


def run_sync(
    district_key: str,
    *,
    mode: str = "full",
    approve_deactivations: int = 0,
    package: str | None = None,
    notify: Callable[[str], None] | None = None,
    timeout_s: float | None = None,
) -> SyncOutcome:
    """Launch the district's run through the instance, as the UI would, and wait for its end.

    `package`: a CSV district's package (an absolute path): the run loads it.
    `notify`: told, in one line each, when the run will wait (for another run of the district, or
    in the run queue). `timeout_s`: how long to wait; RunNotFinished after it (or at once when
    the run is queued and no daemon serves the queue).
    """
    # Dagster's workspace machinery is slow to import: only when a sync runs.
    from rostering_pipeline.platform.launch import code_location, submit_partition_run, wait_for_run

    district, dagster, tag_mode = prepare_sync(district_key, mode, package, approve_deactivations)
    if notify:
        for busy in runs_in_progress(dagster, district.key):
            notify(f"'{district.key}': run {busy.run_id} is in progress; this sync waits its turn")
    with code_location(dagster) as workspace:
        run = submit_partition_run(
            dagster,
            workspace,
            "roster_sync",
            district.key,
            {**sync_run_config(mode, approve_deactivations, package), **QUIET_CONSOLE},
            sync_tags(district, tag_mode),
        )
        run = wait_for_run(dagster, run.run_id, timeout_s, notify)
    return outcome_of(dagster, run)


def outcome_of(dagster: dg.DagsterInstance, run: dg.DagsterRun) -> SyncOutcome:
    """A finished run's outcome: its materializations, and the district's record of a failure."""
    events = dagster.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    materializations = {}
    for entry in events:
        materialization = entry.dagster_event.step_materialization_data.materialization
        materializations[materialization.asset_key.to_user_string()] = {
            key: value.value for key, value in materialization.metadata.items()
        }
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return SyncOutcome(run.run_id, True, 0, "", materializations)
    engine = AppDatabase().engine()
    reason = reason_outside_steps(dagster, run)
    if reason is not None:  # no step recorded it: recorded now, not when a sensor next ticks
        message = record_failure_outside_steps(engine, dagster, run, reason)
        return SyncOutcome(run.run_id, False, 1, message, materializations)
    with engine.connect() as conn:
        district = get_district(conn, run.tags[PARTITION_TAG])
    return SyncOutcome(
        run.run_id,
        False,
        exit_code_for(district.last_error_kind),
        district.last_error or "the run failed; see it in the Dagster UI",
        materializations,
    )


def sync_in_process(
    district_key: str,
    *,
    mode: str = "full",
    approve_deactivations: int = 0,
    package: str | None = None,
) -> SyncOutcome:
    """The district's roster_sync executed in this process, on the shared instance: the pipeline
    without the launch's processes (a code server, a run worker). For the benchmarks, which time
    each stage in the process that runs it, and the tests of the pipeline; the CLI launches."""
    from rostering_pipeline.definitions import defs

    district, dagster, tag_mode = prepare_sync(district_key, mode, package, approve_deactivations)
    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=dagster,
        partition_key=district.key,
        run_config={**sync_run_config(mode, approve_deactivations, package), **QUIET_CONSOLE},
        tags=sync_tags(district, tag_mode),
        raise_on_error=False,
    )
    run = dagster.get_run_by_id(result.run_id)
    assert run is not None
    return outcome_of(dagster, run)
