"""The webhook sensor: the inbox becomes delta runs, one per district per interval."""

from __future__ import annotations

import base64
import itertools
import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import orjson
import pytest
import sqlalchemy as sa
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import sync_requests
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.webhooks import (
    INTERVAL_ENV,
    PENDING_REQUESTS,
    RETENTION,
    SENSOR_NAME,
    build_webhook_sensor,
    expired_requests,
    interval_from_env,
)
from rostering_pipeline.districts import add_district, get_district, set_status
from rostering_pipeline.secrets import SecretBox, parse_keys

INTERVAL = 300
T0 = 1_800_000_000.0
_signatures = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def inbox(app_db_url, tmp_path):
    """Districts on both databases: active a1 and a2, paused, preview; returns the engine."""
    upgrade(app_db_url)
    engine = make_engine(app_db_url)
    box = SecretBox(parse_keys("k1:" + base64.b64encode(os.urandom(32)).decode()))
    with engine.begin() as conn:
        for key, status in (("a1", "active"), ("a2", "active"), ("p", "paused"), ("v", "preview")):
            add_district(
                conn,
                key=key,
                name=key,
                base_url=f"https://{key}.example.org",
                token_url=f"https://{key}.example.org/oauth/token",
                client_id=f"client-{key}",
                client_secret="s",
                webhook_secret="w",
                status="preview" if status == "preview" else "active",
                box=box,
            )
            if status == "paused":
                set_status(conn, key, "paused")
    yield engine
    engine.dispose()


def request(engine: sa.Engine, key: str, *, received_at: datetime | None = None) -> None:
    with engine.begin() as conn:
        district = get_district(conn, key)
        conn.execute(
            sync_requests.insert().values(
                district_id=district.id,
                received_at=received_at or datetime.now(UTC),
                signature=f"sha256={next(_signatures):064x}",
            )
        )


def pending(engine: sa.Engine) -> int:
    query = sa.select(sa.func.count()).where(sync_requests.c.consumed_at.is_(None))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


class Sensor:
    """Evaluates the sensor tick after tick, carrying the cursor as the daemon does, and (unless
    told the daemon failed) launching the runs it asks for, once per run key."""

    def __init__(self, engine: sa.Engine, instance: dg.DagsterInstance) -> None:
        self.clock = Clock()
        self.definition = build_webhook_sensor(INTERVAL, clock=self.clock)
        self.resources = {"app_db": AppDatabase(url=engine.url.render_as_string(False))}
        self.instance = instance
        self.cursor: str | None = None

    def tick(self, *, launch: bool = True) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources
        )
        result = self.definition(context)
        self.cursor = result.cursor
        if launch:
            for request in result.run_requests:
                self.launch(request)
        return result

    def launch(self, request: dg.RunRequest) -> None:
        tags = {"dagster/run_key": request.run_key, "dagster/sensor_name": SENSOR_NAME}
        if self.instance.get_run_records(dg.RunsFilter(tags=tags), limit=1):
            return  # the daemon launches one run per key
        run = DagsterRun(
            job_name="roster_sync", run_id=make_new_run_id(), tags={**request.tags, **tags}
        )
        self.instance.add_run(run)


@pytest.fixture
def sensor(inbox):
    with dg.DagsterInstance.ephemeral() as instance:
        yield Sensor(inbox, instance)


def test_a_burst_becomes_one_delta_run_per_district(inbox, sensor):
    for _ in range(5):
        request(inbox, "a1")
    request(inbox, "a2")
    request(inbox, "a2")

    result = sensor.tick()

    runs = {run.partition_key: run for run in result.run_requests}
    assert sorted(runs) == ["a1", "a2"]
    a1 = runs["a1"]
    assert a1.run_config == {
        "resources": {"sync": {"config": {"mode": "delta", "approve_deactivations": 0}}}
    }
    assert a1.tags["district"] == "a1"
    assert a1.tags["rostering/mode"] == "delta"
    assert a1.tags["rostering/provider"] == "a1.example.org/client-a1"
    assert a1.tags["rostering/trigger"] == "webhook"
    assert a1.run_key != runs["a2"].run_key
    # the partitions sensor may not have seen these districts yet: the runs add them
    (added,) = result.dynamic_partitions_requests
    assert sorted(added.partition_keys) == ["a1", "a2"]
    assert pending(inbox) == 7  # consumed once their runs are seen to exist

    assert sensor.tick().run_requests == []  # nothing new, nothing launched
    assert pending(inbox) == 0


def test_a_request_is_consumed_only_once_its_run_exists(inbox, sensor):
    """The daemon failed between the tick and the launch: the request is not lost, the same run
    is asked for again, and launched once."""
    request(inbox, "a1")
    (first,) = sensor.tick(launch=False).run_requests
    assert pending(inbox) == 1
    sensor.clock.now = T0 + 30
    (again,) = sensor.tick().run_requests  # launched this time
    assert again.run_key == first.run_key
    assert pending(inbox) == 1
    sensor.clock.now = T0 + 60
    assert sensor.tick().run_requests == []
    assert pending(inbox) == 0
    runs = sensor.instance.get_run_records(dg.RunsFilter(tags={"district": "a1"}))
    assert len(runs) == 1


