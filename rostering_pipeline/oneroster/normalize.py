"""Provider records -> typed columns with exactly the contract of `entities.py`.

Work is column-wise: one list comprehension per column over a page's records, then one typed Arrow
array per column (an Arrow cast parses all dates of a page at once; only a page holding a value
Arrow cannot read falls back to per-value parsing). Pages become Arrow tables, and a pull becomes
one DataFrame. Every provider field outside the contract is simply never read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostering_pipeline.oneroster.entities import GUARDIAN_ROLES, Entity

# A converter turns one column's raw provider values into a typed array and the positions of the
# values it could not read (those positions are null in the array).
Converter = Callable[[list[Any]], tuple[pa.Array, list[int]]]

_UTC_MICROS = pa.timestamp("us", tz="UTC")
_INVALID = object()


class MalformedResponse(ValueError):
    """A 200 body that is not a OneRoster collection (the client turns it into ProviderError)."""


def records_from_body(entity: Entity, body: bytes) -> list[dict[str, Any]]:
    """The records of one collection page; accepts any of `entity.envelope_keys`."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        kind = "HTML" if body.lstrip()[:1] == b"<" else "not valid JSON"
        raise MalformedResponse(f"response body is {kind} ({len(body)} bytes)") from exc
    if not isinstance(document, dict):
        raise MalformedResponse("response body is not a JSON object")
    for key in entity.envelope_keys:
        records = document.get(key)
        if records is None:
            continue
        if not isinstance(records, list) or not all(type(r) is dict for r in records):
            raise MalformedResponse(f"'{key}' is not a list of objects")
        return records
    expected = " or ".join(f"'{k}'" for k in entity.envelope_keys)
    raise MalformedResponse(f"response has no {expected} collection")


# --- value readers: return the normalized Python value, or _INVALID -------------------------


def _text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    if type(value) in (int, float):  # numeric identifiers, school years sent as numbers
        return str(value)
    return _INVALID


def _ref(value: Any) -> Any:
    """A GUIDRef -> its sourcedId (the href, relative or not, is ignored)."""
    if type(value) is dict:
        sourced_id = value.get("sourcedId")
        return _INVALID if sourced_id is None else _text(sourced_id)
    return _text(value)


def _items(value: Any) -> Any:
    """A list, or a comma-separated string ("1,2"), -> a list of trimmed strings."""
    if value is None:
        return []
    if type(value) is str:
        return [part.strip() for part in value.split(",") if part.strip()]
    if type(value) is list:
        if all(type(item) is str for item in value):
            return [item.strip() for item in value]
        items = [_text(item) for item in value]
        if any(item is _INVALID or item is None for item in items):
            return _INVALID
        return [item.strip() for item in items]
    return _INVALID


def _ref_items(value: Any) -> Any:
    if value is None:
        return []
    if type(value) is list:
        ids = [item.get("sourcedId") if type(item) is dict else item for item in value]
        if all(type(i) is str for i in ids):
            return ids
    refs = [_ref(item) for item in (value if type(value) is list else [value])]
    if any(ref is _INVALID or ref is None for ref in refs):
        return _INVALID
    return refs


_BOOLEANS = {True: True, False: False, "true": True, "false": False}


