"""The district's "next day": leavers, joiners, renames, new addresses, timetable changes.

Everything is drawn from an RNG seeded by the district seed and the day number, so day n of a
given district is always the same. Changed records carry the new day's `dateLastModified`, so a
`dateLastModified>` filter from the previous day returns exactly them; records removed outright
vanish, as at a real provider (only a full pull can notice).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random

from rostering_pipeline.devserver.names import FAMILY_NAMES
from rostering_pipeline.devserver.records import Class, Enrollment, Record, Table, User
from rostering_pipeline.devserver.synthetic import (
    District,
    Generator,
    Sessions,
    day_stamp,
    new_student,
    student_enrollments,
    with_guardian,
)

LEAVER_SHARE = 0.02
JOINER_SHARE = 0.02
RENAME_SHARE = 0.005
EMAIL_SHARE = 0.005
SCHEDULE_SWAP_SHARE = 0.01
CLASS_CHANGE_SHARE = 0.01
TEACHER_CHANGE_SHARE = 0.002


@dataclass(frozen=True)
class DayChanges:
    day: int
    modified_at: str  # the `dateLastModified` of every changed record
    changed: dict[str, frozenset[str]]  # per table: sourcedIds added or changed (tobedeleted too)
    removed: dict[str, frozenset[str]]  # per table: sourcedIds gone outright


class _Edits:
    """Changes to apply at once; an update builds on earlier updates of the same day."""

    def __init__(self, stamp: str) -> None:
        self.stamp = stamp
        self.updated: dict[str, dict[str, Record]] = defaultdict(dict)
        self.removed: dict[str, set[str]] = defaultdict(set)
        self.added: dict[str, list[Record]] = defaultdict(list)

    def update(self, table: str, record: Record, **changes: object) -> Record:
        current = self.updated[table].get(record.sourcedId, record)
        new = current._replace(dateLastModified=self.stamp, **changes)
        self.updated[table][record.sourcedId] = new
        return new

    def remove(self, table: str, sourced_id: str) -> None:
        self.removed[table].add(sourced_id)
        self.updated[table].pop(sourced_id, None)

    def add(self, table: str, records: list[Record]) -> None:
        self.added[table].extend(records)

    def apply(self, district: District, day: int) -> DayChanges:
        tables = dict(district.tables)
        changed, removed = {}, {}
        for name in set(self.updated) | set(self.removed) | set(self.added):
            updated, gone = self.updated[name], self.removed[name]
            records = [updated.get(r[0], r) for r in tables[name].records if r[0] not in gone]
            tables[name] = Table(records + self.added[name])
            changed[name] = frozenset(updated) | {r.sourcedId for r in self.added[name]}
            removed[name] = frozenset(gone)
        district.tables = tables  # one assignment: requests in flight keep the old view
        district.day = day
        district.revision += 1
        return DayChanges(day, self.stamp, changed, removed)


@dataclass
class _Roster:
    """Indexes over the current district that the day's changes need."""

    district_org: Record
    sessions: Sessions
    students: list[User]
    users: dict[str, User]
    teachers_by_school: dict[str, list[User]]
    homerooms: dict[str, dict[str, list[Class]]]  # school -> grade -> classes
    scheduled: dict[str, dict[str, list[Class]]]
    enrollments_by_user: dict[str, list[Enrollment]]  # active ones
    primary_teacher: dict[str, Enrollment]  # class -> active primary teacher enrollment

    @classmethod
    def read(cls, district: District) -> _Roster:
        t = district.tables
        org = next(o for o in t["orgs"].records if o.type == "district")
        sessions = sorted(
            t["academicSessions"].records, key=lambda s: (s.type != "schoolYear", s.startDate)
        )
        users: dict[str, User] = {u.sourcedId: u for u in t["users"].records}
        teachers_by_school: dict[str, list[User]] = defaultdict(list)
        for u in users.values():
            if u.role == "teacher" and u.status == "active":
                for org_id in u.orgs:
                    teachers_by_school[org_id].append(u)
        homerooms: dict[str, dict[str, list[Class]]] = defaultdict(lambda: defaultdict(list))
        scheduled: dict[str, dict[str, list[Class]]] = defaultdict(lambda: defaultdict(list))
        for c in t["classes"].records:
            if c.status == "active":
                kind = homerooms if c.classType == "homeroom" else scheduled
                kind[c.school][c.grades[0]].append(c)
        by_user: dict[str, list[Enrollment]] = defaultdict(list)
        primary: dict[str, Enrollment] = {}
        for e in t["enrollments"].records:
            if e.status == "active":
                by_user[e.user].append(e)
                if e.primary and e.role == "teacher":
                    primary[e.class_] = e
        return cls(
            district_org=org,
            sessions=Sessions(*sessions[:3]),
            students=[u for u in users.values() if u.role == "student" and u.status == "active"],
            users=users,
            teachers_by_school=teachers_by_school,
            homerooms=homerooms,
            scheduled=scheduled,
            enrollments_by_user=by_user,
            primary_teacher=primary,
        )


