"""Change hashes of roster rows: one stable digest of the stored business columns per row."""

from __future__ import annotations

import functools
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


def row_hashes(
    columns: list[pa.ChunkedArray | pa.Array],
    added: list[pa.ChunkedArray | pa.Array] | None = None,
) -> pa.Array:
    """The hex BLAKE2b-128 digest of each row's canonical text (fields as text, in order).

    Dates render as ISO dates and booleans as true/false, the same on every database, so a
    stored hash compares equal whichever backend wrote it. `added`: columns a later version
    tracks, joined on only in rows where one of them is set, so that the rows without them keep
    the hash stored before those columns existed (no district sees every row "updated" after an
    upgrade); the field count tells the two forms apart.
    """
    if not columns:
        raise ValueError("a row hash needs at least one column")
    canonical = _joined(columns)
    if added:
        any_set = functools.reduce(pc.or_, [pc.is_valid(column) for column in added])
        longer = pc.binary_join_element_wise(canonical, _joined(added), _SEPARATOR)
        canonical = pc.if_else(any_set, longer, canonical)
    digests = [
        hashlib.blake2b(raw, digest_size=16).hexdigest()
        for raw in pc.cast(canonical, pa.binary()).to_pylist()
    ]
    return pa.array(digests, pa.string())


def _joined(columns: list[pa.ChunkedArray | pa.Array]) -> pa.Array | pa.ChunkedArray:
    as_text = [_escaped(pc.cast(column, pa.string())) for column in columns]
    return pc.binary_join_element_wise(
        *as_text, _SEPARATOR, null_handling="replace", null_replacement=_NULL
    )
