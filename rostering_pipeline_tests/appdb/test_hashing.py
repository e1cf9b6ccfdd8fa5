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


def test_columns_added_later_keep_the_stored_hash_of_rows_that_lack_them():
    """A 1.1 row's hash from before the 1.2 columns existed stays valid (no district sees every
    row "updated" after an upgrade); a row that has one of them hashes differently."""
    names = pa.array(["Ada", "Bo", "Cy"])
    stored = row_hashes([names])
    preferred = pa.array([None, "Bobby", None], pa.string())
    family = pa.array([None, None, "Lee"], pa.string())

    now = row_hashes([names], [preferred, family])

    assert now[0] == stored[0]
    assert now[1] != stored[1] and now[2] != stored[2]
    # the same value in the other added column is another row
    swapped = row_hashes([names], [family, preferred])
    assert swapped[1] != now[1]
