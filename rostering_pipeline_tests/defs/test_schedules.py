from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.utils import make_new_run_id

from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_config import sync_run_config
from rostering_pipeline.defs.schedules import (
    DEFAULT_MINUTES,
    MAX_RUNS_ENV,
    MINUTES_ENV,
    build_dispatcher,
    district_dispatcher,
    max_runs_from_env,
    minutes_from_env,
)
from rostering_pipeline.districts import add_district, set_status, update_district
from rostering_pipeline.platform.launch import code_location, submit_partition_run
from rostering_pipeline.runner import instance
from rostering_pipeline.secrets import SecretBox

COORDINATORS = "rostering_pipeline.platform.coordinators"


def add_test_district(env, key: str, timezone: str) -> None:
    add_district(
        env,
        key=key,
        name=key,
        base_url=f"https://{key}.example.org",
        client_id=f"{key}-client",
        token_url=f"https://{key}.example.org/token",
        client_secret="s",
        box=SecretBox.from_env(),
        timezone=timezone,
    )


@pytest.fixture
def registry(env, app_db_url):
    """Districts in three time zones; returns the resources the schedule needs."""
    for key, timezone in (("ny", "America/New_York"), ("ber", "Europe/Berlin"), ("utc", "UTC")):
        add_test_district(env, key, timezone)
    return {"app_db": AppDatabase(url=app_db_url)}


def requests_over(resources: dict, start: datetime, hours: int) -> list[dg.RunRequest]:
    """Every run request of every tick in [start, start + hours), as the daemon would ask; each
    becomes a run that starts at its tick, as the daemon would launch it."""
    dagster = instance()
    requests = []
    tick = start
    while tick < start + timedelta(hours=hours):
        with dg.build_schedule_context(
            instance=dagster, scheduled_execution_time=tick, resources=resources
        ) as context:
            # One instance for every tick: one built from its ref costs ~80 ms (Alembic checks).
            context._instance = dagster
            result = district_dispatcher(context)
        if isinstance(result, list):
            requests += result
            for request in result:
                mode = request.tags["rostering/mode"]
                recorded_run(dagster, request.partition_key, mode, DagsterEventType.RUN_START, tick)
        tick += timedelta(minutes=DEFAULT_MINUTES)
    return requests


@pytest.mark.parametrize("day", ["2026-03-08", "2026-11-01"])
def test_one_run_per_district_on_each_daylight_saving_day(registry, day):
    # The New York day, midnight to midnight, is 23 or 25 hours long: cover a little more.
    start = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=3)
    requests = requests_over(registry, start, hours=26)

    new_york = [r for r in requests if r.partition_key == "ny"]
    assert len(new_york) == 1
    assert new_york[0].run_key == f"ny/full/{day}T07:00Z"  # 02:00 local: EST either way
    assert sorted(r.partition_key for r in requests) == ["ber", "ny", "utc"]


def test_run_requests_carry_partition_tags_and_run_config(registry):
    requests = requests_over(registry, datetime(2026, 5, 4, 1, 55, tzinfo=UTC), hours=1)
    (request,) = requests
    assert request.partition_key == "utc"
    assert request.run_key == "utc/full/2026-05-04T02:00Z"
    assert request.tags == {
        "district": "utc",
        "rostering/mode": "full",
        "rostering/provider": "utc.example.org/utc-client",
    }
    assert request.run_config == {
        "resources": {"sync": {"config": {"mode": "full", "approve_deactivations": 0}}}
    }


def test_the_dispatcher_adds_a_partition_the_sensor_has_not_added_yet(registry):
    dagster = instance()
    tick = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(
        instance=dagster, scheduled_execution_time=tick, resources=registry
    ) as context:
        assert [r.partition_key for r in district_dispatcher(context)] == ["utc"]
    assert dagster.get_dynamic_partitions("district") == ["utc"]


def test_a_paused_district_gets_no_run_and_the_tick_says_why(registry, env):
    set_status(env, "utc", "paused")
    with dg.build_schedule_context(
        instance=instance(),
        scheduled_execution_time=datetime(2026, 5, 4, 2, 0, tzinfo=UTC),
        resources=registry,
    ) as context:
        result = district_dispatcher(context)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == (
        "0 launched, 1 skipped, 2 not due in the 5 minutes before 02:00 UTC (utc: status paused)"
    )