def advance_day(district: District) -> DayChanges:
    day = district.day + 1
    rng = Random(f"{district.spec.seed}/day/{day}")
    roster = _Roster.read(district)
    gen = Generator(rng, district.spec, {u.email for u in roster.users.values()})
    edits = _Edits(day_stamp(district.spec, day))

    def count(share: float, of: int) -> int:
        return min(of, max(1, round(of * share)))

    n = len(roster.students)
    sizes = [count(s, n) for s in (LEAVER_SHARE, RENAME_SHARE, EMAIL_SHARE, SCHEDULE_SWAP_SHARE)]
    picked = rng.sample(roster.students, min(n, sum(sizes)))
    leavers, picked = picked[: sizes[0]], picked[sizes[0] :]
    renamers, picked = picked[: sizes[1]], picked[sizes[1] :]
    new_addresses, swappers = picked[: sizes[2]], picked[sizes[2] :]

    _leave(edits, roster, leavers)
    _join(edits, roster, gen, count(JOINER_SHARE, n))
    _rename(edits, gen, renamers)
    teachers = [t for ts in roster.teachers_by_school.values() for t in ts]
    _new_address(
        edits, gen, new_addresses + rng.sample(teachers, count(EMAIL_SHARE, len(teachers)))
    )
    _swap_classes(edits, roster, gen, swappers)
    classes = [c for by_grade in roster.scheduled.values() for cs in by_grade.values() for c in cs]
    classes.sort(key=lambda c: c.sourcedId)
    _move_classes(edits, rng, rng.sample(classes, count(CLASS_CHANGE_SHARE, len(classes))))
    _change_teachers(
        edits, roster, gen, rng.sample(classes, count(TEACHER_CHANGE_SHARE, len(classes)))
    )
    return edits.apply(district, day)


def _leave(edits: _Edits, roster: _Roster, leavers: list[User]) -> None:
    """Half are marked tobedeleted with their enrollments; half vanish with them (and their
    guardians, who have no other child here)."""
    for i, student in enumerate(leavers):
        enrollments = roster.enrollments_by_user.get(student.sourcedId, [])
        if i % 2 == 0:
            edits.update("users", student, status="tobedeleted")
            for e in enrollments:
                edits.update("enrollments", e, status="tobedeleted")
            continue
        edits.remove("users", student.sourcedId)
        for e in enrollments:
            edits.remove("enrollments", e.sourcedId)
        for agent in student.agents:
            edits.remove("users", agent)


def _join(edits: _Edits, roster: _Roster, gen: Generator, joiners: int) -> None:
    rng = gen.rng
    schools = sorted(roster.scheduled)
    next_identifier = 1 + max((int(s.identifier) for s in roster.students), default=100_000)
    for i in range(joiners):
        school = rng.choice(schools)
        grade = rng.choice(sorted(roster.scheduled[school]))
        student = new_student(
            gen, roster.district_org, school, grade, f"{next_identifier + i}", edits.stamp
        )
        people = with_guardian(gen, roster.district_org, student, edits.stamp)
        edits.add("users", people)
        edits.add(
            "enrollments",
            student_enrollments(
                gen,
                people[0],
                roster.homerooms[school],
                roster.scheduled[school],
                roster.sessions,
                edits.stamp,
            ),
        )


