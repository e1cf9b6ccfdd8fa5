"""The ledger lists and forgets a district's runs for snapshot retention, and finds a district's
verdicts by index."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.engine import alembic_config, make_engine, upgrade
from rostering_pipeline.appdb.ledger import (
    forget_runs,
    latest_verdicts,
    record_verdict,
    recorded_runs,
)
from rostering_pipeline_tests.appdb.reconcile_support import BACKENDS, add_district, engine_for


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    yield from engine_for(request, tmp_path)


KEEP_RUNS = 7  # what the 0005 migration kept of each district's verdicts


def record(engine: sa.Engine, district: int, run: str, entity: str = "users") -> None:
    with engine.begin() as conn:
        record_verdict(
            conn,
            district_id=district,
            dagster_run_id=run,
            entity=entity,
            snapshot_location=f"/snapshots/{run}/{entity}.parquet",
            mode="full",
            passed=True,
            quarantined_ids=frozenset(),
        )


def runs_in_ledger(engine: sa.Engine, district: int) -> set[str]:
    t = tables.snapshot_verdicts
    with engine.connect() as conn:
        query = sa.select(t.c.dagster_run_id).where(t.c.district_id == district).distinct()
        return set(conn.execute(query).scalars())


def test_runs_are_listed_with_their_newest_verdict_and_forgotten_per_district(engine):
    north, south = add_district(engine, "north"), add_district(engine, "south")
    for n in range(3):
        for entity in ("orgs", "users"):
            record(engine, north, f"north-{n:02d}", entity)
    record(engine, south, "south-00")
    with engine.connect() as conn:
        listed = recorded_runs(conn, north)
        [users_at] = conn.execute(
            sa.select(tables.snapshot_verdicts.c.recorded_at).where(
                tables.snapshot_verdicts.c.dagster_run_id == "north-01",
                tables.snapshot_verdicts.c.entity == "users",
            )
        ).scalars()
    assert set(listed) == {"north-00", "north-01", "north-02"}
    assert listed["north-01"] == users_at  # the run's newest verdict, timezone-aware
    assert listed["north-00"] <= listed["north-01"] <= listed["north-02"]

    with engine.begin() as conn:
        forget_runs(conn, north, ["north-00", "south-00"])  # another district's run: not north's
    assert runs_in_ledger(engine, north) == {"north-01", "north-02"}
    assert runs_in_ledger(engine, south) == {"south-00"}
    with engine.connect() as conn:
        assert latest_verdicts(conn, north)["users"].dagster_run_id == "north-02"


def test_a_district_s_verdicts_are_found_by_an_index(engine):
    indexes = sa.inspect(engine).get_indexes("snapshot_verdicts")
    assert any(index["column_names"][:1] == ["district_id"] for index in indexes)


def test_the_upgrade_drops_the_verdicts_of_runs_whose_snapshots_are_gone(app_db_url):
    engine = make_engine(app_db_url)
    try:
        with engine.connect() as connection:
            command.upgrade(alembic_config(connection), "0004")
            connection.commit()
        district = add_district(engine, "north")
        t = tables.snapshot_verdicts
        with engine.begin() as conn:
            for n in range(KEEP_RUNS + 2):
                conn.execute(
                    sa.text(
                        "INSERT INTO snapshot_verdicts (district_id, dagster_run_id, entity,"
                        " snapshot_location, mode, passed, quarantined_count, quarantined_ids,"
                        " recorded_at) VALUES (:d, :run, 'users', 'x', 'full', true, 0, '[]',"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {"d": district, "run": f"run-{n:02d}"},
                )
        upgrade(app_db_url)
        with engine.connect() as conn:
            runs = set(conn.execute(sa.select(t.c.dagster_run_id)).scalars())
        assert runs == {f"run-{n:02d}" for n in range(2, KEEP_RUNS + 2)}
    finally:
        engine.dispose()