def recorded_run(
    dagster: dg.DagsterInstance,
    key: str,
    mode: str,
    event: DagsterEventType | None = None,
    at: datetime | None = None,
) -> str:
    """A run of district `key` created, then moved on by `event` (starting, started...) as the
    launcher and the run record it, `at` that moment (now when not given)."""
    run = dg.DagsterRun(
        job_name="roster_sync",
        run_id=make_new_run_id(),
        tags={"dagster/partition": key, "district": key, "rostering/mode": mode},
        status=dg.DagsterRunStatus.NOT_STARTED,
    )
    dagster.add_run(run)
    if event is not None:
        dagster.report_dagster_event(
            DagsterEvent(event_type_value=event.value, job_name="roster_sync"),
            run.run_id,
            timestamp=at.timestamp() if at else None,
        )
    return run.run_id


def dispatch_at(
    tick: datetime, resources: dict, dagster: dg.DagsterInstance | None = None
) -> list[dg.RunRequest] | dg.SkipReason:
    with dg.build_schedule_context(
        instance=dagster or instance(), scheduled_execution_time=tick, resources=resources
    ) as context:
        return district_dispatcher(context)


def skipped_for_waiting_run(run_id: str) -> str:
    return (
        "0 launched, 1 skipped, 2 not due in the 5 minutes before 02:00 UTC (utc: its full run "
        f"{run_id[:8]} is still queued: it pulls the roster when it starts)"
    )


def test_a_district_whose_run_waits_in_the_queue_gets_no_second_one(registry):
    """The 02:00 run of an hourly district still waits in the queue at 03:00 (the runs ahead of
    it are slow): it pulls after 03:00 anyway, so a second run would fetch the same roster again
    behind it. The run is queued as the CLI queues one; the queue completes its tags."""
    queue = {"run_coordinator": {"module": COORDINATORS, "class": "QueuedDistrictRunCoordinator"}}
    with dg.instance_for_test(overrides=queue) as dagster, code_location(dagster) as workspace:
        run = submit_partition_run(
            dagster, workspace, "roster_sync", "utc", sync_run_config("full"), {}
        )
        assert run.status == dg.DagsterRunStatus.QUEUED
        result = dispatch_at(datetime(2026, 5, 4, 2, 0, tzinfo=UTC), registry, dagster)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == skipped_for_waiting_run(run.run_id)


def test_a_run_whose_worker_is_starting_has_not_pulled_yet_either(registry):
    starting = recorded_run(instance(), "utc", "full", DagsterEventType.RUN_STARTING)
    result = dispatch_at(datetime(2026, 5, 4, 2, 0, tzinfo=UTC), registry)
    assert result.skip_message == skipped_for_waiting_run(starting)


def test_a_run_created_but_never_submitted_is_asked_for_again(registry):
    """The daemon died between creating a tick's run and submitting it: it submits that run only
    if the tick, evaluated again, asks for it again."""
    recorded_run(instance(), "utc", "full")
    (request,) = dispatch_at(datetime(2026, 5, 4, 2, 0, tzinfo=UTC), registry)
    assert request.run_key == "utc/full/2026-05-04T02:00Z"


def test_a_waiting_delta_run_does_not_stand_in_for_a_full_one(registry):
    """A delta finds no deactivations: the full run is launched behind it; a run that began
    before the fire time (running or finished), or another district's, is no reason to skip."""
    dagster = instance()
    tick = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
    recorded_run(dagster, "utc", "delta", DagsterEventType.RUN_STARTING)
    for event in (DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS):
        recorded_run(dagster, "utc", "full", event, tick - timedelta(minutes=1))
    recorded_run(dagster, "ny", "full", DagsterEventType.RUN_STARTING)
    (request,) = dispatch_at(tick, registry)
    assert (request.partition_key, request.tags["rostering/mode"]) == ("utc", "full")


def test_a_run_that_began_after_the_fire_time_serves_it(registry):
    """A sync by hand (or a backfill) at 02:01 pulled after the 02:00 fire time: the 02:05 tick,
    which still looks at 02:00 for what earlier ticks carried over, launches nothing for it."""
    dagster = instance()
    begun = recorded_run(
        dagster, "utc", "full", DagsterEventType.RUN_START, datetime(2026, 5, 4, 2, 1, tzinfo=UTC)
    )
    result = dispatch_at(datetime(2026, 5, 4, 2, 5, tzinfo=UTC), registry, dagster)
    assert (
        result.skip_message == "0 launched, 0 skipped, 3 not due in the 5 minutes before 02:05 UTC"
    )
    # At 02:00 itself, the same run is named as the reason.
    result = dispatch_at(datetime(2026, 5, 4, 2, 0, tzinfo=UTC), registry, dagster)
    assert result.skip_message == (
        "0 launched, 1 skipped, 2 not due in the 5 minutes before 02:00 UTC (utc: its full run "
        f"{begun[:8]} began after it was due)"
    )


def test_the_dispatcher_is_running_by_default():
    assert district_dispatcher.default_status == dg.DefaultScheduleStatus.RUNNING


