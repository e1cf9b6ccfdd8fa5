"""Digests of text: equal text, equal digest, wherever it sits in its buffers; different text
(lengths, padding, a million ids), different digests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from rostering_pipeline.text_digests import digests, find_sorted


def test_digests_equal_for_equal_ids_wherever_they_sit():
    ids = pa.array(["a", "bb", None, "a", "abcdefgh", "abcdefgh\0", "bb", ""])
    digested = digests(ids)
    assert digested.shape == (8, 2) and digested.dtype == np.uint64
    assert (digested[0] == digested[3]).all() and (digested[1] == digested[6]).all()
    assert (digested[2] == 0).all()  # a null
    assert (digested[4] != digested[5]).all()  # a trailing zero byte is not padding
    assert (digests(ids.slice(3, 3)) == digested[3:6]).all()  # a slice's offset honoured
    chunked = pa.chunked_array([ids.slice(0, 5), ids.slice(5)])
    assert (digests(chunked) == digested).all()
    assert digests(pa.array([], pa.string())).shape == (0, 2)


def test_digests_of_a_million_distinct_ids_do_not_collide():
    ids = pa.array([f"{n:08x}-0000-4000-8000-{n * 7919:012x}" for n in range(1_000_000)])
    digested = digests(ids)
    assert len(np.unique(digested[:, 0])) == len(ids)
    assert len(np.unique(digested[:, 1])) == len(ids)


def test_find_sorted_tells_where_each_value_is_and_whether_it_is_there():
    ordered = np.array([3, 7, 9], dtype=np.uint64)
    at, hit = find_sorted(np.array([9, 1, 7, 10, 3], dtype=np.uint64), ordered)
    assert hit.tolist() == [True, False, True, False, True]
    assert at[hit].tolist() == [2, 1, 0]
    at, hit = find_sorted(np.array([5], dtype=np.uint64), np.array([], dtype=np.uint64))
    assert hit.tolist() == [False]
