"""Repeated ids found from digests: every row sharing an id, named, across pages and batches;
nulls never."""

from __future__ import annotations

import pyarrow as pa
import pytest

from rostering_pipeline.repeated_ids import IdDigests


def tally(*pages: list[str | None], batch_rows: int | None = None) -> IdDigests:
    ids = IdDigests()
    if batch_rows is not None:
        ids.BATCH_ROWS = batch_rows
    for page in pages:
        ids.add(pa.array(page, pa.string()))
    return ids


@pytest.mark.parametrize("batch_rows", [1, 4, None])  # a batch per page, across pages, one
def test_every_row_sharing_an_id_across_pages_and_nulls_left_out(batch_rows):
    repeats = tally(
        ["b", "a", None], ["c", "b", None], ["b", "d", "c"], batch_rows=batch_rows
    ).repeated()
    assert repeats.positions.tolist() == [0, 3, 4, 6, 8]
    assert repeats.names.tolist() == ["b", "c", "b", "b", "c"]
    assert repeats.ids == 2
    assert repeats.example() == ("b", 0, 4)
    assert len(repeats.groups) == 5 and len(set(repeats.groups.tolist())) == 2


def test_no_repeats_in_distinct_ids_or_tiny_pulls():
    pages = [[f"e{n}" for n in range(k, k + 100)] for k in range(0, 1000, 100)]
    assert tally(*pages, batch_rows=250).repeated().ids == 0
    assert tally(["a"]).repeated().ids == 0
    assert tally().repeated().positions.tolist() == []
    assert tally([None, None]).repeated().ids == 0
    assert tally(["A", "a"]).repeated().ids == 0  # ids are case-sensitive
    assert len(tally(["a", None], ["b"])) == 3


def test_a_chunked_page_and_long_and_mixed_length_ids():
    long_id = "x" * 70 + "é"  # wider than any word, not ASCII
    ids = IdDigests()
    ids.add(pa.chunked_array([["1", long_id], ["22", "333"]]))
    ids.add(pa.array(["22", long_id, ""], pa.large_string()))
    repeats = ids.repeated()
    assert repeats.positions.tolist() == [1, 2, 4, 5]
    assert sorted(set(repeats.names.tolist())) == ["22", long_id]
