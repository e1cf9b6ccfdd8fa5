"""The dispatcher: one schedule that starts the roster_sync run of every due district.

It looks every 5 minutes (`ROSTERING_DISPATCH_MINUTES`, read where the code location loads); a
district's run starts at the first look after its schedule fires. A tick asks for at most 100
runs (`ROSTERING_DISPATCH_MAX_RUNS`): the daemon creates and queues a tick's runs inside the
tick, so a fleet due at one instant is spread over the next ticks, oldest due first.
"""

# No `from __future__ import annotations` here: Dagster reads the schedule's annotations.
import math
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
MAX_RUNS_ENV = "ROSTERING_DISPATCH_MAX_RUNS"
# About 4 s of run creation in the daemon on 2 cores (200 runs took 8.1 s in one tick).
DEFAULT_MAX_RUNS = 100
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


def max_runs_from_env() -> int:
    """How many runs one tick asks for at most: a whole number, at least 1."""
    value = os.environ.get(MAX_RUNS_ENV, "")
    if not value:
        return DEFAULT_MAX_RUNS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{MAX_RUNS_ENV} must be a whole number of runs, at least 1")
    return int(value)


def build_dispatcher(minutes: int, max_runs: int = DEFAULT_MAX_RUNS) -> dg.ScheduleDefinition:
    """The dispatcher looking every `minutes`, asking for at most `max_runs` runs a tick; each
    tick covers the districts' fire times since the one before, (tick - minutes, tick], and
    those of earlier ticks that no run has served yet (carried over by the cap)."""

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
            "still queued or began after the fire time; preview districts get preview runs. At "
            f"most {max_runs} runs a tick: the rest are launched by the next ticks."
        ),
    )
    def district_dispatcher(
        context: dg.ScheduleEvaluationContext, app_db: AppDatabase
    ) -> list[dg.RunRequest] | dg.SkipReason:
        return _dispatch(context, app_db, minutes, max_runs)

    return district_dispatcher


def _dispatch(
    context: dg.ScheduleEvaluationContext, app_db: AppDatabase, minutes: int, max_runs: int
) -> list[dg.RunRequest] | dg.SkipReason:
    end = context.scheduled_execution_time or datetime.now(UTC)
    interval = timedelta(minutes=minutes)
    registry = {d.key: d for d in list_districts(app_db.engine())}
    # Far enough back for the ticks to launch every district even if all were due at once;
    # a fire time an earlier tick launched is served by its run, so none is launched twice.
    start = end - interval * (math.ceil(len(registry) / max_runs) + 1)
    due, skipped = dispatch.due_syncs(registry.values(), start, end, reported_after=end - interval)
    if due:
        # A district whose run began after the fire time, or still waits in the queue (the runs
        # ahead of it are slow), gets no second one: that run pulls after the fire time.
        served = _served_by_runs(context.instance, due, since=start)
        # One run a district: its full sync before a later delta, which the full run serves.
        first: dict[str, dispatch.DueSync] = {}
        for sync in due:
            if sync not in served:
                first.setdefault(sync.district_key, sync)
        skipped |= {
            sync.district_key: why
            for sync, why in served.items()
            if sync.due_at > end - interval and sync.district_key not in first
        }
        due = list(first.values())
    due.sort(key=lambda sync: (sync.due_at, sync.district_key))
    due, carried = due[:max_runs], due[max_runs:]
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
    for sync in carried:
        context.log.info(f"{sync.district_key}: due, launched by a later tick ({max_runs} a tick)")
    summary = (
        f"{len(due)} launched, {len(skipped)} skipped, "
        + (f"{len(carried)} carried over to the next tick, " if carried else "")
        + f"{len(registry) - len(due) - len(skipped) - len(carried)} not due in the "
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


def _served_by_runs(
    instance: dg.DagsterInstance, due: list[dispatch.DueSync], since: datetime
) -> dict[dispatch.DueSync, str]:
    """Due syncs with a run of the district that pulls after the fire time: one still waiting
    (queued or its worker starting), or one that began after it (or, canceled before it began,
    ended after it); sync -> why. A run created but never submitted is none: its tick asks for
    it again."""
    job = roster_sync.name
    records = {
        record.dagster_run.run_id: record
        for filters in (
            dg.RunsFilter(job_name=job, statuses=WAITING),
            dg.RunsFilter(job_name=job, updated_after=since),
        )
        for record in instance.get_run_records(filters)
    }
    by_district: dict[str, list[dg.RunRecord]] = defaultdict(list)
    # Oldest first: the run that will start first is named.
    for record in sorted(records.values(), key=lambda record: record.create_timestamp):
        by_district[record.dagster_run.tags.get(PARTITION_TAG, "")].append(record)
    served = {}
    for sync in due:
        for record in by_district[sync.district_key]:
            run = record.dagster_run
            mode = run.tags.get(MODE_TAG) or requested_mode(run.run_config)
            if dispatch.serving_mode(sync, [mode]) is None:
                continue
            if run.status in WAITING:
                served[sync] = (
                    f"its {mode} run {run.run_id[:8]} is still queued: it pulls the roster when "
                    "it starts"
                )
                break
            began = record.start_time if record.start_time is not None else record.end_time
            if began is not None and began >= sync.due_at.timestamp():
                served[sync] = f"its {mode} run {run.run_id[:8]} began after it was due"
                break
    return served


district_dispatcher = build_dispatcher(minutes_from_env(), max_runs_from_env())
