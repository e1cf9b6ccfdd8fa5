"""After a real sync, the run's snapshots are encrypted under the district's data key: nothing of
a student in their bytes, nothing readable without the key, and only the district's last N runs
kept."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rostering_pipeline import config, runner
from rostering_pipeline import districts as registry
from rostering_pipeline.defs.resources import SnapshotStorage
from rostering_pipeline.defs.run_config import sync_run_config
from rostering_pipeline.secrets import SecretKeyError
from rostering_pipeline_tests.e2e import register

PERSONAL_COLUMNS = ("given_name", "family_name", "email", "username", "identifier")


@pytest.fixture
def app_db_url(tmp_path) -> str:
    """SQLite only: snapshots and their keys do not depend on the app database."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def sync_uncompressed(district: str = "d1") -> None:
    """A full sync whose snapshots are written without compression (which would hide plaintext
    from a byte search)."""
    from rostering_pipeline.definitions import defs

    instance = runner.instance()
    instance.add_dynamic_partitions("district", [district])
    run_config = sync_run_config("full")
    run_config["resources"]["snapshots"] = {"config": {"compression": "none"}}
    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=instance, partition_key=district, run_config=run_config
    )
    assert result.success


def snapshot_files(district: str) -> list[Path]:
    return sorted((Path(config.snapshot_url()) / district).rglob("*.parquet"))


def test_no_student_value_is_in_any_snapshot_and_none_opens_without_the_key(env, provider):
    register(env, provider)
    sync_uncompressed()
    students = [u for u in provider.district.tables["users"].records if u.role == "student"]
    # Family names of 6 letters and more: a shorter string turns up by chance in random bytes.
    needles = {s.email for s in students} | {
        s.familyName for s in students if len(s.familyName) > 5
    }
    assert len(needles) > len(students)

    files = snapshot_files("d1")
    assert [f.name for f in files] == sorted(
        f"{e}.parquet"
        for e in ("orgs", "academic_sessions", "courses", "classes", "users", "enrollments")
    )
    for path in files:
        raw = path.read_bytes()
        assert raw.endswith(b"PARE"), path  # footer encrypted
        assert not [n for n in needles if n.encode() in raw], path
    users = next(f for f in files if f.name == "users.parquet")
    for column in PERSONAL_COLUMNS:
        with pytest.raises(OSError, match="encrypted"):
            pq.read_table(users, columns=[column])
    # Control: with the district's key, the students are there.
    storage = SnapshotStorage()
    rows = storage.store().read(str(users), storage.key(env, "d1"))
    assert {s.email for s in students} <= set(rows["email"])


def test_without_the_keys_a_snapshot_cannot_be_opened(env, provider, monkeypatch):
    register(env, provider)
    sync_uncompressed()
    monkeypatch.delenv("ROSTERING_SECRET_KEYS")

    with pytest.raises(SecretKeyError, match="ROSTERING_SECRET_KEYS is not set"):
        SnapshotStorage().key(env, "d1")


def test_each_run_keeps_only_the_district_s_last_runs(env, provider):
    register(env, provider, snapshot_retention_runs=2)
    for _ in range(3):
        sync_uncompressed()

    store = SnapshotStorage().store()
    kept = store.runs("d1")
    assert len(kept) == 2
    with env.connect() as conn:
        district = registry.get_district(conn, "d1")
        ledger = {
            row.dagster_run_id
            for row in conn.execute(
                registry.snapshot_verdicts.select().where(
                    registry.snapshot_verdicts.c.district_id == district.id
                )
            )
        }
    assert ledger == set(kept)  # no verdict points at a deleted snapshot
