"""Sensors: the district partitions kept equal to the registry, and failed runs on the record."""

# No `from __future__ import annotations` here: Dagster reads the sensors' annotations.
import dagster as dg

from rostering_pipeline.defs.code_references import here
from rostering_pipeline.defs.freshness import fresh_check
from rostering_pipeline.defs.outcome_hooks import (
    reason_outside_steps,
    record_failure_outside_steps,
)
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_tags import PARTITION_TAG
from rostering_pipeline.districts import list_districts


@dg.sensor(
    name="district_partitions",
    metadata=here(),
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
    metadata=here(),
    # No monitored_jobs: every job of the code location (roster_sync, the asset page's).
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records on the district a run of its assets that failed outside its steps (killed, "
        "failed to start), whichever job ran it; step failures are recorded by the assets' hooks."
    ),
)
def record_failed_runs(context: dg.RunFailureSensorContext, app_db: AppDatabase) -> None:
    run = context.dagster_run
    if run.job_name == fresh_check.name or not run.tags.get(PARTITION_TAG):
        return  # a freshness check is no sync of the district
    reason = reason_outside_steps(context.instance, run)
    if reason is not None:
        record_failure_outside_steps(app_db.engine(), context.instance, context.dagster_run, reason)