def _rename(edits: _Edits, gen: Generator, renamers: list[User]) -> None:
    """A new family name (sometimes double-barrelled) and the address and username that follow."""
    for student in renamers:
        other = gen.rng.choice([f for f in FAMILY_NAMES if f != student.familyName])
        family = f"{student.familyName}-{other}" if gen.rng.random() < 0.3 else other
        email = gen.email(student.givenName, family, student.email.partition("@")[2])
        edits.update(
            "users", student, familyName=family, email=email, username=email.partition("@")[0]
        )


def _new_address(edits: _Edits, gen: Generator, people: list[User]) -> None:
    for person in people:  # the old address stays taken, so the generator numbers the new one
        email = gen.email(person.givenName, person.familyName, person.email.partition("@")[2])
        edits.update("users", person, email=email, username=email.partition("@")[0])


def _swap_classes(edits: _Edits, roster: _Roster, gen: Generator, swappers: list[User]) -> None:
    """Drop one scheduled class (marked tobedeleted or removed outright), join another."""
    rng = gen.rng
    for i, student in enumerate(swappers):
        current = roster.enrollments_by_user.get(student.sourcedId, [])
        enrolled = {e.class_ for e in current}
        pool = roster.scheduled[student.orgs[0]].get(student.grades[0], [])
        choices = [c for c in pool if c.sourcedId not in enrolled]
        droppable = [e for e in current if e.class_ in {c.sourcedId for c in pool}]
        if not choices or not droppable:
            continue
        dropped = rng.choice(droppable)
        if i % 2 == 0:
            edits.update("enrollments", dropped, status="tobedeleted")
        else:
            edits.remove("enrollments", dropped.sourcedId)
        klass = rng.choice(choices)
        edits.add(
            "enrollments",
            [
                Enrollment(
                    gen.guid(),
                    "active",
                    edits.stamp,
                    student.sourcedId,
                    klass.sourcedId,
                    dropped.school,
                    "student",
                    False,
                    dropped.beginDate,
                    dropped.endDate,
                )
            ],
        )


def _move_classes(edits: _Edits, rng: Random, classes: list[Class]) -> None:
    for i, klass in enumerate(classes):
        room = f"Room {rng.randrange(100, 400)}"
        if i % 2:
            edits.update("classes", klass, location=room)
        else:
            period = str(rng.randrange(1, 8))
            edits.update(
                "classes",
                klass,
                location=room,
                periods=(period,),
                title=f"{klass.title.rpartition(' - P')[0]} - P{period}",
            )


def _change_teachers(edits: _Edits, roster: _Roster, gen: Generator, classes: list[Class]) -> None:
    for klass in classes:
        old = roster.primary_teacher.get(klass.sourcedId)
        candidates = [
            t
            for t in roster.teachers_by_school[klass.school]
            if old is None or t.sourcedId != old.user
        ]
        if old is None or not candidates:
            continue
        teacher = gen.rng.choice(candidates)
        edits.update("enrollments", old, status="tobedeleted")
        edits.add(
            "enrollments",
            [
                Enrollment(
                    gen.guid(),
                    "active",
                    edits.stamp,
                    teacher.sourcedId,
                    klass.sourcedId,
                    klass.school,
                    "teacher",
                    True,
                    old.beginDate,
                    old.endDate,
                )
            ],
        )


def edit_now(
    district: District, table: str, sourced_id: str, at: datetime, **fields: object
) -> Record:
    """One record changed at `at` (the provider's clock), outside the daily walk."""
    record = district.tables[table].get(sourced_id)
    if record is None:
        raise KeyError(f"no {table} record {sourced_id}")
    edits = _Edits(f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z")
    changed = edits.update(table, record, **fields)
    edits.apply(district, district.day)
    return changed
