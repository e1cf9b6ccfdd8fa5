"""The change hash: one digest per row that no two different rows share."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from rostering_pipeline.appdb.hashing import row_hashes


def digest(*columns: list[object]) -> list[str]:
    return row_hashes([pa.array(column, pa.string()) for column in columns]).to_pylist()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Ann\x1fLee", "X"), ("Ann", "Lee\x1fX")),  # a separator inside a value
        ((None, "X"), ("\x00", "X")),  # the null marker inside a value
        (("a\\", "u"), ("a", "\\u")),  # the escape character itself
        (("a", None), ("a", "")),
        (("ab", "c"), ("a", "bc")),
    ],
)
def test_different_rows_never_share_a_hash(first, second):
    one, other = digest(*([value] for value in first)), digest(*([value] for value in second))
    assert one != other


def test_a_plain_row_keeps_the_hash_already_stored():
    """Values without a backslash, separator or NUL (nearly all) hash as before the escaping,
    so an upgrade does not report every row of every district as changed."""
    expected = hashlib.blake2b(b"Ann\x1fLee\x1f\x00", digest_size=16).hexdigest()
    assert digest(["Ann"], ["Lee"], [None]) == [expected]
