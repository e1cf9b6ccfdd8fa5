"""What grows with the number of registered districts, measured at 200 and 2,000: one tick of the
dispatcher and of each sensor that reads the registry, and `districts list`'s reads, on a
PostgreSQL app database whose history tables hold a fleet's weeks (runs, ledger, webhook inbox,
alerts). Writes `benchmarks/FLEET.md`'s registry section.

    python -m benchmarks.registry_scale [--districts 200,2000] [--out benchmarks/FLEET.md]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import dagster as dg
import sqlalchemy as sa

from benchmarks.machine import commit_stamp
from benchmarks.sections import write_section
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import alerts, snapshot_verdicts, sync_requests, sync_runs
from rostering_pipeline.defs.resources import AppDatabase, dispose_engines
from rostering_pipeline.dispatch import next_runs
from rostering_pipeline.districts import add_district, list_districts
from rostering_pipeline.secrets import ENV_VAR, SecretBox, new_key_entry

SERVER = os.environ.get(
    "ROSTERING_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASE = "rostering_registry_bench"
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
RUNS_PER_DISTRICT = 30  # a month of nightly runs
WEBHOOK_REQUESTS_PER_DISTRICT = 50  # a week of consumed notifications
ROUNDS = 3
ENTITIES = ("orgs", "academic_sessions", "courses", "classes", "users", "enrollments")
# Made-up registry settings: no district is ever contacted.
FLEET_SETTINGS = {
    "base_url": "https://roster.example.org/ims/oneroster/v1p1",
    "auth_method": "oauth2",
    "token_url": "https://roster.example.org/oauth/token",
}
FLEET_SECRET = "the-fleet-s-client-secret"  # noqa: S105 (a made-up one)
TICK_LIMIT_S = 5.0  # the bound for a tick with 200 districts


def register_fleet(
    engine: sa.Engine, count: int, box: SecretBox, *, prefix: str, webhook_secret: str | None = None
) -> None:
    """`count` districts (`<prefix>00000`…) in four zones, behind five client ids, due at 02:00
    local; their endpoints are made up (nothing here contacts them)."""
    for n in range(count):
        add_district(
            engine,
            key=f"{prefix}{n:05d}",
            name=f"District {n}",
            client_id=f"client-{n % 5}",
            client_secret=FLEET_SECRET,
            webhook_secret=webhook_secret,
            timezone=ZONES[n % len(ZONES)],
            box=box,
            **FLEET_SETTINGS,
        )


def populate(engine: sa.Engine, count: int, box: SecretBox) -> None:
    """`count` districts with a month of history each."""
    now = datetime.now(UTC)
    register_fleet(engine, count, box, prefix="d")
    with engine.begin() as conn:
        ids = conn.execute(sa.text("SELECT id FROM districts ORDER BY id")).scalars().all()
        for district_id in ids:
            runs = [str(uuid.uuid4()) for _ in range(RUNS_PER_DISTRICT)]
            conn.execute(
                sync_runs.insert(),
                [
                    {
                        "district_id": district_id,
                        "mode": "full",
                        "started_at": now - timedelta(days=day),
                        "finished_at": now - timedelta(days=day) + timedelta(minutes=1),
                        "status": "succeeded",
                        "dagster_run_id": run,
                    }
                    for day, run in enumerate(runs)
                ],
            )
            conn.execute(
                snapshot_verdicts.insert(),
                [
                    {
                        "district_id": district_id,
                        "dagster_run_id": run,
                        "entity": entity,
                        "snapshot_location": f"s3://bucket/{district_id}/{run}/{entity}.parquet",
                        "mode": "full",
                        "passed": True,
                        "quarantined_count": 0,
                        "quarantined_ids": "[]",
                        "recorded_at": now,
                    }
                    for run in runs
                    for entity in ENTITIES
                ],
            )
            conn.execute(
                sync_requests.insert(),
                [
                    {
                        "district_id": district_id,
                        "received_at": now - timedelta(hours=hour),
                        "consumed_at": now - timedelta(hours=hour),
                        "signature": uuid.uuid4().hex,
                    }
                    for hour in range(WEBHOOK_REQUESTS_PER_DISTRICT)
                ],
            )
            if district_id % 10 == 0:
                conn.execute(
                    alerts.insert().values(
                        district_id=district_id, kind="failed", reason="x", opened_at=now
                    )
                )


def timed(work: Callable[[], object]) -> float:
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        rounds.append(time.perf_counter() - started)
    return statistics.median(rounds)


def measure(url: str, count: int) -> dict[str, float]:
    from rostering_pipeline.definitions import defs

    app_db = AppDatabase(url=url)
    engine = app_db.engine()
    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        resources = {"app_db": app_db}
        dispatcher = defs.get_schedule_def("district_dispatcher")
        two_am_east = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 02:00 in New York

        def sensor_tick(name: str) -> Callable[[], object]:
            sensor = defs.get_sensor_def(name)
            return lambda: sensor(dg.build_sensor_context(instance=instance, resources=resources))

        figures = {
            "dispatcher tick (02:00 in one of the four zones)": timed(
                lambda: dispatcher(
                    dg.build_schedule_context(
                        instance=instance,
                        scheduled_execution_time=two_am_east,
                        resources=resources,
                    )
                )
            ),
            "district_partitions sensor tick": timed(sensor_tick("district_partitions")),
            "district_freshness sensor tick": timed(sensor_tick("district_freshness")),
            "webhook_sync_requests sensor tick": timed(sensor_tick("webhook_sync_requests")),
            "csv_inbox sensor tick": timed(sensor_tick("csv_inbox")),
            "`districts list` reads (registry, next runs)": timed(
                lambda: [next_runs(d, datetime.now(UTC)) for d in list_districts(engine)]
            ),
        }
    return {name: round(value, 3) for name, value in figures.items()} | {"districts": count}


def fresh_database() -> str:
    server = sa.make_url(SERVER)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    admin.dispose()
    return server.set(drivername="postgresql+psycopg", database=DATABASE).render_as_string(
        hide_password=False
    )


def render(results: list[dict[str, float]], stamp: str) -> str:
    names = [name for name in results[0] if name != "districts"]
    counts = [r["districts"] for r in results]
    lines = [
        "## Registry scale",
        "",
        f"Written by `python -m benchmarks.registry_scale` at commit **{stamp}**, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Median of {ROUNDS} ticks, each evaluated "
        "in process against a PostgreSQL app database holding, per district, "
        f"{RUNS_PER_DISTRICT} runs and their ledger ({RUNS_PER_DISTRICT * 6} verdicts), "
        f"{WEBHOOK_REQUESTS_PER_DISTRICT} consumed webhook requests, and an open alert for one "
        "district in ten; districts in four time zones, all due at 02:00 local. Target: each "
        f"tick under {TICK_LIMIT_S:g} s with 200 districts.",
        "",
        "| seconds | " + " | ".join(f"{c:,} districts" for c in counts) + " |",
        "|---|" + "---:|" * len(counts),
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{r[name]:.2f}" for r in results) + " |")
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--districts", default="200,2000", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(districts: str, out: Path | None) -> None:
    os.environ.setdefault(ENV_VAR, new_key_entry("registry"))
    box = SecretBox.from_env()
    results = []
    for count in (int(c) for c in districts.split(",")):
        url = fresh_database()
        upgrade(url)
        engine = make_engine(url)
        started = time.perf_counter()
        populate(engine, count, box)
        click.echo(f"{count:,} districts registered in {time.perf_counter() - started:.1f} s")
        results.append(measure(url, count))
        click.echo(results[-1])
        engine.dispose()
        dispose_engines()  # the next count's database has the same name: no stale connection
    text = render(results, commit_stamp())
    if out:
        write_section(out, text)
    click.echo(text)


if __name__ == "__main__":
    main()
