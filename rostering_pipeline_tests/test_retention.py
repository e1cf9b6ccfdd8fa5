"""Snapshot retention (last N runs, at most D days) and the daily sweep, files and ledger alike."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from rostering_pipeline import districts as registry
from rostering_pipeline import retention
from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.ledger import record_verdict
from rostering_pipeline.secrets import SecretBox, new_key_entry
from rostering_pipeline.snapshot_keys import snapshot_key
from rostering_pipeline.snapshots import SnapshotRun, SnapshotStore
from rostering_pipeline_tests.appdb.reconcile_support import BACKENDS, add_district, engine_for

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FRAME = pd.DataFrame({"sourced_id": ["u1"], "email": ["ada@example.org"]})
K1 = new_key_entry("k1")


def box_of(*entries: str) -> SecretBox:
    return SecretBox.from_env({"ROSTERING_SECRET_KEYS": ",".join(entries)})


BOX = box_of(K1)


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    yield from engine_for(request, tmp_path)


@pytest.fixture
def store(tmp_path) -> SnapshotStore:
    return SnapshotStore(str(tmp_path / "snapshots"))


def set_retention(engine: sa.Engine, key: str, runs: int, days: int) -> registry.District:
    with engine.begin() as conn:
        conn.execute(
            tables.districts.update()
            .where(tables.districts.c.key == key)
            .values(snapshot_retention_runs=runs, snapshot_retention_days=days)
        )
    return registry.get_district(engine, key)


def snapshot_run(engine, store, key: str, run_id: str, at: datetime) -> None:
    """A run's snapshot written at `at`, and its verdict in the ledger."""
    location = store.write(snapshot_key(engine, key, BOX), run_id, "users", FRAME)
    os.utime(location, (at.timestamp(), at.timestamp()))
    district = registry.get_district(engine, key)
    with engine.begin() as conn:
        record_verdict(
            conn,
            district_id=district.id,
            dagster_run_id=run_id,
            entity="users",
            snapshot_location=location,
            mode="full",
            passed=True,
            quarantined_ids=frozenset(),
        )
        conn.execute(
            tables.snapshot_verdicts.update()
            .where(tables.snapshot_verdicts.c.dagster_run_id == run_id)
            .values(recorded_at=at)
        )


def in_ledger(engine, district_id: int) -> list[str]:
    t = tables.snapshot_verdicts
    with engine.connect() as conn:
        query = sa.select(t.c.dagster_run_id).where(t.c.district_id == district_id)
        return sorted(conn.execute(query).scalars())


def test_the_eleventh_snapshot_of_a_district_kept_at_ten_is_removed(engine, store):
    add_district(engine, "north")
    add_district(engine, "south")
    north = set_retention(engine, "north", runs=10, days=30)
    runs = [f"run-{n:02d}" for n in range(11)]
    for n, run_id in enumerate(runs):
        snapshot_run(engine, store, "north", run_id, NOW - timedelta(hours=11 - n))
    snapshot_run(engine, store, "south", "south-old", NOW - timedelta(days=1))

    assert retention.enforce(engine, store, north, now=NOW) == ["run-00"]
    assert store.runs("north") == runs[1:]
    assert in_ledger(engine, north.id) == runs[1:]
    assert store.runs("south") == ["south-old"]  # another district's policy is its own
    assert retention.enforce(engine, store, north, now=NOW) == []


def test_snapshots_older_than_the_days_kept_are_removed_even_within_the_runs_kept(engine, store):
    add_district(engine, "north")
    north = set_retention(engine, "north", runs=7, days=30)
    snapshot_run(engine, store, "north", "old", NOW - timedelta(days=31))
    snapshot_run(engine, store, "north", "recent", NOW - timedelta(days=29))

    assert retention.enforce(engine, store, north, now=NOW) == ["old"]
    assert store.runs("north") == ["recent"]
    assert in_ledger(engine, north.id) == ["recent"]


def test_a_run_known_only_to_the_ledger_or_only_on_disk_counts_too():
    """A run whose files are written but whose verdict is not yet recorded (a run under way) is
    as recent as its files; a verdict whose files are gone still expires."""
    written = [SnapshotRun("writing", 1, 10, NOW)]
    recorded = {"gone": NOW - timedelta(days=40), "kept": NOW - timedelta(hours=1)}

    expired = retention.expired_runs(written, recorded, keep_runs=2, keep_days=30, now=NOW)

    assert expired == ["gone"]


def test_the_sweep_encrypts_plaintext_snapshots_and_removes_purged_leftovers(engine, store):
    add_district(engine, "north")
    add_district(engine, "gone")
    plaintext = store.location("north", "before-encryption", "users")
    os.makedirs(os.path.dirname(plaintext))
    FRAME.to_parquet(plaintext, index=False)
    store.write(snapshot_key(engine, "gone", BOX), "run-1", "users", FRAME)
    registry.mark_purged(engine, "gone")
    os.makedirs(f"{store.root}/stranger/run-1")

    reports, strangers = retention.sweep(engine, store, BOX, now=NOW)

    by_district = {report.district: report for report in reports}
    assert by_district["north"].encrypted == 1
    assert store.read(plaintext, snapshot_key(engine, "north", BOX))["email"].tolist() == [
        "ada@example.org"
    ]
    assert by_district["gone"].purged and store.runs("gone") == []
    assert strangers == ["stranger"]
    assert "1 plaintext file(s) encrypted" in by_district["north"].describe()


def test_without_keys_the_sweep_deletes_plaintext_snapshots_and_their_verdicts(engine, store):
    district_id = add_district(engine, "north")
    plaintext = store.location("north", "before-encryption", "users")
    os.makedirs(os.path.dirname(plaintext))
    FRAME.to_parquet(plaintext, index=False)
    with engine.begin() as conn:
        record_verdict(
            conn,
            district_id=district_id,
            dagster_run_id="before-encryption",
            entity="users",
            snapshot_location=plaintext,
            mode="full",
            passed=True,
            quarantined_ids=frozenset(),
        )

    [report], _ = retention.sweep(engine, store, None, now=NOW)

    assert report.plaintext_deleted == ["before-encryption"]
    assert store.runs("north") == [] and in_ledger(engine, district_id) == []
    assert "no ROSTERING_SECRET_KEYS" in report.describe()


def test_rotation_rewraps_the_data_key_and_the_snapshots_written_before_stay_readable(
    engine, store
):
    add_district(engine, "north")
    location = store.write(snapshot_key(engine, "north", BOX), "run-1", "users", FRAME)
    written = Path(location).read_bytes()
    k2 = new_key_entry("k2")

    assert registry.rotate_secrets(engine, box_of(k2, K1)) == 1  # north's data key

    only_k2 = box_of(k2)
    assert registry.get_district(engine, "north").data_key_key_id == "k2"
    rows = store.read(location, snapshot_key(engine, "north", only_k2))
    assert rows["email"].tolist() == ["ada@example.org"]
    assert Path(location).read_bytes() == written  # no snapshot rewritten
