"""Snapshots are encrypted Parquet: readable with their district's data key only, and nothing of
a person in their bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.snapshot_keys import SnapshotKey
from rostering_pipeline.snapshots import (
    ROW_GROUP_ROWS,
    SnapshotKeyError,
    SnapshotStore,
    _decryption,
    is_encrypted,
)

D1 = SnapshotKey("d1", os.urandom(32))
D2 = SnapshotKey("d2", os.urandom(32))
PEOPLE = pd.DataFrame(
    {
        "sourced_id": ["u1", "u2"],
        "email": ["ada.quillfeather@example.org", "bo.marchetti@example.org"],
        "family_name": ["Quillfeather", "Marchetti"],
        "grades": [["09", "10"], ["11"]],
    }
)


def same_people(frame: pd.DataFrame) -> bool:
    """The rows of PEOPLE (lists come back from Parquet as arrays)."""
    lists = [list(grades) for grades in frame["grades"]]
    return frame.drop(columns="grades").equals(PEOPLE.drop(columns="grades")) and lists == list(
        PEOPLE["grades"]
    )


def test_round_trip_keeps_the_contract_dtypes(tmp_path):
    store = SnapshotStore(str(tmp_path))
    frame = ENTITIES["enrollments"].empty_frame()
    location = store.write(D1, "run-1", "enrollments", frame)
    assert location == f"{tmp_path}/d1/run-1/enrollments.parquet"
    back = store.read(location, D1)
    assert back.dtypes.to_dict() == frame.dtypes.to_dict()
    assert list(store.read(location, D1, columns=["sourced_id"]).columns) == ["sourced_id"]


def test_a_large_snapshot_is_read_back_a_row_group_at_a_time(tmp_path):
    store = SnapshotStore(str(tmp_path))
    rows = 2 * ROW_GROUP_ROWS + 7
    frame = pd.DataFrame({"sourced_id": [f"e{n}" for n in range(rows)], "n": range(rows)})
    location = store.write(D1, "run-1", "enrollments", frame)

    batches = list(store.batches(location, D1, rows=40_000))

    opened = pq.ParquetFile(location, decryption_properties=_decryption(D1, location))
    assert opened.metadata.num_row_groups == 3  # written in groups, so read a group at a time
    assert [len(batch) for batch in batches] == [40_000] * 5 + [7]
    assert pd.concat(batches, ignore_index=True).equals(store.read(location, D1))
    with pytest.raises(SnapshotKeyError, match=r"belongs to district 'd1', not 'd2'"):
        next(store.batches(location, SnapshotKey("d2", D2.secret)))


def test_reading_a_snapshot_by_batches_holds_a_row_group_not_the_file(tmp_path):
    store = SnapshotStore(str(tmp_path))

    def held_while_reading(groups: int) -> tuple[int, int]:
        ids = [f"enrollment-{n:012d}-{os.urandom(8).hex()}" for n in range(groups * ROW_GROUP_ROWS)]
        location = store.write(
            D1, f"run-{groups}", "enrollments", pd.DataFrame({"sourced_id": ids})
        )
        held = max(pa.total_allocated_bytes() for _ in store.batches(location, D1))
        return held, os.path.getsize(location)

    one_group, _ = held_while_reading(1)
    five_groups, size = held_while_reading(5)
    # Pre-buffered, the reader would hold the other four groups' bytes too (about 4/5 of `size`).
    assert five_groups - one_group < size / 4


def test_no_personal_value_is_in_the_bytes_and_plain_pyarrow_reads_nothing(tmp_path):
    # Uncompressed: compressed pages would hide plaintext from a byte search.
    store = SnapshotStore(str(tmp_path), compression="none")
    location = store.write(D1, "run-1", "users", PEOPLE)
    raw = Path(location).read_bytes()

    assert raw.endswith(b"PARE")  # the footer is encrypted too
    for value in [*PEOPLE["email"], *PEOPLE["family_name"], "family_name", "email"]:
        assert value.encode() not in raw, value
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(location)  # without the district's key: not even the schema
    assert same_people(store.read(location, D1))


def test_control_an_unencrypted_file_would_show_the_values(tmp_path):
    """The byte search above can find what it looks for."""
    PEOPLE.to_parquet(tmp_path / "plain.parquet", compression=None)
    assert b"Quillfeather" in (tmp_path / "plain.parquet").read_bytes()


def test_a_snapshot_copied_to_another_district_does_not_open_with_its_key(tmp_path):
    store = SnapshotStore(str(tmp_path))
    location = store.write(D1, "run-1", "users", PEOPLE)
    copied = tmp_path / "d2" / "run-9" / "users.parquet"
    copied.parent.mkdir(parents=True)
    shutil.copy(location, copied)

    with pytest.raises(SnapshotKeyError, match=r"belongs to district 'd1', not 'd2'"):
        store.read(str(copied), D2)


def test_a_snapshot_under_a_destroyed_key_is_unreadable(tmp_path):
    store = SnapshotStore(str(tmp_path))
    location = store.write(D1, "run-1", "users", PEOPLE)
    remade = SnapshotKey("d1", os.urandom(32))  # the district's key now: the old one is gone

    with pytest.raises(SnapshotKeyError, match="under a data key district 'd1' no longer holds"):
        store.read(location, remade)


def test_a_plaintext_snapshot_is_refused_until_encrypted_in_place(tmp_path):
    store = SnapshotStore(str(tmp_path))
    old = tmp_path / "d1" / "run-0" / "users.parquet"
    old.parent.mkdir(parents=True)
    PEOPLE.to_parquet(old, index=False)
    assert store.plaintext("d1") == {"run-0": 1}

    with pytest.raises(SnapshotKeyError, match=r"is not encrypted.*db upgrade"):
        store.read(str(old), D1)
    assert store.encrypt_plaintext(D1) == 1
    assert store.encrypt_plaintext(D1) == 0  # idempotent

    assert is_encrypted(pafs.LocalFileSystem(), str(old))
    assert same_people(store.read(str(old), D1))
    assert store.plaintext("d1") == {}
    assert [p.name for p in old.parent.iterdir()] == ["users.parquet"]  # no partial file left


def test_runs_are_listed_oldest_first_with_their_size(tmp_path):
    store = SnapshotStore(str(tmp_path))
    for n, stamp in enumerate((2000, 1000)):
        path = store.write(D1, f"run-{n}", "users", PEOPLE)
        os.utime(path, (stamp, stamp))
    store.write(D2, "other", "users", PEOPLE)

    runs = store.run_files("d1")
    assert [run.run_id for run in runs] == ["run-1", "run-0"]
    assert runs[0].files == 1 and runs[0].bytes == os.path.getsize(path)
    assert runs[0].written_at.timestamp() == 1000
    assert store.districts() == ["d1", "d2"]
    store.delete_run("d1", "run-1")
    assert store.runs("d1") == ["run-0"]
    store.delete_district("d1")
    assert store.runs("d1") == [] and store.runs("d2") == ["other"]
