"""A purge and a run of the same district never interleave: nothing is written back after it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.locks import lock_district
from rostering_pipeline.appdb.reconcile import reconcile
from rostering_pipeline.errors import BadInput
from rostering_pipeline.privacy import purge_rows
from rostering_pipeline_tests.appdb.reconcile_support import (
    BACKENDS,
    add_district,
    engine_for,
    roster,
)


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    yield from engine_for(request, tmp_path)


def users_of(engine: sa.Engine, district: int) -> int:
    users = tables.users
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).where(users.c.district_id == district)
        return conn.execute(query).scalar_one()


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_purge_waits_for_a_reconciliation_holding_the_district(engine):
    district = add_district(engine, "demo")
    now = datetime.now(UTC)
    with engine.connect() as running:  # a reconciliation midway: lock held, a row written
        lock_district(running, district)
        running.execute(
            tables.users.insert().values(
                district_id=district, sourced_id="u1", active=True, first_seen_at=now,
                updated_at=now, row_hash="h",
            )
        )  # fmt: skip
        purge = threading.Thread(target=purge_rows, args=(engine, "demo"))
        purge.start()
        purge.join(1.5)
        assert purge.is_alive()  # waits for the district
        running.commit()
    purge.join(30)
    assert users_of(engine, district) == 0  # the purge came after: nothing written back


def test_a_run_reaching_the_district_after_its_purge_applies_nothing(engine):
    district = add_district(engine, "demo")
    purge_rows(engine, "demo")
    with pytest.raises(BadInput, match="purged"):
        reconcile(engine, district_id=district, frames=roster(), mode="full")
    assert users_of(engine, district) == 0