def test_requests_during_the_interval_wait_for_the_next_run(inbox, sensor):
    request(inbox, "a1")
    first = sensor.tick().run_requests
    assert len(first) == 1

    sensor.clock.now = T0 + 60
    request(inbox, "a1")
    request(inbox, "a1")
    request(inbox, "a2")
    second = sensor.tick().run_requests
    assert [run.partition_key for run in second] == ["a2"]  # a1 is cooling down
    assert pending(inbox) == 3  # a1's two are kept, not dropped; a2's until its run is seen

    sensor.clock.now = T0 + INTERVAL - 1
    assert sensor.tick().run_requests == []
    assert pending(inbox) == 2

    sensor.clock.now = T0 + INTERVAL
    third = sensor.tick().run_requests
    assert [run.partition_key for run in third] == ["a1"]
    assert third[0].run_key != first[0].run_key
    sensor.clock.now = T0 + INTERVAL + 30
    sensor.tick()
    assert pending(inbox) == 0


def test_paused_and_preview_districts_are_consumed_and_ignored(inbox, sensor):
    request(inbox, "p")
    request(inbox, "v")
    request(inbox, "a1")

    result = sensor.tick()

    assert [run.partition_key for run in result.run_requests] == ["a1"]
    assert pending(inbox) == 1  # a1's, until its run is seen
    set_status(inbox, "p", "active")  # resuming does not replay what came in while paused
    assert sensor.tick().run_requests == []
    assert pending(inbox) == 0


def test_cursor_forgets_districts_whose_interval_has_passed(inbox, sensor):
    request(inbox, "a1")
    sensor.tick()
    assert "a1" in orjson.loads(sensor.cursor)["last_run"]
    sensor.clock.now = T0 + INTERVAL
    sensor.tick()
    assert orjson.loads(sensor.cursor) == {"last_run": {}, "awaiting": {}}


def test_a_cursor_of_the_earlier_format_is_read(inbox, sensor):
    """Before batches were remembered the cursor was {district key: time of its last run}."""
    sensor.cursor = orjson.dumps({"a1": T0}).decode()
    request(inbox, "a1")
    sensor.clock.now = T0 + 60
    assert sensor.tick().run_requests == []  # a1 still cooling down, as the old cursor said
    assert orjson.loads(sensor.cursor)["last_run"] == {"a1": T0}


def test_consumed_requests_are_pruned_after_the_retention(inbox, sensor):
    long_ago = datetime.now(UTC) - RETENTION - timedelta(hours=1)
    request(inbox, "a1", received_at=long_ago)
    sensor.tick()  # asks for its run
    sensor.tick()  # consumes it; it is older than the retention, so it goes
    request(inbox, "a2")
    sensor.tick()
    with inbox.connect() as conn:
        remaining = conn.execute(sa.select(sa.func.count()).select_from(sync_requests))
        assert remaining.scalar_one() == 1  # a2's, recent


def test_the_registered_sensor_runs_by_default_with_the_roster_job():
    from rostering_pipeline.definitions import defs

    definition = defs.resolve_sensor_def("webhook_sync_requests")
    assert definition.default_status == dg.DefaultSensorStatus.RUNNING
    assert definition.job_name == "roster_sync"


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    assert interval_from_env() == 300
    monkeypatch.setenv(INTERVAL_ENV, "60")
    assert interval_from_env() == 60
    for bad in ("0", "-1", "soon"):
        monkeypatch.setenv(INTERVAL_ENV, bad)
        with pytest.raises(ValueError, match=INTERVAL_ENV):
            interval_from_env()


@pytest.mark.postgres
def test_the_sensors_reads_and_pruning_use_their_indexes_not_a_scan(empty_pg_url):
    """A fleet's week of consumed requests must not be scanned each tick (PostgreSQL plans)."""
    upgrade(empty_pg_url)
    engine = make_engine(empty_pg_url)
    box = SecretBox(parse_keys("k1:" + base64.b64encode(os.urandom(32)).decode()))
    district = add_district(
        engine,
        key="d1",
        name="d1",
        base_url="https://d1.example.org",
        token_url="https://d1.example.org/oauth/token",
        client_id="client-d1",
        client_secret="s",
        box=box,
    )
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sync_requests.insert(),
            [
                {
                    "district_id": district.id,
                    "received_at": now - timedelta(seconds=10 * n),  # the last 2 days
                    "consumed_at": None if n < 3 else now,
                    "signature": f"sig-{n}",
                }
                for n in range(20_000)
            ],
        )
        conn.execute(sa.text("ANALYZE sync_requests"))

    def plan(statement) -> str:
        compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
        with engine.connect() as conn:
            return "\n".join(conn.exec_driver_sql(f"EXPLAIN {compiled}").scalars())

    assert "ix_sync_requests_pending" in plan(PENDING_REQUESTS)
    assert "ix_sync_requests_received_at" in plan(expired_requests(now))
    engine.dispose()