def test_a_dispatcher_looking_every_minute_covers_the_minute_before_its_tick(registry):
    every_minute = build_dispatcher(1)
    assert every_minute.cron_schedule == "*/1 * * * *"
    dagster = instance()
    results = {}
    for minute in (0, 1):
        tick = datetime(2026, 5, 4, 2, minute, tzinfo=UTC)
        with dg.build_schedule_context(
            instance=dagster, scheduled_execution_time=tick, resources=registry
        ) as context:
            results[minute] = every_minute(context)
        if minute == 0:
            recorded_run(dagster, "utc", "full", DagsterEventType.RUN_START, tick)
    assert [r.partition_key for r in results[0]] == ["utc"]
    assert results[1].skip_message == (
        "0 launched, 0 skipped, 3 not due in the 1 minutes before 02:01 UTC"
    )


@pytest.mark.parametrize(("value", "minutes"), [("", 5), ("1", 1), ("15", 15), ("30", 30)])
def test_the_dispatch_minutes_come_from_the_environment(monkeypatch, value, minutes):
    monkeypatch.setenv(MINUTES_ENV, value)
    assert minutes_from_env() == minutes


@pytest.mark.parametrize("value", ["0", "7", "60", "5m", "-5"])
def test_dispatch_minutes_that_do_not_divide_the_hour_are_refused(monkeypatch, value):
    monkeypatch.setenv(MINUTES_ENV, value)
    with pytest.raises(ValueError, match="ROSTERING_DISPATCH_MINUTES must divide the hour"):
        minutes_from_env()


def test_a_tick_asks_for_at_most_its_cap_and_the_next_ticks_launch_the_rest_once(registry, env):
    """Four districts due at 02:00 UTC, one run a tick: the 02:00 tick launches the first and
    carries the rest over; each later tick launches the oldest due that no run has served, with
    its 02:00 run key; then nothing is left, and no district ran twice."""
    for key in ("u1", "u2", "u3"):
        add_test_district(env, key, "UTC")
    one_a_tick = build_dispatcher(DEFAULT_MINUTES, max_runs=1)
    dagster = instance()
    launched, summaries = [], []
    for minutes in range(0, 30, DEFAULT_MINUTES):
        tick = datetime(2026, 5, 4, 2, 0, tzinfo=UTC) + timedelta(minutes=minutes)
        with dg.build_schedule_context(
            instance=dagster, scheduled_execution_time=tick, resources=registry
        ) as context:
            result = one_a_tick(context)
        if isinstance(result, dg.SkipReason):
            summaries.append(result.skip_message)
            continue
        for request in result:  # the daemon launches it: it starts at the tick
            launched.append(request.run_key)
            recorded_run(dagster, request.partition_key, "full", DagsterEventType.RUN_START, tick)
    assert launched == [f"{key}/full/2026-05-04T02:00Z" for key in ("u1", "u2", "u3", "utc")]
    assert summaries == [
        f"0 launched, 0 skipped, 6 not due in the 5 minutes before 02:{m} UTC" for m in (20, 25)
    ]


@pytest.mark.parametrize(("value", "runs"), [("", 100), ("1", 1), ("500", 500)])
def test_the_runs_a_tick_asks_for_come_from_the_environment(monkeypatch, value, runs):
    monkeypatch.setenv(MAX_RUNS_ENV, value)
    assert max_runs_from_env() == runs


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1.5"])
def test_a_cap_that_is_not_a_positive_whole_number_is_refused(monkeypatch, value):
    monkeypatch.setenv(MAX_RUNS_ENV, value)
    with pytest.raises(ValueError, match="ROSTERING_DISPATCH_MAX_RUNS must be a whole number"):
        max_runs_from_env()


@pytest.mark.parametrize(("full_began", "launched"), [(True, "delta"), (False, "full")])
def test_a_carried_full_goes_before_a_later_delta_which_runs_once_the_full_is_served(
    registry, env, full_began, launched
):
    """A tick that looks back past 02:00 and sees the district's 03:00 delta too: if the 02:00
    full has not run yet, the full is launched (it serves the delta); once it has, the delta."""
    update_district(env, "utc", delta_schedule="0 * * * *")
    dagster = instance()
    if full_began:
        two = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
        recorded_run(dagster, "utc", "full", DagsterEventType.RUN_START, two)
    every_half_hour = build_dispatcher(30, max_runs=1)  # looks back 2 hours: 3 districts
    with dg.build_schedule_context(
        instance=dagster,
        scheduled_execution_time=datetime(2026, 5, 4, 3, 0, tzinfo=UTC),
        resources=registry,
    ) as context:
        (request,) = every_half_hour(context)
    hour = "02" if launched == "full" else "03"
    assert request.run_key == f"utc/{launched}/2026-05-04T{hour}:00Z"
