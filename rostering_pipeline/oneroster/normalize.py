"""Provider records -> typed columns with exactly the contract of `entities.py`.

Work is column-wise: one list comprehension per column over a page's records, then one typed Arrow
array per column (an Arrow cast parses all dates of a page at once; only a page holding a value
Arrow cannot read falls back to per-value parsing). Pages become Arrow tables, and a pull becomes
one DataFrame. Every provider field outside the contract is simply never read.

Liberal in what it accepts, as real servers need: an empty string is an absent value (an empty
status reads as active), enumerations match in any case and are stored in the spec's spelling,
obvious grade variants become CEDS codes (anything else is kept as sent), a timestamp without an
offset is local time of the district, and a 1.0-style course `schoolYear` ("2018") is a year, not
a reference. Each tolerance is tallied in `Tolerated`, the raw material of the provider profile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rostering_pipeline.oneroster import users_1_2
from rostering_pipeline.oneroster.entities import GUARDIAN_ROLES, Entity
from rostering_pipeline.oneroster.users_1_2 import SCHOOL_ROLES_FIELD
from rostering_pipeline.oneroster.vocabulary import (
    CEDS_LIST_PATTERN,
    CLASS_TYPES,
    ENROLLMENT_ROLES,
    ORG_TYPES,
    SESSION_TYPES,
    USER_ROLES,
    canonical_spellings,
    ceds_grade,
)

_UTC_MICROS = pa.timestamp("us", tz="UTC")
_INVALID = object()

# Tolerance rules, the keys of `Tolerated.counts`.
EMPTY_AS_ABSENT = "empty_string_as_absent"
EMPTY_STATUS_AS_ACTIVE = "empty_status_as_active"
ENUMERATION_CASE = "enumeration_case"
GRADE_MAPPED = "grade_mapped_to_ceds"
GRADE_NOT_CEDS = "grade_not_ceds"
LOCAL_TIMESTAMP = "timestamp_without_offset"
DATE_ONLY_TIMESTAMP = "timestamp_date_only"
SCHOOL_YEAR_AS_YEAR = "school_year_as_year"
# Timestamp styles, the keys of `Tolerated.timestamps`.
OFFSET, NAIVE, DATE_ONLY, MISSING = "offset", "naive", "date_only", "missing"
_MAX_EXAMPLES = 5


@dataclass
class Tolerated:
    """What a pull had to tolerate: values per rule, `dateLastModified` styles, and a few of the
    non-CEDS grades sent (grades only: never a person's data)."""

    counts: Counter[str] = field(default_factory=Counter)
    timestamps: Counter[str] = field(default_factory=Counter)
    grade_examples: list[str] = field(default_factory=list)

    def add(self, rule: str, n: int = 1) -> None:
        if n:
            self.counts[rule] += n

    def non_ceds_grade(self, grade: str) -> None:
        self.counts[GRADE_NOT_CEDS] += 1
        if len(self.grade_examples) < _MAX_EXAMPLES and grade not in self.grade_examples:
            self.grade_examples.append(grade)


@dataclass(frozen=True)
class _Reading:
    """The page's context: the district's zone for local timestamps, the pull's tally."""

    zone: ZoneInfo
    tolerated: Tolerated


# A converter turns one column's raw provider values into a typed array and the positions of the
# values it could not read (those positions are null in the array).
Converter = Callable[[list[Any], _Reading], tuple[pa.Array, list[int]]]


class MalformedResponse(ValueError):
    """A 200 body that is not a OneRoster collection (the client turns it into ProviderError)."""


def records_from_body(entity: Entity, body: bytes) -> list[dict[str, Any]]:
    """The records of one collection page; accepts any of `entity.envelope_keys`."""
    return read_collection(entity, body)[1]


def read_collection(entity: Entity, body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The envelope key one collection page uses (one of `entity.envelope_keys`) and its records."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        kind = "HTML" if body.lstrip()[:1] == b"<" else "not valid JSON"
        raise MalformedResponse(f"response body is {kind} ({len(body)} bytes)") from exc
    if isinstance(document, list):
        raise MalformedResponse(
            "response body is a bare JSON array, not a OneRoster collection object"
        )
    if not isinstance(document, dict):
        raise MalformedResponse("response body is not a JSON object")
    for key in entity.envelope_keys:
        records = document.get(key)
        if records is None:
            continue
        if not isinstance(records, list) or not all(type(r) is dict for r in records):
            raise MalformedResponse(f"'{key}' is not a list of objects")
        return key, records
    expected = " or ".join(f"'{k}'" for k in entity.envelope_keys)
    raise MalformedResponse(f"response has no {expected} collection")


# --- value readers: return the normalized Python value, or _INVALID -------------------------


def _text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value or None  # an empty string is an absent value
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
    """A list, or a comma-separated string ("1,2"), -> a list of trimmed, non-empty strings."""
    if value is None:
        return []
    if type(value) is str:
        return [part.strip() for part in value.split(",") if part.strip()]
    if type(value) is list:
        if all(type(item) is str for item in value):
            return [text for item in value if (text := item.strip())]
        items = [_text(item) for item in value]
        if any(item is _INVALID for item in items):
            return _INVALID
        return [text for item in items if item is not None and (text := item.strip())]
    return _INVALID


def _ref_items(value: Any) -> Any:
    if value is None or value == "":
        return []
    if type(value) is list:
        ids = [item.get("sourcedId") if type(item) is dict else item for item in value]
        if all(type(i) is str and i for i in ids):
            return ids
    refs = [_ref(item) for item in (value if type(value) is list else [value])]
    if any(ref is _INVALID or ref is None for ref in refs):
        return _INVALID
    return refs


# CSV files and some servers write booleans as 1 and 0.
_BOOLEANS = {
    True: True,
    False: False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
    "": None,
}


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
    if not status:  # servers backed by CSV files leave it blank: an active record
        return "active"
    return status if status in ("active", "tobedeleted") else _INVALID


def _date(value: Any) -> Any:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        pass
    try:  # a date sent as a date-time: keep the provider's calendar day
        return datetime.fromisoformat(value).date()
    except (TypeError, ValueError):
        return _INVALID


def _school_year(value: Any) -> str | None:
    """A 1.0-style `schoolYear`: a year ("2018" or 2018) where 1.1 has a GUIDRef."""
    if type(value) is int and 1900 <= value <= 2999:
        return str(value)
    if type(value) is str and len(text := value.strip()) == 4 and text.isdigit():
        return text
    return None


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
    return lambda values, _reading: _typed(values, read, arrow_type)


def _strings(values: list[Any], reading: _Reading) -> pa.Array | None:
    """The column as Arrow strings with empty ones null (tallied), or None if any is no string."""
    try:
        array = pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None
    return _blank_as_null(array, reading)


def _blank_as_null(array: pa.Array, reading: _Reading) -> pa.Array:
    if pc.index(array, "").as_py() < 0:  # one pass, and no mask, in the common case
        return array
    empty = pc.equal(array, "")
    reading.tolerated.add(EMPTY_AS_ABSENT, pc.sum(empty).as_py())
    return pc.if_else(empty, pa.scalar(None, pa.string()), array)


def _text_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    array = _strings(values, reading)  # the common case: every value is a string or null
    if array is not None:
        return _without_nul(array, [])
    reading.tolerated.add(EMPTY_AS_ABSENT, values.count(""))
    return _without_nul(*_typed(values, _text, pa.string()))


def _without_nul(array: pa.Array, invalid: list[int]) -> tuple[pa.Array, list[int]]:
    """A NUL character is no text a database can store: that value is invalid (and nulled)."""
    has_nul = pc.fill_null(pc.match_substring(array, "\x00"), False)
    if not pc.any(has_nul).as_py():
        return array, invalid
    rows = [i for i, bad in enumerate(has_nul.to_pylist()) if bad]
    return pc.if_else(has_nul, pa.scalar(None, pa.string()), array), sorted({*invalid, *rows})


def _enumeration(vocabulary: tuple[str, ...]) -> Converter:
    """Text matched case-insensitively against `vocabulary`, stored in the spec's spelling; a
    value outside it is kept as sent (the `allowed_value` rule judges it)."""
    spellings = canonical_spellings(vocabulary)
    spelled_right = pa.array(vocabulary, pa.string())

    def convert(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
        array, invalid = _text_column(values, reading)
        if pc.all(pc.is_in(array, value_set=spelled_right)).as_py() is not False:
            return array, invalid  # the common case: every value already in the spec's spelling
        encoded = array.dictionary_encode()
        sent = encoded.dictionary.to_pylist()
        spelled = [spellings.get(value.strip().casefold(), value) for value in sent]
        if spelled == sent:
            return array, invalid
        respelled = [i for i, (a, b) in enumerate(zip(sent, spelled, strict=True)) if a != b]
        changed = pc.is_in(encoded.indices, pa.array(respelled, encoded.indices.type))
        reading.tolerated.add(ENUMERATION_CASE, pc.sum(changed).as_py() or 0)
        return pc.take(pa.array(spelled, pa.string()), encoded.indices), invalid

    return convert


def _ref_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    ids = [v.get("sourcedId") if type(v) is dict else v for v in values]
    if all(type(v) is dict and type(i) is str and i for v, i in zip(values, ids, strict=True)):
        return _without_nul(pa.array(ids, pa.string()), [])
    reading.tolerated.add(EMPTY_AS_ABSENT, values.count(""))
    return _without_nul(*_typed(values, _ref, pa.string()))


def _json_texts(lists: list[Any]) -> tuple[pa.Array, list[int]]:
    """Lists as compact JSON text; an unreadable one is '[]' (the contract's lists are never
    null) and its position is reported, so the row is quarantined rather than applied."""
    invalid = [i for i, v in enumerate(lists) if v is _INVALID]
    texts = ["[]" if v is _INVALID else orjson.dumps(v).decode() for v in lists]
    return pa.array(texts, pa.string()), invalid


def _json_list_column(read: Callable[[Any], Any]) -> Converter:
    return lambda values, _reading: _json_texts([read(v) for v in values])


def _grades_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    """Lists of grades; the page is checked against CEDS at once, and only lists holding another
    value are read again, item by item."""
    array, invalid = _json_texts([_items(v) for v in values])
    outside = pc.invert(pc.match_substring_regex(array, CEDS_LIST_PATTERN))
    if not pc.any(outside).as_py():
        return array, invalid
    texts = array.to_pylist()
    unreadable = set(invalid)
    for row in pc.indices_nonzero(outside).to_pylist():
        if row not in unreadable:
            grades = [_grade(item, reading.tolerated) for item in orjson.loads(texts[row])]
            texts[row] = orjson.dumps(grades).decode()
    return pa.array(texts, pa.string()), invalid


def _grade(sent: str, tolerated: Tolerated) -> str:
    code = ceds_grade(sent)
    if code is None:
        tolerated.non_ceds_grade(sent)
        return sent
    if code != sent:
        tolerated.add(GRADE_MAPPED)
    return code


def _status_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    reading.tolerated.add(EMPTY_STATUS_AS_ACTIVE, values.count(""))
    return _typed(values, _status, pa.string())


def _timestamp_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    """Date-times to UTC: with an offset as sent, without one in the district's time zone.

    One Arrow cast per page for each style; per-value parsing only for a page mixing styles or
    holding a value Arrow cannot read."""
    strings = _strings(values, reading)
    if strings is None:
        return _timestamps_one_by_one(values, reading)
    styles = reading.tolerated.timestamps
    present = len(strings) - strings.null_count
    try:
        parsed = strings.cast(_UTC_MICROS)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    else:
        styles.update({OFFSET: present, MISSING: strings.null_count})
        return parsed, []
    try:
        naive = strings.cast(pa.timestamp("us"))
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return _timestamps_one_by_one(values, reading)
    local = pc.assume_timezone(
        naive, reading.zone.key, ambiguous="earliest", nonexistent="earliest"
    )
    date_only = pc.sum(pc.equal(pc.utf8_length(strings), len("2026-08-01"))).as_py() or 0
    styles.update({NAIVE: present - date_only, DATE_ONLY: date_only, MISSING: strings.null_count})
    reading.tolerated.add(LOCAL_TIMESTAMP, present - date_only)
    reading.tolerated.add(DATE_ONLY_TIMESTAMP, date_only)
    return local.cast(_UTC_MICROS), []


def _timestamps_one_by_one(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    styles = reading.tolerated.timestamps
    read: list[Any] = []
    for value in values:
        if value is None or value == "":
            styles[MISSING] += 1
            read.append(None)
            continue
        try:
            parsed = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            read.append(_INVALID)
            continue
        if parsed.tzinfo is not None:
            styles[OFFSET] += 1
            read.append(parsed.astimezone(UTC))
            continue
        style = DATE_ONLY if len(value) == len("2026-08-01") else NAIVE
        styles[style] += 1
        reading.tolerated.add(DATE_ONLY_TIMESTAMP if style == DATE_ONLY else LOCAL_TIMESTAMP)
        read.append(parsed.replace(tzinfo=reading.zone).astimezone(UTC))
    reading.tolerated.add(EMPTY_AS_ABSENT, values.count(""))
    return _typed(read, lambda v: v, _UTC_MICROS)


def _date_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    """Dates: one Arrow cast for the page, per-value parsing only as a fallback."""
    strings = _strings(values, reading)
    if strings is not None:
        try:
            return strings.cast(pa.date32()), []
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            pass
    return _typed(values, _date, pa.date32())


def _school_year_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    years = [_school_year(v) for v in values]
    reading.tolerated.add(SCHOOL_YEAR_AS_YEAR, len(years) - years.count(None))
    return pa.array(years, pa.string()), []


def _school_year_ref_column(values: list[Any], reading: _Reading) -> tuple[pa.Array, list[int]]:
    """A course's school year as a GUIDRef; a 1.0-style year is no reference (see above)."""
    return _ref_column([None if _school_year(v) else v for v in values], reading)


TEXT: Converter = _text_column
REF: Converter = _ref_column
LIST: Converter = _json_list_column(_items)
REF_LIST: Converter = _json_list_column(_ref_items)
GRADES: Converter = _grades_column
BOOL: Converter = _converter(_boolean, pa.bool_())
STATUS: Converter = _status_column
TIMESTAMP: Converter = _timestamp_column
DATE: Converter = _date_column
# A list kept position for position (1.2's role per school, null where none was sent).
AS_SENT_LIST: Converter = _json_list_column(lambda value: value if type(value) is list else [])

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
        "org_type": ("type", _enumeration(ORG_TYPES)),
        "parent_sourced_id": ("parent", REF),
    },
    "academic_sessions": {
        "title": ("title", TEXT),
        "session_type": ("type", _enumeration(SESSION_TYPES)),
        "start_date": ("startDate", DATE),
        "end_date": ("endDate", DATE),
        "school_year": ("schoolYear", TEXT),
        "parent_sourced_id": ("parent", REF),
    },
    "courses": {
        "title": ("title", TEXT),
        "course_code": ("courseCode", TEXT),
        "school_year_sourced_id": ("schoolYear", _school_year_ref_column),
        "school_year": ("schoolYear", _school_year_column),
        "org_sourced_id": ("org", REF),
        "grades": ("grades", GRADES),
    },
    "classes": {
        "title": ("title", TEXT),
        "class_code": ("classCode", TEXT),
        "class_type": ("classType", _enumeration(CLASS_TYPES)),
        "location": ("location", TEXT),
        "periods": ("periods", LIST),
        "grades": ("grades", GRADES),
        "course_sourced_id": ("course", REF),
        "school_sourced_id": ("school", REF),
        "term_sourced_ids": ("terms", REF_LIST),
    },
    "users": {
        "role": ("role", _enumeration(USER_ROLES)),
        "given_name": ("givenName", TEXT),
        "family_name": ("familyName", TEXT),
        "middle_name": ("middleName", TEXT),
        "preferred_given_name": ("preferredFirstName", TEXT),
        "preferred_family_name": ("preferredLastName", TEXT),
        "email": ("email", TEXT),
        "username": ("username", TEXT),
        "identifier": ("identifier", TEXT),
        "grades": ("grades", GRADES),
        "enabled": ("enabledUser", BOOL),
        "org_sourced_ids": ("orgs", REF_LIST),
        "school_roles": (SCHOOL_ROLES_FIELD, AS_SENT_LIST),
    },
    "enrollments": {
        "user_sourced_id": ("user", REF),
        "class_sourced_id": ("class", REF),
        "school_sourced_id": ("school", REF),
        "role": ("role", _enumeration(ENROLLMENT_ROLES)),
        "is_primary": ("primary", BOOL),
        "begin_date": ("beginDate", DATE),
        "end_date": ("endDate", DATE),
    },
}


def _is_guardian(record: dict[str, Any]) -> bool:
    role = record.get("role")
    return type(role) is str and role.strip().lower() in GUARDIAN_ROLES


def normalize_records(
    entity: Entity,
    records: Sequence[dict[str, Any]],
    *,
    include_guardians: bool = False,
    timezone: str = "UTC",
    tolerated: Tolerated | None = None,
    version: str = "1.1",
) -> pa.Table:
    """One page of provider records -> an Arrow table with exactly `entity.all_columns`.

    `version`: the OneRoster version the records follow (1.2 users carry `roles`).
    `timezone`: the district's, for timestamps sent without an offset. `tolerated`: the pull's
    tally, updated with what this page needed (a throwaway one when None)."""
    if entity.name == "users" and version == "1.2":
        records = users_1_2.as_1_1(records, include_guardians=include_guardians)
    elif entity.name == "users" and not include_guardians:
        records = [r for r in records if not _is_guardian(r)]
    reading = _Reading(ZoneInfo(timezone), tolerated if tolerated is not None else Tolerated())
    arrays: list[pa.Array] = []
    invalid_by_row: dict[int, list[str]] = {}
    for column, (field_name, convert) in {**_COMMON, **SOURCES[entity.name]}.items():
        array, invalid = convert([r.get(field_name) for r in records], reading)
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


def normalize(entity: Entity, records: Sequence[dict[str, Any]], **options: Any) -> pd.DataFrame:
    """Convenience for one batch of records: `to_frame(normalize_records(...))`."""
    return to_frame(entity, [normalize_records(entity, records, **options)])
