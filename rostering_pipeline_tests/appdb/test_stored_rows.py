"""Stored rows held while a full pull is staged: what is skipped as unchanged, what is absent."""

from __future__ import annotations

import pyarrow as pa
import pytest

from rostering_pipeline.appdb.prepare import (
    ABSENT,
    DEACTIVATE,
    KEEP,
    PLANS_BY_NAME,
    UPSERT,
    staging_columns,
)
from rostering_pipeline.appdb.stored_rows import StoredRows

USERS = PLANS_BY_NAME["users"]
LINKS = PLANS_BY_NAME["user_schools"]


def stored(*rows: tuple[str, str, bool]) -> StoredRows:
    ids, hashes, active = zip(*rows, strict=True)
    return StoredRows(
        USERS,
        pa.table(
            {
                "sourced_id": pa.array(ids, pa.string()),
                "row_hash": pa.array(hashes, pa.string()),
                "active": pa.array(active),
            }
        ),
    )


def pulled(*rows: tuple[str | None, str, str]) -> pa.Table:
    ids, hashes, ops = zip(*rows, strict=True)
    return pa.table(
        {
            "sourced_id": pa.array(ids, pa.string()),
            "op": pa.array(ops, pa.string()),
            "row_hash": pa.array(hashes, pa.string()),
        }
    )


def test_only_upserts_of_active_rows_with_the_same_hash_are_skipped():
    rows = stored(("same", "h1", True), ("inactive", "h2", False), ("changed", "h3", True))
    kept = rows.sift(
        pulled(
            ("same", "h1", UPSERT),
            ("inactive", "h2", UPSERT),  # comes back: a reactivation
            ("changed", "hX", UPSERT),
            ("new", "h4", UPSERT),
            (None, "h5", UPSERT),
        )
    )
    assert kept["sourced_id"].to_pylist() == ["inactive", "changed", "new", None]
    assert rows.skipped == 1


@pytest.mark.parametrize("op", [DEACTIVATE, KEEP])
def test_a_row_asking_for_anything_but_an_upsert_is_staged_and_not_absent(op):
    rows = stored(("a", "h1", True))
    assert rows.sift(pulled(("a", "h1", op))).num_rows == 1
    assert rows.skipped == 0
    assert rows.absent().num_rows == 0


def test_absent_rows_are_the_active_stored_rows_no_chunk_carried():
    rows = stored(("a", "h", True), ("b", "h", True), ("c", "h", True), ("gone", "h", False))
    rows.sift(pulled(("a", "h", UPSERT)))
    rows.sift(pulled(("c", "changed", UPSERT), ("d", "h", UPSERT)))
    absent = rows.absent()
    assert absent["sourced_id"].to_pylist() == ["b"]
    assert absent["op"].to_pylist() == [ABSENT]
    assert sorted(absent.column_names) == sorted(staging_columns(USERS))
    assert absent["row_hash"].null_count == 1


def test_compound_keys_match_on_every_part():
    links = StoredRows(
        LINKS,
        pa.table(
            {
                "user_sourced_id": ["u1", "u1", "u2"],
                "school_sourced_id": ["s1", "s2", "s1"],
                "row_hash": ["h", "h", "h"],
                "active": [True, True, True],
            }
        ),
    )
    chunk = pa.table(
        {
            "user_sourced_id": ["u1", "u2", "u1s"],
            "school_sourced_id": ["s1", "s2", "1"],
            "op": [UPSERT] * 3,
            "row_hash": ["h", "h", "h"],
        }
    )
    assert links.sift(chunk)["user_sourced_id"].to_pylist() == ["u2", "u1s"]
    absent = links.absent()
    pairs = absent.select(["user_sourced_id", "school_sourced_id"]).to_pylist()
    assert sorted(tuple(pair.values()) for pair in pairs) == [("u1", "s2"), ("u2", "s1")]


def test_nothing_stored_skips_nothing_and_finds_nothing_absent():
    rows = StoredRows.nothing(USERS)
    chunk = pulled(("a", "h", UPSERT))
    assert rows.sift(chunk).num_rows == 1
    assert rows.absent().num_rows == 0
