"""Repeated ids found by sorting: each repeated value once, nulls never, across chunks."""

from __future__ import annotations

import pyarrow as pa

from rostering_pipeline.repeated_ids import repeated


def test_each_repeated_value_once_across_chunks_and_nulls_left_out():
    ids = pa.chunked_array([["b", "a", None], ["c", "b", None], ["b", "d", "c"]])
    assert sorted(repeated(ids).to_pylist()) == ["b", "c"]


def test_no_repeats_in_distinct_ids_or_tiny_pulls():
    assert repeated(pa.array([f"e{n}" for n in range(1000)])).to_pylist() == []
    assert repeated(pa.array(["a"])).to_pylist() == []
    assert repeated(pa.array([], pa.string())).to_pylist() == []
    assert repeated(pa.array(["A", "a"])).to_pylist() == []  # ids are case-sensitive
