"""Query parameters of a collection request: limit, offset, sort/orderBy, fields and filter."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter

from rostering_pipeline.devserver.records import Record

DEFAULT_LIMIT = 100
_PREDICATE = r"([A-Za-z][A-Za-z0-9]*)\s*(!=|>=|<=|=|>|<|~)\s*'((?:[^']|'')*)'"
_FILTER = re.compile(rf"\s*{_PREDICATE}(?:\s+(AND|OR)\s+{_PREDICATE})?\s*")
_OPS: dict[str, Callable[[str, str], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "~": lambda value, wanted: wanted in value.casefold(),
}


class QueryError(Exception):
    """A request the provider answers with a statusInfoSet error."""

    def __init__(self, status: int, code_minor: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code_minor = code_minor
        self.description = description


@dataclass(frozen=True)
class Predicate:
    field: str
    op: str
    value: str  # normalized: dateLastModified in the stored format, `~` values casefolded
    # How this provider compares dateLastModified: exact | by_day (dates only) | blank (its rows
    # carry none, so no date matches)
    stamps: str = "exact"

    def matcher(self) -> Callable[[Record], bool]:
        get, compare, wanted = attrgetter(self.field), _OPS[self.op], self.value
        if self.field == "dateLastModified" and self.stamps == "by_day":
            day = wanted[:10]
            return lambda r: compare((get(r) or "")[:10], day)
        if self.field == "dateLastModified" and self.stamps == "blank":
            return lambda r: compare("", wanted)
        return lambda r: compare(get(r) or "", wanted)


@dataclass(frozen=True)
class Filter:
    first: Predicate
    joiner: str | None = None  # "AND" | "OR"
    second: Predicate | None = None

    def matcher(self) -> Callable[[Record], bool]:
        first = self.first.matcher()
        if self.second is None:
            return first
        second = self.second.matcher()
        if self.joiner == "AND":
            return lambda r: first(r) and second(r)
        return lambda r: first(r) or second(r)


@dataclass(frozen=True)
class Query:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    sort: str | None = None
    descending: bool = False
    fields: tuple[str, ...] | None = None
    filter: Filter | None = None


def parse_query(
    params: Mapping[str, str],
    *,
    wire_fields: tuple[str, ...],
    scalar_fields: frozenset[str],
    inactive_status: bool = False,
    stamps: str = "exact",
) -> Query:
    sort = params.get("sort") or None
    if sort is not None and sort not in scalar_fields:
        raise QueryError(400, "invalid_sort_field", f"cannot sort on '{sort}'")
    order = params.get("orderBy", "asc").lower()
    if order not in ("asc", "desc"):
        raise QueryError(400, "invaliddata", "orderBy must be asc or desc")
    text = params.get("filter")
    return Query(
        limit=_count(params, "limit", DEFAULT_LIMIT, minimum=1),
        offset=_count(params, "offset", 0, minimum=0),
        sort=sort,
        descending=order == "desc",
        fields=_fields(params.get("fields"), wire_fields),
        filter=parse_filter(text, scalar_fields, inactive_status, stamps) if text else None,
    )


def _count(params: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise QueryError(400, "invaliddata", f"{name} must be an integer >= {minimum}")
    return int(raw)


def _fields(raw: str | None, wire_fields: tuple[str, ...]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(name.strip() for name in raw.split(","))
    for name in names:
        if name not in wire_fields:
            raise QueryError(400, "invalid_selection_field", f"unknown field '{name}'")
    return names


def parse_filter(
    text: str, scalar_fields: frozenset[str], inactive_status: bool = False, stamps: str = "exact"
) -> Filter:
    match = _FILTER.fullmatch(text)
    if match is None:
        raise QueryError(
            400, "invalid_filter_field", "filter must be field op 'value' [AND|OR ...]"
        )
    g = match.groups()
    first = _predicate(g[0], g[1], g[2], scalar_fields, inactive_status, stamps)
    if g[3] is None:
        return Filter(first)
    second = _predicate(g[4], g[5], g[6], scalar_fields, inactive_status, stamps)
    return Filter(first, g[3], second)


def _predicate(
    field: str,
    op: str,
    raw: str,
    scalar_fields: frozenset[str],
    inactive_status: bool,
    stamps: str,
) -> Predicate:
    if field not in scalar_fields:
        raise QueryError(400, "invalid_filter_field", f"cannot filter on '{field}'")
    value = raw.replace("''", "'")
    if field == "dateLastModified":
        value = _stored_timestamp(value)
    elif field == "status" and inactive_status and value == "inactive":
        value = "tobedeleted"  # this provider says inactive where it stores tobedeleted
    if op == "~":
        value = value.casefold()
    return Predicate(field, op, value, stamps)


def _stored_timestamp(value: str) -> str:
    """Any ISO 8601 date or date-time, in the stored format, so text order is time order."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(
            400, "invalid_filter_field", "dateLastModified needs an ISO 8601 value"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def select(
    records: list[Record], query: Query, shuffle: Callable[[list[Record]], list[Record]] | None
) -> list[Record]:
    """The filtered, ordered rows of a collection. `records` is sorted by sourcedId already;
    `shuffle` stands for a provider whose order without `sort` is arbitrary."""
    rows = records
    if query.filter is not None:
        rows = list(filter(query.filter.matcher(), rows))
    if query.sort is None:
        return shuffle(rows) if shuffle else rows
    if query.sort != "sourcedId":
        get = attrgetter(query.sort)
        rows = sorted(rows, key=lambda r: get(r) or "")
    return rows[::-1] if query.descending else rows
