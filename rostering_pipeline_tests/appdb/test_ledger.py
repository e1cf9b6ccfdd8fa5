"""The ledger keeps what the retained snapshots need, and finds a district's verdicts by index."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.engine import alembic_config, make_engine, upgrade
from rostering_pipeline.appdb.ledger import latest_verdicts, record_verdict
from rostering_pipeline.snapshots import KEEP_RUNS
from rostering_pipeline_tests.appdb.reconcile_support import BACKENDS, add_district, engine_for


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    yield from engine_for(request, tmp_path)


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


def test_only_the_runs_whose_snapshots_are_kept_stay_in_the_ledger(engine):
    north, south = add_district(engine, "north"), add_district(engine, "south")
    for n in range(KEEP_RUNS + 3):
        for entity in ("orgs", "users"):
            record(engine, north, f"north-{n:02d}", entity)
    record(engine, south, "south-00")
    kept = {f"north-{n:02d}" for n in range(3, KEEP_RUNS + 3)}
    assert runs_in_ledger(engine, north) == kept
    assert runs_in_ledger(engine, south) == {"south-00"}  # another district's are its own
    with engine.connect() as conn:
        latest = latest_verdicts(conn, north)
    assert latest["users"].dagster_run_id == f"north-{KEEP_RUNS + 2:02d}"


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