def _boolean(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is str:
        value = value.strip().lower()
    elif type(value) is not bool:
        return _INVALID
    return _BOOLEANS.get(value, _INVALID)


def _status(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is not str:
        return _INVALID
    status = value.strip().lower()
    if status == "inactive":  # the 1.0 value; 1.1 calls it tobedeleted
        return "tobedeleted"
    return status if status in ("active", "tobedeleted") else _INVALID


def _timestamp(value: Any) -> Any:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return _INVALID
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _date(value: Any) -> Any:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        pass
    try:  # a date sent as a date-time: keep the provider's calendar day
        return datetime.fromisoformat(value).date()
    except (TypeError, ValueError):
        return _INVALID


# --- column converters ---------------------------------------------------------------------


def _typed(
    values: list[Any], read: Callable[[Any], Any], arrow_type: pa.DataType
) -> tuple[pa.Array, list[int]]:
    read_values = [read(v) for v in values]
    invalid = [i for i, v in enumerate(read_values) if v is _INVALID]
    for i in invalid:
        read_values[i] = None
    return pa.array(read_values, arrow_type), invalid


def _converter(read: Callable[[Any], Any], arrow_type: pa.DataType) -> Converter:
    return lambda values: _typed(values, read, arrow_type)


def _text_column(values: list[Any]) -> tuple[pa.Array, list[int]]:
    try:  # the common case: every value is a string or null
        array, invalid = pa.array(values, pa.string()), []
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        array, invalid = _typed(values, _text, pa.string())
    return _without_nul(array, invalid)


def _without_nul(array: pa.Array, invalid: list[int]) -> tuple[pa.Array, list[int]]:
    """A NUL character is no text a database can store: that value is invalid (and nulled)."""
    has_nul = pc.fill_null(pc.match_substring(array, "\x00"), False)
    if not pc.any(has_nul).as_py():
        return array, invalid
    rows = [i for i, bad in enumerate(has_nul.to_pylist()) if bad]
    return pc.if_else(has_nul, pa.scalar(None, pa.string()), array), sorted({*invalid, *rows})


def _ref_column(values: list[Any]) -> tuple[pa.Array, list[int]]:
    ids = [v.get("sourcedId") if type(v) is dict else v for v in values]
    if all(type(v) is dict and type(i) is str for v, i in zip(values, ids, strict=True)):
        return _without_nul(pa.array(ids, pa.string()), [])
    return _without_nul(*_typed(values, _ref, pa.string()))


def _json_list_column(read: Callable[[Any], Any]) -> Converter:
    def convert(values: list[Any]) -> tuple[pa.Array, list[int]]:
        lists = [read(v) for v in values]
        invalid = [i for i, v in enumerate(lists) if v is _INVALID]
        texts = [None if v is _INVALID else orjson.dumps(v).decode() for v in lists]
        return pa.array(texts, pa.string()), invalid

    return convert


def _parsed_column(read: Callable[[Any], Any], arrow_type: pa.DataType) -> Converter:
    """Dates and date-times: one Arrow cast for the page, per-value parsing only as a fallback."""

    def convert(values: list[Any]) -> tuple[pa.Array, list[int]]:
        try:
            return pa.array(values, pa.string()).cast(arrow_type), []
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            return _typed(values, read, arrow_type)

    return convert


TEXT: Converter = _text_column
REF: Converter = _ref_column
LIST: Converter = _json_list_column(_items)
REF_LIST: Converter = _json_list_column(_ref_items)
BOOL: Converter = _converter(_boolean, pa.bool_())
STATUS: Converter = _converter(_status, pa.string())
TIMESTAMP: Converter = _parsed_column(_timestamp, _UTC_MICROS)
DATE: Converter = _parsed_column(_date, pa.date32())

_COMMON = {
    "sourced_id": ("sourcedId", TEXT),
    "status": ("status", STATUS),
    "source_modified_at": ("dateLastModified", TIMESTAMP),
}

# Normalized column -> (provider field, converter), per entity, in `entity.columns` order.
SOURCES: Mapping[str, Mapping[str, tuple[str, Converter]]] = {
    "orgs": {
        "name": ("name", TEXT),
        "identifier": ("identifier", TEXT),
        "org_type": ("type", TEXT),
        "parent_sourced_id": ("parent", REF),
    },
    "academic_sessions": {
        "title": ("title", TEXT),
        "session_type": ("type", TEXT),
        "start_date": ("startDate", DATE),
        "end_date": ("endDate", DATE),
        "school_year": ("schoolYear", TEXT),
        "parent_sourced_id": ("parent", REF),
    },
    "courses": {
        "title": ("title", TEXT),
        "course_code": ("courseCode", TEXT),
        "school_year_sourced_id": ("schoolYear", REF),
        "org_sourced_id": ("org", REF),
        "grades": ("grades", LIST),
    },
    "classes": {
        "title": ("title", TEXT),
        "class_code": ("classCode", TEXT),
        "class_type": ("classType", TEXT),
        "location": ("location", TEXT),
        "periods": ("periods", LIST),
        "grades": ("grades", LIST),
        "course_sourced_id": ("course", REF),
        "school_sourced_id": ("school", REF),
        "term_sourced_ids": ("terms", REF_LIST),
    },
    "users": {
        "role": ("role", TEXT),
        "given_name": ("givenName", TEXT),
        "family_name": ("familyName", TEXT),
        "middle_name": ("middleName", TEXT),
        "email": ("email", TEXT),
        "username": ("username", TEXT),
        "identifier": ("identifier", TEXT),
        "grades": ("grades", LIST),
        "enabled": ("enabledUser", BOOL),
        "org_sourced_ids": ("orgs", REF_LIST),
    },
    "enrollments": {
        "user_sourced_id": ("user", REF),
        "class_sourced_id": ("class", REF),
        "school_sourced_id": ("school", REF),
        "role": ("role", TEXT),
        "is_primary": ("primary", BOOL),
        "begin_date": ("beginDate", DATE),
        "end_date": ("endDate", DATE),
    },
}


def _is_guardian(record: dict[str, Any]) -> bool:
    role = record.get("role")
    return type(role) is str and role.strip().lower() in GUARDIAN_ROLES


def normalize_records(
    entity: Entity, records: Sequence[dict[str, Any]], *, include_guardians: bool = False
) -> pa.Table:
    """One page of provider records -> an Arrow table with exactly `entity.all_columns`."""
    if entity.name == "users" and not include_guardians:
        records = [r for r in records if not _is_guardian(r)]
    arrays: list[pa.Array] = []
    invalid_by_row: dict[int, list[str]] = {}
    for column, (field, convert) in {**_COMMON, **SOURCES[entity.name]}.items():
        array, invalid = convert([r.get(field) for r in records])
        arrays.append(array)
        for row in invalid:
            invalid_by_row.setdefault(row, []).append(column)
    invalid_fields = [None] * len(records)
    for row, columns in invalid_by_row.items():
        invalid_fields[row] = ",".join(columns)
    arrays.append(pa.array(invalid_fields, pa.string()))
    return pa.Table.from_arrays(arrays, names=list(entity.all_columns))


_PANDAS_TYPES = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.bool_(): pd.BooleanDtype(),
    pa.date32(): pd.ArrowDtype(pa.date32()),
}


def to_frame(entity: Entity, tables: Iterable[pa.Table]) -> pd.DataFrame:
    """Pages (in order) -> one DataFrame with exactly `entity.all_columns` and `entity.dtypes()`."""
    tables = list(tables)
    if not tables:
        return entity.empty_frame()
    frame = pa.concat_tables(tables).to_pandas(types_mapper=_PANDAS_TYPES.get)
    return frame.astype(entity.dtypes())


def normalize(
    entity: Entity, records: Sequence[dict[str, Any]], *, include_guardians: bool = False
) -> pd.DataFrame:
    """Convenience for one batch of records: `to_frame(normalize_records(...))`."""
    return to_frame(
        entity, [normalize_records(entity, records, include_guardians=include_guardians)]
    )
