"""The daily snapshot sweep: every district's snapshots held to its retention (the runs also
enforce it as they write), plaintext snapshots from before encryption encrypted, and what a
purge left behind removed. Its run's log says what it did, district by district."""

# No `from __future__ import annotations` here: Dagster reads the op's annotations.
import dagster as dg

from rostering_pipeline import retention
from rostering_pipeline.defs.code_references import here
from rostering_pipeline.defs.resources import AppDatabase, SnapshotStorage
from rostering_pipeline.secrets import SecretBox


@dg.op(name="sweep_snapshots")
def sweep_snapshots(
    context: dg.OpExecutionContext, app_db: AppDatabase, snapshots: SnapshotStorage
) -> None:
    reports, strangers = retention.sweep(app_db.engine(), snapshots.store(), SecretBox.from_env())
    for report in reports:
        context.log.info(report.describe())
    for key in strangers:
        context.log.warning(
            f"{key}: a snapshot folder of no registered district, left as it is (another "
            "deployment's? no key here opens it)"
        )
    context.log.info(
        f"{len(reports)} district(s) swept; "
        f"{sum(len(r.expired) for r in reports)} run(s) of snapshots past retention deleted"
    )


@dg.job(
    name="snapshot_sweep",
    metadata=here(),
    description=(
        "Holds every district's snapshots to its retention (last N runs, at most D days), "
        "encrypts plaintext snapshots written before encryption, removes purged leftovers."
    ),
)
def snapshot_sweep() -> None:
    sweep_snapshots()


snapshot_sweep_daily = dg.ScheduleDefinition(
    name="snapshot_sweep_daily",
    metadata=here(),
    job=snapshot_sweep,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The snapshot sweep, daily at 03:30 UTC.",
)
