"""The provider's stored records: compact tuples whose field names mirror the OneRoster wire names.

References (parent, course, user...) hold the referenced `sourcedId`; lists are tuples. The wire
shape (ref objects, booleans as text, extra fields) is made only when serving (serialize.py).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from operator import itemgetter
from typing import NamedTuple


class Org(NamedTuple):
    sourcedId: str
    status: str
    dateLastModified: str
    name: str
    type: str
    identifier: str
    parent: str | None
    children: tuple[str, ...]


class AcademicSession(NamedTuple):
    sourcedId: str
    status: str
    dateLastModified: str
    title: str
    type: str
    startDate: str
    endDate: str
    schoolYear: str
    parent: str | None
    children: tuple[str, ...]


class Course(NamedTuple):
    sourcedId: str
    status: str
    dateLastModified: str
    title: str
    courseCode: str
    schoolYear: str
    org: str
    grades: tuple[str, ...]
    subjects: tuple[str, ...]


class Class(NamedTuple):
    sourcedId: str
    status: str
    dateLastModified: str
    title: str
    classCode: str
    classType: str
    location: str
    course: str
    school: str
    terms: tuple[str, ...]
    periods: tuple[str, ...]
    grades: tuple[str, ...]
    subjects: tuple[str, ...]


class User(NamedTuple):
    sourcedId: str
    status: str
    dateLastModified: str
    username: str
    enabledUser: bool
    givenName: str
    familyName: str
    middleName: str | None
    role: str
    identifier: str
    email: str
    orgs: tuple[str, ...]
    grades: tuple[str, ...]
    agents: tuple[str, ...]


class Enrollment(NamedTuple):
    sourcedId: str
    status: str
    dateLastModified: str
    user: str
    class_: str  # `class` on the wire
    school: str
    role: str
    primary: bool
    beginDate: str
    endDate: str


Record = Org | AcademicSession | Course | Class | User | Enrollment
_sourced_id = itemgetter(0)


class Table:
    """One entity's records sorted by `sourcedId`. Never mutated: a changed district gets new
    tables, so requests being served keep a consistent view without locks."""

    __slots__ = ("ids", "records")

    def __init__(self, records: Iterable[Record]) -> None:
        self.records: list[Record] = sorted(records, key=_sourced_id)
        self.ids: list[str] = [r[0] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def get(self, sourced_id: str) -> Record | None:
        at = bisect_left(self.ids, sourced_id)
        if at < len(self.ids) and self.ids[at] == sourced_id:
            return self.records[at]
        return None
