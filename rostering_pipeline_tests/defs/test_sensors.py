from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.events import DagsterEventType

from rostering_pipeline.alerts import open_alerts
from rostering_pipeline.defs.asset_keys import ROSTER_KEY
from rostering_pipeline.defs.freshness import FRESH, district_freshness
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.sensors import district_partitions_sensor, record_failed_runs
from rostering_pipeline.districts import add_district, get_district, mark_purged, record_outcome
from rostering_pipeline.runner import instance, sync_in_process
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline_tests.alert_receiver import alert_webhook
from rostering_pipeline_tests.e2e import register


def add(engine, key: str, **settings) -> None:
    add_district(
        engine,
        key=key,
        name=key,
        base_url=f"https://{key}.example.org",
        client_id="c",
        token_url=f"https://{key}.example.org/token",
        client_secret="s",
        box=SecretBox.from_env(),
        **settings,
    )


@pytest.fixture
def resources(env, app_db_url):
    return {"app_db": AppDatabase(url=app_db_url)}


def evaluate(
    sensor: dg.SensorDefinition, resources: dict, cursor: str | None = None
) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance(), resources=resources, cursor=cursor
    ) as context:
        return sensor(context)


def apply(result: dg.SensorResult) -> None:
    """What the daemon does with a tick's partition requests."""
    dagster = instance()
    for request in result.dynamic_partitions_requests:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            dagster.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        else:
            for key in request.partition_keys:
                dagster.delete_dynamic_partition(request.partitions_def_name, key)


def test_partitions_follow_the_registry(env, resources):
    add(env, "north")
    add(env, "south")
    first = evaluate(district_partitions_sensor, resources)
    assert [(type(r).__name__, r.partition_keys) for r in first.dynamic_partitions_requests] == [
        ("AddDynamicPartitionsRequest", ["north", "south"])
    ]
    apply(first)

    mark_purged(env, "south")
    add(env, "west")
    second = evaluate(district_partitions_sensor, resources)
    assert [(type(r).__name__, r.partition_keys) for r in second.dynamic_partitions_requests] == [
        ("AddDynamicPartitionsRequest", ["west"]),
        ("DeleteDynamicPartitionsRequest", ["south"]),
    ]
    apply(second)
    assert sorted(instance().get_dynamic_partitions("district")) == ["north", "west"]
    assert evaluate(district_partitions_sensor, resources).dynamic_partitions_requests == []


def run_failure_context(run_id: str, resources: dict) -> dg.RunFailureSensorContext:
    dagster = instance()
    (record,) = dagster.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE).records
    return dg.build_run_status_sensor_context(
        sensor_name="record_failed_runs",
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=dagster,
        dagster_run=dagster.get_run_by_id(run_id),
        resources=resources,
    ).for_run_failure()


def test_a_run_that_failed_outside_its_steps_is_recorded_and_alerted(env, resources, monkeypatch):
    from rostering_pipeline.definitions import defs

    add(env, "north")
    dagster = instance()
    dagster.add_dynamic_partitions("district", ["north"])
    run = dagster.create_run_for_job(
        job_def=defs.resolve_job_def("roster_sync"), tags={"dagster/partition": "north"}
    )
    dagster.report_run_failed(run, "run worker lost")  # as run monitoring reports a lost worker

    with alert_webhook(monkeypatch) as receiver:
        record_failed_runs(run_failure_context(run.run_id, resources))

    district = get_district(env, "north")
    assert district.last_error_kind == "unexpected"
    assert run.run_id in district.last_error and "outside its steps" in district.last_error
    assert [(a["kind"], a["run_id"]) for a in receiver.received] == [("failed", run.run_id)]


def test_a_failed_freshness_check_run_is_no_failed_sync(env, resources):
    from rostering_pipeline.definitions import defs

    add(env, "north")
    dagster = instance()
    dagster.add_dynamic_partitions("district", ["north"])
    run = dagster.create_run_for_job(
        job_def=defs.resolve_job_def("fresh_check"), tags={"dagster/partition": "north"}
    )
    dagster.report_run_failed(run, "run worker lost")

    record_failed_runs(run_failure_context(run.run_id, resources))

    assert get_district(env, "north").last_error is None


def test_a_step_failure_is_not_recorded_twice(env, resources, provider, monkeypatch):
    register(env, provider)
    provider.set_credentials(client_secret="rotated")
    with alert_webhook(monkeypatch) as receiver:
        outcome = sync_in_process("d1")
        assert outcome.exit_code == 5
        recorded = get_district(env, "d1")

        record_failed_runs(run_failure_context(outcome.run_id, resources))

    again = get_district(env, "d1")
    assert again.last_error_at == recorded.last_error_at
    assert again.last_error_kind == "credentials"
    assert [a["kind"] for a in receiver.received] == ["credentials"]


def freshness_tick(resources: dict, cursor: str | None = None) -> dg.SensorResult:
    """The sensor evaluated as the daemon does: its run requests resolved against the code
    location's definitions (which refuses what the daemon would refuse)."""
    from rostering_pipeline.definitions import defs

    with dg.build_sensor_context(
        instance=instance(), resources=resources, cursor=cursor, definitions=defs
    ) as context:
        data = district_freshness.evaluate_tick(context)
    return dg.SensorResult(run_requests=list(data.run_requests or []), cursor=data.cursor)


def run_check(request: dg.RunRequest) -> None:
    """What the daemon does with the sensor's run request: a run of the `fresh_check` job."""
    from rostering_pipeline.definitions import defs

    job = defs.resolve_job_def("fresh_check")
    assert job.execute_in_process(instance=instance(), tags=request.tags).success


def shown_verdicts(partition: str) -> list[bool]:
    """Every verdict of the `fresh` check the UI shows for the partition, oldest first."""
    records = instance().event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(ROSTER_KEY, FRESH),
        limit=100,
        partition_filter=PartitionKeyFilter(key=partition),
    )
    return [r.status.value == "SUCCEEDED" for r in reversed(records)]


def test_freshness_flags_a_stale_district_once_and_clears_when_it_syncs(env, resources):
    add(env, "north")
    add(env, "south")
    instance().add_dynamic_partitions("district", ["north", "south"])
    now = datetime.now(UTC)
    record_outcome(env, "north", succeeded=True, at=now - timedelta(hours=40))
    record_outcome(env, "south", succeeded=True, at=now - timedelta(hours=2))

    first = freshness_tick(resources)
    # Every district gets a verdict from the first tick on, passed or failed.
    assert {r.tags["dagster/partition"] for r in first.run_requests} == {"north", "south"}
    assert set(open_alerts(env, "north")) == {"stale"}
    for request in first.run_requests:
        run_check(request)
    assert (shown_verdicts("north"), shown_verdicts("south")) == ([False], [True])

    unchanged = freshness_tick(resources, first.cursor)
    assert unchanged.run_requests == []  # the verdicts shown are still current: no repeat

    record_outcome(env, "north", succeeded=True, at=now)  # as a sync elsewhere would
    (recovered,) = freshness_tick(resources, unchanged.cursor).run_requests
    assert recovered.tags["dagster/partition"] == "north"
    run_check(recovered)
    assert shown_verdicts("north") == [False, True]  # a second verdict for one partition
    assert open_alerts(env, "north") == {}


def test_a_sync_shows_the_fresh_verdict_of_its_district(env, provider):
    register(env, provider)
    assert sync_in_process("d1").success
    assert shown_verdicts("d1") == [True]


def test_sensors_run_by_default():
    for sensor in (district_partitions_sensor, record_failed_runs, district_freshness):
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
