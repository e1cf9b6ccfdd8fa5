"""Change hashes of roster rows: one stable digest of the stored business columns per row."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

# Unit separator between fields and a NUL marker for null. A field's own backslash, unit
# separator or NUL is escaped first, so that a separator or a null marker inside a value can never
# be read as a boundary: ("Ann\x1fLee", "X") and ("Ann", "Lee\x1fX") differ. A value without those
# characters (nearly all) is written as it is, so its stored hash stays valid.
_SEPARATOR = "\x1f"
_NULL = "\x00"
_ESCAPES = (("\\", "\\\\"), (_SEPARATOR, "\\u"), (_NULL, "\\0"))  # the backslash first
_NEEDS_ESCAPE = "[\\\\\x1f\x00]"


def _escaped(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if not pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE)).as_py():
        return text
    for raw, escape in _ESCAPES:
        text = pc.replace_substring(text, raw, escape)
    return text


def row_hashes(columns: list[pa.ChunkedArray | pa.Array]) -> pa.Array:
    """The hex BLAKE2b-128 digest of each row's canonical text (fields as text, in order).

    Dates render as ISO dates and booleans as true/false, the same on every database, so a
    stored hash compares equal whichever backend wrote it.
    """
    if not columns:
        raise ValueError("a row hash needs at least one column")
    as_text = [_escaped(pc.cast(column, pa.string())) for column in columns]
    canonical = pc.binary_join_element_wise(
        *as_text, _SEPARATOR, null_handling="replace", null_replacement=_NULL
    )
    digests = [
        hashlib.blake2b(raw, digest_size=16).hexdigest()
        for raw in pc.cast(canonical, pa.binary()).to_pylist()
    ]
    return pa.array(digests, pa.string())
