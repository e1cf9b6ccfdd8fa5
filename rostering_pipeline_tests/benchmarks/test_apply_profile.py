"""The apply profile that RESULTS.md explains the floor targets with: it must see every
statement and COPY of a reconciliation, and read the foreign key's trigger off PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from benchmarks.apply_profile import (
    foreign_key_lines,
    label,
    statement_lines,
    statement_seconds,
)
from benchmarks.reconcile_speed import add_district, district_frames
from rostering_pipeline.appdb import reconcile as reconcile_module
from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.reconcile import reconcile

pytestmark = pytest.mark.postgres


def test_a_label_shows_parameters_as_marks_and_folds_the_column_list():
    statement = (
        "INSERT INTO users (district_id, active)\n  SELECT %(param_1)s::BIGINT, true "
        "FROM stg_users WHERE stg_users.op = %(op_1)s::VARCHAR"
    )
    assert label(statement) == (
        "INSERT INTO users (…) SELECT ?, true FROM stg_users WHERE stg_users.op = ?"
    )
    moment = "UPDATE x SET at=%(now)s::TIMESTAMP WITH TIME ZONE WHERE x.id = %(id)s::BIGINT"
    assert label(moment) == "UPDATE x SET at=? WHERE x.id = ?"
    assert len(label("SELECT " + "a, " * 100)) == 90


def test_a_first_apply_is_profiled_by_statement_and_its_foreign_key_read_off_the_plan(
    empty_pg_url,
):
    engine = sa.create_engine(empty_pg_url)
    tables.metadata.create_all(engine)
    try:
        frames = district_frames(100)
        district_id = add_district(engine)
        with statement_seconds(engine) as spent:
            reconcile(engine, district_id=district_id, frames=frames, mode="full")
        assert reconcile_module.load.__module__ == "rostering_pipeline.appdb.staging"  # restored
        assert spent["COPY stg_enrollments"] > 0
        assert any(s.startswith("INSERT INTO enrollments (…) SELECT") for s in spent)
        lines = statement_lines(spent, total_s=sum(spent.values()) + 1.0, top=3)
        assert len([line for line in lines if line.startswith("| `")]) == 3
        assert lines[-1].startswith(f"| {len(spent) - 3} other statements |")

        other = add_district(engine, "bench-other")
        fk = foreign_key_lines(engine, district_id, other)
        enrollments = len(frames["enrollments"])
        assert fk[0].startswith(f"Inserting the district's {enrollments:,} enrollments again")
        assert any(
            "fk_enrollments_district_id_districts: " in line and f"{enrollments:,} calls" in line
            for line in fk
        )
        with engine.connect() as conn:  # rolled back: the other district holds nothing
            held = conn.execute(
                sa.select(sa.func.count()).where(tables.enrollments.c.district_id == other)
            ).scalar_one()
        assert held == 0
    finally:
        tables.metadata.drop_all(engine)
        engine.dispose()
