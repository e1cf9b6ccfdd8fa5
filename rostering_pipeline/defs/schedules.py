"""The dispatcher: one schedule that starts the roster_sync run of every due district.

It looks every 5 minutes (`ROSTERING_DISPATCH_MINUTES`, read where the code location loads); a
district's run starts at the first look after its schedule fires.
"""

# No `from __future__ import annotations` here: Dagster reads the schedule's annotations.
import os
import zoneinfo
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import dagster as dg

from rostering_pipeline import dispatch
from rostering_pipeline.defs.code_references import here
from rostering_pipeline.defs.jobs import roster_sync
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_config import MODE_TAG, sync_run_config, sync_tags
from rostering_pipeline.defs.run_tags import PARTITION_TAG, requested_mode
from rostering_pipeline.districts import list_districts

MINUTES_ENV = "ROSTERING_DISPATCH_MINUTES"
DEFAULT_MINUTES = 5
# Runs submitted that have not begun to pull: waiting in the queue, or their worker starting. A
# run only created (NOT_STARTED) is not one: the daemon submits it only if the tick that made it
# asks for it again (it died in between), so that request must not be withheld.
WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING]


def minutes_from_env() -> int:
    """How often the dispatcher looks: a whole number of minutes that divides the hour."""
    value = os.environ.get(MINUTES_ENV, "")
    if not value:
        return DEFAULT_MINUTES
    if not value.isdigit() or not 1 <= int(value) < 60 or 60 % int(value):
        raise ValueError(
            f"{MINUTES_ENV} must divide the hour: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30"
        )
    return int(value)


def build_dispatcher(minutes: int) -> dg.ScheduleDefinition:
    """The dispatcher looking every `minutes`; each tick covers the districts' fire times since
    the one before: (tick - minutes, tick]."""

    @dg.schedule(
        name="district_dispatcher",
        metadata=here(),
        cron_schedule=f"*/{minutes} * * * *",
        execution_timezone="UTC",
        job=roster_sync,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"Every {minutes} minutes: one run per district whose schedule (full, or delta) fired "
            "since the last tick, in the district's time zone. Paused, purged, blacked-out and "
            "credentials-rejected districts get none, nor does a district whose earlier run is "
            "still queued; preview districts get preview runs."
        ),
    )
    def district_dispatcher(
        context: dg.ScheduleEvaluationContext, app_db: AppDatabase
    ) -> list[dg.RunRequest] | dg.SkipReason:
        return _dispatch(context, app_db, minutes)

    return district_dispatcher


def _dispatch(
    context: dg.ScheduleEvaluationContext, app_db: AppDatabase, minutes: int
) -> list[dg.RunRequest] | dg.SkipReason:
    end = context.scheduled_execution_time or datetime.now(UTC)
    interval = timedelta(minutes=minutes)
    registry = {d.key: d for d in list_districts(app_db.engine())}
    due, skipped = dispatch.due_syncs(registry.values(), end - interval, end)
    if due:
        # A district whose run still waits in the queue (the runs ahead of it are slow) gets no
        # second one: that run pulls after this fire time anyway.
        skipped |= _served_by_waiting_runs(context.instance, due)
        due = [sync for sync in due if sync.district_key not in skipped]
    # The tick's log in the UI (Automation, district_dispatcher): who was launched, who was
    # skipped and why, and how many were not due.
    for sync in due:
        zone = registry[sync.district_key].timezone
        local = sync.due_at.astimezone(zoneinfo.ZoneInfo(zone))
        context.log.info(
            f"{sync.district_key}: {sync.mode} run launched (due {local:%H:%M} {zone})"
        )
    for key, reason in sorted(skipped.items()):
        context.log.info(f"{key}: due but skipped ({reason})")
    summary = (
        f"{len(due)} launched, {len(skipped)} skipped, "
        f"{len(registry) - len(due) - len(skipped)} not due in the "
        f"{minutes} minutes before {end:%H:%M} UTC"
    )
    context.log.info(summary)
    if not due:
        skips = "; ".join(f"{key}: {reason}" for key, reason in sorted(skipped.items()))
        return dg.SkipReason(f"{summary}{f' ({skips})' if skips else ''}")
    # A district added since the partition sensor's last tick still runs when due.
    partitions = context.instance
    missing = [
        s.district_key
        for s in due
        if not partitions.has_dynamic_partition(district_partitions.name, s.district_key)
    ]
    if missing:
        partitions.add_dynamic_partitions(district_partitions.name, missing)
    return [
        dg.RunRequest(
            run_key=sync.run_key,
            partition_key=sync.district_key,
            run_config=sync_run_config(sync.mode),
            tags=sync_tags(registry[sync.district_key], sync.mode),
        )
        for sync in due
    ]


def _served_by_waiting_runs(
    instance: dg.DagsterInstance, due: list[dispatch.DueSync]
) -> dict[str, str]:
    """Due districts with a run queued that will pull for them when it starts (key -> why)."""
    waiting: dict[str, dict[str, str]] = defaultdict(dict)
    runs = instance.get_runs(dg.RunsFilter(job_name=roster_sync.name, statuses=WAITING))
    for run in reversed(runs):  # oldest first: the run that will start first is named
        mode = run.tags.get(MODE_TAG) or requested_mode(run.run_config)
        waiting[run.tags.get(PARTITION_TAG, "")].setdefault(mode, run.run_id)
    served = {}
    for sync in due:
        mode = dispatch.serving_mode(sync, waiting[sync.district_key])
        if mode is not None:
            run_id = waiting[sync.district_key][mode]
            served[sync.district_key] = (
                f"its {mode} run {run_id[:8]} is still queued: it pulls the roster when it starts"
            )
    return served


district_dispatcher = build_dispatcher(minutes_from_env())
