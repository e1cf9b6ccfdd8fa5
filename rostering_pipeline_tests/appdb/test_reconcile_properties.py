"""Properties of the reconciliation: order independence (hypothesis) and backend agreement."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.guard import Guard
from rostering_pipeline.appdb.reconcile import reconcile
from rostering_pipeline_tests.appdb.reconcile_support import (
    BACKENDS,
    ROSTER_TABLES,
    active_rows,
    add_district,
    dump,
    engine_for,
    enrollment,
    make_engine,
    roster,
)

T0 = datetime(2026, 9, 1, tzinfo=UTC)
NO_GUARD = Guard(max_ratio=1.0, min_rows=10**6)
USERS = [f"u{i}" for i in range(6)]
CLASSES = ["k1", "k2", "k3"]


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    yield from engine_for(request, tmp_path)


@st.composite
def snapshots(draw) -> dict:
    """A random small roster over a fixed id space, so two draws overlap and differ."""
    users = draw(st.lists(st.sampled_from(USERS), unique=True))
    user_rows = [
        {
            "sourced_id": u,
            "role": draw(st.sampled_from(["student", "teacher"])),
            "family_name": draw(st.sampled_from(["Ames", "Bell", None])),
            "enabled": draw(st.booleans()),
            "status": draw(st.sampled_from(["active", "active", "tobedeleted"])),
            "org_sourced_ids": draw(st.sampled_from(['["s1"]', '["s2"]', '["s1","s2"]', "[]"])),
        }
        for u in users
    ]
    class_rows = [
        {"sourced_id": k, "title": draw(st.sampled_from(["A", "B"]))}
        for k in draw(st.lists(st.sampled_from(CLASSES), unique=True))
    ]
    pairs = draw(st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(CLASSES)), unique=True))
    enrollment_rows = [
        enrollment(
            f"e-{user}-{klass}",
            user,
            klass,
            role=draw(st.sampled_from(["student", "teacher"])),
            is_primary=draw(st.sampled_from([True, False, None])),
        )
        for user, klass in pairs
    ]
    return roster(users=user_rows, classes=class_rows, enrollments=enrollment_rows)


def _final_state(engine: sa.Engine, district: int) -> dict:
    return {name: active_rows(engine, table, district) for name, table in ROSTER_TABLES.items()}


def _apply(engine, district, frames, now) -> None:
    reconcile(engine, district_id=district, frames=frames, mode="full", guard=NO_GUARD, now=now)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=snapshots(), second=snapshots())
def test_s1_then_s2_equals_s2_alone(engine, first, second):
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(sa.delete(table))
    both, alone = add_district(engine, "both"), add_district(engine, "alone")

    _apply(engine, both, first, T0)
    _apply(engine, both, second, T0 + timedelta(days=1))
    _apply(engine, alone, second, T0 + timedelta(days=1))

    assert _final_state(engine, both) == _final_state(engine, alone)


def _chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def _in_chunks(frames: dict, size: int) -> dict:
    """Each frame as a one-pass stream of chunks of `size` rows, as snapshots are read back."""
    return {name: _chunks(frame, size) for name, frame in frames.items()}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pulls=st.lists(snapshots(), min_size=2, max_size=2),
    size=st.integers(min_value=1, max_value=3),
    held=st.lists(st.sampled_from(USERS), unique=True, max_size=3),
)
def test_a_pull_staged_in_chunks_applies_as_the_whole_of_it(engine, pulls, size, held):
    with engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(sa.delete(table))
    whole, chunked = add_district(engine, "whole"), add_district(engine, "chunked")

    for day, frames in enumerate(pulls):
        options = {
            "mode": "full",
            "guard": NO_GUARD,
            "now": T0 + timedelta(days=day),
            # quarantined users, sent or not: kept as they are whichever chunk they are in
            "quarantined": {"users": frozenset(held)},
        }
        at_once = reconcile(engine, district_id=whole, frames=frames, **options)
        chunks = _in_chunks(frames, size)
        streamed = reconcile(engine, district_id=chunked, frames=chunks, **options)
        assert streamed.counts == at_once.counts

    assert _final_state(engine, chunked) == _final_state(engine, whole)


def test_sqlite_and_postgresql_store_identical_rosters(pg_url, tmp_path):
    exports = []
    for backend in BACKENDS:
        engine = make_engine(backend, tmp_path / "app.db", pg_url)
        try:
            district = add_district(engine)
            _apply(engine, district, roster(), T0)
            changed = roster(
                users=[{"sourced_id": "u1", "family_name": 'O\'Brien, "Jr"\n'}],
                classes=[{"sourced_id": "k1", "location": ""}],
            )
            _apply(engine, district, changed, T0 + timedelta(days=1))
            exports.append(dump(engine, stable=True))
        finally:
            engine.dispose()

    sqlite_export, postgresql_export = exports
    assert sqlite_export == postgresql_export
    assert ("u1",) in {row[:1] for row in sqlite_export["users"]}
