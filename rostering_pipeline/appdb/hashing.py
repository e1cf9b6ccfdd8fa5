"""Change hashes of roster rows: one stable digest of the stored business columns per row."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

# Unit separator between fields and a NUL marker for null, so that ("a", None) and ("a", "")
# or ("ab", "c") and ("a", "bc") never share a canonical string.
_SEPARATOR = "\x1f"
_NULL = "\x00"


def row_hashes(columns: list[pa.ChunkedArray | pa.Array]) -> pa.Array:
    """The hex BLAKE2b-128 digest of each row's canonical text (fields as text, in order).

    Dates render as ISO dates and booleans as true/false, the same on every database, so a
    stored hash compares equal whichever backend wrote it.
    """
    if not columns:
        raise ValueError("a row hash needs at least one column")
    as_text = [pc.cast(column, pa.string()) for column in columns]
    canonical = pc.binary_join_element_wise(
        *as_text, _SEPARATOR, null_handling="replace", null_replacement=_NULL
    )
    digests = [
        hashlib.blake2b(raw, digest_size=16).hexdigest()
        for raw in pc.cast(canonical, pa.binary()).to_pylist()
    ]
    return pa.array(digests, pa.string())
