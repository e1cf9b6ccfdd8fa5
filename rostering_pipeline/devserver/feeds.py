"""What real OneRoster servers send beyond the spec, as switchable feed knobs (`FeedQuirks`).

Each knob reproduces a behaviour recorded from a production server (a Nordic county provider, a
Latin American school network, CSV-backed servers serving the standard's sample data). They act
on the wire objects the plain shaper makes, so with every knob off nothing changes and the hot
path is untouched.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from rostering_pipeline.devserver.records import Record

Shaper = Callable[[Record], dict[str, Any]]
FUTURE_STAMP = "2099-01-01T00:00:00.000Z"  # a misconfigured clock


@dataclass(frozen=True)
class FeedQuirks:
    enum_case: bool = False  # "Scheduled", "Teacher", "School", "SchoolYear", "Active"
    # CSV-backed servers: status "" on active rows and dateLastModified "" on every row (the CSV
    # binding leaves both blank in bulk files), "" for absent values; a date filter matches
    # nothing, as blank stamps compare below any date.
    csv_blanks: bool = False
    # offset: "2026-08-17T00:00:00.000Z"; naive: the local wall clock of `local_zone` without an
    # offset ("2026-08-17 02:00:00"); date_only: its local date, and filters compare by day.
    timestamps: Literal["offset", "naive", "date_only"] = "offset"
    local_zone: str = "Europe/Oslo"
    totals_ignore_filter: bool = False  # X-Total-Count counts the collection before `filter`
    school_year_as_year: bool = False  # a course's schoolYear as "2027" (1.0), not a GUIDRef
    non_ceds_grades: bool = False  # users "9", "Grade 9", "K"; classes and courses "Year 9"
    future_dated_users: int = 0  # the first N users stamped 2099-01-01
    refs_without_sourced_id: int = 0  # the first N students' orgs refs carry only an href
    bare_array: bool = False  # collections answered as a bare JSON array, not an envelope
    upper_case_user_ids: bool = False  # users' sourcedIds, and references to them, upper-cased

    @property
    def dates_by_day(self) -> bool:
        return self.timestamps == "date_only"

    @property
    def filter_stamps(self) -> str:
        """How the provider's `filter` compares dateLastModified (devserver/query.py)."""
        if self.csv_blanks:
            return "blank"
        return "by_day" if self.dates_by_day else "exact"

    @property
    def any(self) -> bool:
        return self != FeedQuirks()


_Knobs = TypeVar("_Knobs")


def parse_feed(knobs: tuple[str, ...]) -> FeedQuirks:
    """`dev-provider --feed` values: a knob's name turns it on; `name=value` sets it
    (e.g. `timestamps=date_only`, `future_dated_users=3`)."""
    return parse_knobs(FeedQuirks, knobs, "feed knob")


def parse_knobs(cls: type[_Knobs], knobs: tuple[str, ...], label: str) -> _Knobs:
    """A dataclass of switches from `name` (turns a flag on) and `name=value` knobs; a value
    takes the type of the field's default (a float where the default is None)."""
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, object] = {}
    for knob in knobs:
        name, _, value = (part.strip() for part in knob.partition("="))
        if name not in names:
            raise ValueError(f"unknown {label} {name!r}; one of {', '.join(names)}")
        default = getattr(cls(), name)
        if isinstance(default, bool):
            values[name] = value.lower() not in ("false", "0", "no") if value else True
        elif isinstance(default, int):
            values[name] = int(value)
        elif default is None:
            values[name] = float(value)
        else:
            values[name] = value
    return cls(**values)


_ENUM_FIELDS = {
    "orgs": ("type",),
    "academicSessions": ("type",),
    "classes": ("classType",),
    "users": ("role",),
    "enrollments": ("role",),
}


def _capitalized(value: str) -> str:
    return value[:1].upper() + value[1:]


@functools.lru_cache(maxsize=65_536)
def _local_stamp(stored: str, zone: str, date_only: bool) -> str:
    local = datetime.fromisoformat(stored.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d" if date_only else "%Y-%m-%d %H:%M:%S")


def _grade_variant(grade: str, table: str) -> str:
    if table != "users":
        return f"Year {int(grade)}" if grade.isdigit() else grade
    if grade == "KG":
        return "K"
    if grade.isdigit():
        number = int(grade)
        return str(number) if number % 2 else f"Grade {number}"
    return grade


def with_feed_quirks(
    shape: Shaper,
    table: str,
    feed: FeedQuirks,
    school_years: Mapping[str, str],
    first_users: Mapping[str, int],
) -> Shaper:
    """`shape` followed by the knobs of `feed`. `school_years`: session sourcedId -> its year;
    `first_users`: the sourcedIds of the users the counted knobs apply to -> their rank."""
    if not feed.any:
        return shape

    def quirky(record: Record) -> dict[str, Any]:
        wire = shape(record)
        if feed.enum_case:
            for name in _ENUM_FIELDS.get(table, ()):
                if isinstance(wire.get(name), str):
                    wire[name] = _capitalized(wire[name])
            for role in wire.get("roles") or ():  # 1.2 users
                role["role"] = _capitalized(role["role"])
            if wire.get("status") == "active":
                wire["status"] = "Active"
        stamp = wire.get("dateLastModified")
        if table == "users" and record.sourcedId in first_users:
            rank = first_users[record.sourcedId]
            if rank < feed.future_dated_users:
                stamp = wire["dateLastModified"] = FUTURE_STAMP
            if rank < feed.refs_without_sourced_id and record.role == "student" and "orgs" in wire:
                wire["orgs"] = [{"href": ref["href"], "type": "org"} for ref in wire["orgs"]]
        if feed.timestamps != "offset" and stamp:
            wire["dateLastModified"] = _local_stamp(stamp, feed.local_zone, feed.dates_by_day)
        if feed.csv_blanks:
            wire["dateLastModified"] = ""
            if wire.get("status") in ("active", "Active"):
                wire["status"] = ""
            if table == "users":
                wire["metadata"] = ""
            if table == "classes":
                wire["classCode"] = ""
        if feed.school_year_as_year and table == "courses":
            wire["schoolYear"] = school_years.get(record.schoolYear, "")
        if feed.non_ceds_grades and isinstance(wire.get("grades"), list):
            wire["grades"] = [_grade_variant(g, table) for g in wire["grades"]]
        if feed.upper_case_user_ids:
            _upper_case_user_refs(wire, table)
        return wire

    return quirky


def _upper_case_user_refs(wire: dict[str, Any], table: str) -> None:
    if table == "users":
        wire["sourcedId"] = wire["sourcedId"].upper()
        for agent in wire.get("agents") or ():
            agent["sourcedId"] = agent["sourcedId"].upper()
    elif table == "enrollments":
        user = wire["user"]
        wire["user"] = {**user, "sourcedId": user["sourcedId"].upper()}
