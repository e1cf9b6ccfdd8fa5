"""Sensors: the district partitions kept equal to the registry, and failed runs on the record."""

# No `from __future__ import annotations` here: Dagster reads the sensors' annotations.
from datetime import UTC, datetime

import dagster as dg

from rostering_pipeline.alerts import Alert, raise_alert
from rostering_pipeline.defs.jobs import roster_sync
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.districts import get_district, list_districts, record_outcome
from rostering_pipeline.errors import BadInput


@dg.sensor(
    name="district_partitions",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `district` partition per registered district; removes purged ones.",
)
def district_partitions_sensor(
    context: dg.SensorEvaluationContext, app_db: AppDatabase
) -> dg.SensorResult:
    registry = {d.key for d in list_districts(app_db.engine()) if d.status != "purged"}
    current = set(context.instance.get_dynamic_partitions(district_partitions.name))
    requests: list = []
    if added := sorted(registry - current):
        requests.append(district_partitions.build_add_request(added))
    if removed := sorted(current - registry):
        requests.append(district_partitions.build_delete_request(removed))
    return dg.SensorResult(dynamic_partitions_requests=requests)


@dg.run_failure_sensor(
    name="record_failed_runs",
    monitored_jobs=[roster_sync],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records on the district a roster_sync run that failed outside its steps (killed, "
        "failed to start); step failures are already recorded by the job's hook."
    ),
)
def record_failed_runs(context: dg.RunFailureSensorContext, app_db: AppDatabase) -> None:
    run = context.dagster_run
    district_key = run.tags.get("dagster/partition")
    if not district_key or context.get_step_failure_events():
        return
    failure = context.failure_event.job_failure_data
    reason = failure.failure_reason.value.lower() if failure and failure.failure_reason else None
    message = (
        f"run {run.run_id} failed outside its steps ({reason or 'unknown reason'}); "
        "see it in the Dagster UI"
    )
    engine = app_db.engine()
    try:
        district = get_district(engine, district_key)
    except BadInput:  # removed since the run started: nothing to record it on
        return
    record_outcome(
        engine,
        district.key,
        succeeded=False,
        error=message,
        error_kind="unexpected",
        at=datetime.now(UTC),
    )
    raise_alert(engine, Alert(district.key, "failed", message, run.run_id))
