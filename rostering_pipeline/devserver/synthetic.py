"""A deterministic synthetic school district: the same seed and size give the same records."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from random import Random

from rostering_pipeline.devserver.names import (
    FAMILY_NAMES,
    GIVEN_NAMES,
    PATRONS,
    PLACES,
    email_part,
)
from rostering_pipeline.devserver.records import (
    AcademicSession,
    Class,
    Course,
    Enrollment,
    Org,
    Record,
    Table,
    User,
)
from rostering_pipeline.devserver.spill import SpilledTable, SpillWriter

GRADES = ("KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")
# (name suffix, grades, subjects); three elementary schools for each middle and high school.
LEVELS = (
    (
        "Elementary School",
        GRADES[0:6],
        (
            "Mathematics",
            "English Language Arts",
            "Science",
            "Social Studies",
            "Art",
            "Music",
            "Physical Education",
            "Spanish",
        ),
    ),
    (
        "Middle School",
        GRADES[6:9],
        (
            "Math",
            "English",
            "Science",
            "World History",
            "Spanish",
            "French",
            "Band",
            "Art",
            "Health",
            "Physical Education",
            "Computer Science",
        ),
    ),
    (
        "High School",
        GRADES[9:13],
        (
            "Algebra",
            "Geometry",
            "Biology",
            "Chemistry",
            "Physics",
            "English",
            "U.S. History",
            "Economics",
            "Spanish",
            "Français",
            "Computer Science",
            "Art",
            "Choir",
            "Physical Education",
        ),
    ),
)
LEVEL_PATTERN = (0, 0, 0, 1, 2)
GUARDIAN_ROLES = (("guardian", 6), ("parent", 3), ("relative", 1))
HOMEROOM_SIZE = 25
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.000Z"
TABLE_NAMES = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


@dataclass(frozen=True)
class DistrictSpec:
    seed: int = 1
    schools: int = 5
    students: int = 1000
    teachers: int | None = None  # default: 6 % of the students, at least 2 per school
    classes_per_teacher: int = 5
    classes_per_student: int = 7  # one homeroom, the rest scheduled classes of the student's grade
    guardian_share: float = 0.05  # students with a guardian/parent/relative user
    start: date = date(2026, 8, 17)  # day 0; records changed on day n carry day n's date

    @classmethod
    def demo(cls, seed: int = 1) -> DistrictSpec:
        return cls(seed=seed)

    @classmethod
    def large(cls, seed: int = 1) -> DistrictSpec:
        return cls(seed=seed, schools=300, students=200_000, teachers=12_000)

    @classmethod
    def sized(cls, students: int, seed: int = 1) -> DistrictSpec:
        """Schools and teachers in the large district's proportions."""
        return cls(seed=seed, schools=max(1, round(students * 300 / 200_000)), students=students)

    @property
    def teacher_count(self) -> int:
        if self.teachers is not None:
            return self.teachers
        return max(2 * self.schools, round(self.students * 0.06))


def day_stamp(spec: DistrictSpec, day: int) -> str:
    """`dateLastModified` of records changed on `day` (midnight UTC); generated ones are older."""
    return f"{(spec.start + timedelta(days=day)).isoformat()}T00:00:00.000Z"


@dataclass
class District:
    """The provider's current roster; `daily.advance_day` replaces its tables and moves `day` on."""

    spec: DistrictSpec
    tables: dict[str, Table | SpilledTable]
    day: int = 0
    revision: int = 0  # bumped with every change, so caches of served views know they are stale

    @property
    def now(self) -> str:
        return day_stamp(self.spec, self.day)

    def counts(self) -> dict[str, int]:
        return {name: len(table) for name, table in self.tables.items()}


@dataclass
class Sessions:
    year: AcademicSession
    fall: AcademicSession
    spring: AcademicSession

    def span(self, terms: tuple[str, ...]) -> tuple[str, str]:
        chosen = [s for s in (self.fall, self.spring) if s.sourcedId in terms]
        return chosen[0].startDate, chosen[-1].endDate


@dataclass
class _SchoolPlan:
    org: Org
    grades: tuple[str, ...]
    subjects: tuple[str, ...]
    students: int = 0
    teachers: list[User] = field(default_factory=list)
    homerooms: dict[str, list[Class]] = field(default_factory=lambda: defaultdict(list))
    scheduled: dict[str, list[Class]] = field(default_factory=lambda: defaultdict(list))


class Generator:
    """Draws every value from one seeded RNG in a fixed order. Also used by `advance_day` to make
    new people, so joiners look like everyone else."""

    def __init__(self, rng: Random, spec: DistrictSpec, taken_emails: set[str]) -> None:
        self.rng = rng
        self.spec = spec
        self.taken_emails = taken_emails
        start = datetime(spec.start.year, spec.start.month, spec.start.day)
        # A pool of past timestamps is far cheaper than formatting one per record.
        self.stamps = [
            (start - timedelta(seconds=rng.randrange(86_400, 400 * 86_400))).strftime(STAMP_FORMAT)
            for _ in range(4096)
        ]

    def guid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def stamp(self) -> str:
        return self.stamps[self.rng.getrandbits(12)]

    def email(self, given: str, family: str, domain: str) -> str:
        base = f"{email_part(given)}.{email_part(family)}"
        address, n = f"{base}@{domain}", 1
        while address in self.taken_emails:
            n += 1
            address = f"{base}{n}@{domain}"
        self.taken_emails.add(address)
        return address

    def person(
        self,
        role: str,
        identifier: str,
        domain: str,
        orgs: tuple[str, ...],
        *,
        grades: tuple[str, ...] = (),
        family: str | None = None,
        stamp: str | None = None,
    ) -> User:
        rng = self.rng
        given = rng.choice(GIVEN_NAMES)
        family = family or rng.choice(FAMILY_NAMES)
        middle = rng.choice(GIVEN_NAMES) if rng.random() < 0.4 else None
        email = self.email(given, family, domain)
        return User(
            sourcedId=self.guid(),
            status="active",
            dateLastModified=stamp or self.stamp(),
            username=email.partition("@")[0],
            enabledUser=rng.random() >= 0.02,
            givenName=given,
            familyName=family,
            middleName=middle,
            role=role,
            identifier=identifier,
            email=email,
            orgs=orgs,
            grades=grades,
            agents=(),
        )


def student_domain(district: Org) -> str:
    return f"students.{staff_domain(district)}"


def staff_domain(district: Org) -> str:
    return f"{email_part(district.name.removesuffix(' Unified School District'))}usd.example.org"


def generate(spec: DistrictSpec, spill_to: Path | None = None) -> District:
    """The district; with `spill_to` (a directory), its classes, users and enrollments are kept
    in files there as they are made (spill.py) instead of in memory."""
    rng = Random(spec.seed)
    gen = Generator(rng, spec, set())
    district, schools = _orgs(gen)
    sessions = _sessions(gen)
    plans = [_plan(school, i) for i, school in enumerate(schools)]

    def sink(name: str) -> list[Record] | SpillWriter:
        return [] if spill_to is None else SpillWriter(spill_to, name)

    users = sink("users")
    users.extend(_staff(gen, district, plans))
    courses, classes = _courses_and_classes(gen, plans, sessions)
    enrollments = sink("enrollments")
    enrollments.extend(_teacher_enrollments(gen, plans, sessions))
    _students(gen, district, plans, sessions, users, enrollments)
    spilled_classes = sink("classes")
    spilled_classes.extend(classes)
    del classes, plans  # the plans hold every class too

    def table(records: list[Record] | SpillWriter) -> Table | SpilledTable:
        return records.table() if isinstance(records, SpillWriter) else Table(records)

    tables = {
        "orgs": Table([district, *schools]),
        "academicSessions": Table([sessions.year, sessions.fall, sessions.spring]),
        "courses": Table(courses),
        "classes": table(spilled_classes),
        "users": table(users),
        "enrollments": table(enrollments),
    }
    return District(spec=spec, tables=tables)


def _orgs(gen: Generator) -> tuple[Org, list[Org]]:
    rng, spec = gen.rng, gen.spec
    place = rng.choice(PLACES)
    district_id = gen.guid()
    bases = list(PATRONS + PLACES)
    rng.shuffle(bases)
    schools, seen = [], set()
    for i in range(spec.schools):
        level = LEVELS[LEVEL_PATTERN[i % len(LEVEL_PATTERN)]][0]
        name = f"{bases[i % len(bases)]} {level}"
        if name in seen:  # more schools than names: number the repeats like districts do
            name = f"{name} No. {i // len(bases) + 1}"
        seen.add(name)
        schools.append(
            Org(gen.guid(), "active", gen.stamp(), name, "school", f"{100 + i}", district_id, ())
        )
    district = Org(
        district_id,
        "active",
        gen.stamp(),
        f"{place} Unified School District",
        "district",
        f"06{rng.randrange(10_000, 99_999)}",
        None,
        tuple(s.sourcedId for s in schools),
    )
    return district, schools


def _sessions(gen: Generator) -> Sessions:
    year = gen.spec.start.year
    school_year = str(year + 1)
    year_id, fall_id, spring_id = gen.guid(), gen.guid(), gen.guid()

    def session(sid: str, title: str, kind: str, begin: str, end: str, parent: str | None):
        children = (fall_id, spring_id) if kind == "schoolYear" else ()
        return AcademicSession(
            sid, "active", gen.stamp(), title, kind, begin, end, school_year, parent, children
        )

    return Sessions(
        year=session(
            year_id, f"{year}-{year + 1}", "schoolYear", f"{year}-08-01", f"{year + 1}-06-30", None
        ),
        fall=session(
            fall_id, f"Fall {year}", "semester", f"{year}-08-17", f"{year}-12-18", year_id
        ),
        spring=session(
            spring_id,
            f"Spring {year + 1}",
            "semester",
            f"{year + 1}-01-05",
            f"{year + 1}-06-11",
            year_id,
        ),
    )


def _plan(school: Org, index: int) -> _SchoolPlan:
    _, grades, subjects = LEVELS[LEVEL_PATTERN[index % len(LEVEL_PATTERN)]]
    return _SchoolPlan(org=school, grades=grades, subjects=subjects)


def _staff(gen: Generator, district: Org, plans: list[_SchoolPlan]) -> list[User]:
    """Student counts per school, then teachers in proportion, principals and district admins."""
    rng, spec = gen.rng, gen.spec
    domain = staff_domain(district)
    weights = [
        (0.8, 1.2, 1.6)[LEVEL_PATTERN[i % 5]] * rng.uniform(0.7, 1.3) for i in range(len(plans))
    ]
    for school_index in rng.choices(range(len(plans)), weights=weights, k=spec.students):
        plans[school_index].students += 1
    users: list[User] = []
    for n in range(2):
        users.append(gen.person("administrator", f"A{9000 + n}", domain, (district.sourcedId,)))
    teacher_total = spec.teacher_count
    number = 10_000
    for i, plan in enumerate(plans):
        users.append(gen.person("administrator", f"A{1000 + i}", domain, (plan.org.sourcedId,)))
        share = round(teacher_total * plan.students / max(1, spec.students))
        for _ in range(max(2, share)):
            orgs = (plan.org.sourcedId,)
            if len(plans) > 1 and rng.random() < 0.05:  # some teachers work at two schools
                orgs = (*orgs, rng.choice(plans).org.sourcedId)
                orgs = tuple(dict.fromkeys(orgs))
            teacher = gen.person("teacher", f"T{number}", domain, orgs)
            number += 1
            plan.teachers.append(teacher)
            users.append(teacher)
    return users


def _courses_and_classes(
    gen: Generator, plans: list[_SchoolPlan], sessions: Sessions
) -> tuple[list[Course], list[Class]]:
    rng, spec = gen.rng, gen.spec
    year_id = sessions.year.sourcedId
    term_choices = (
        (sessions.fall.sourcedId, sessions.spring.sourcedId),
        (sessions.fall.sourcedId,),
        (sessions.spring.sourcedId,),
    )
    courses: list[Course] = []
    classes: list[Class] = []
    for plan in plans:
        school_id = plan.org.sourcedId
        by_grade: dict[str, list[Course]] = {}
        for grade in plan.grades:
            label = "K" if grade == "KG" else str(int(grade))
            by_grade[grade] = [
                Course(
                    gen.guid(),
                    "active",
                    gen.stamp(),
                    f"{subject} {label}",
                    f"{email_part(subject)[:4].upper()}-{grade}",
                    year_id,
                    school_id,
                    (grade,),
                    (subject,),
                )
                for subject in plan.subjects
            ]
        homeroom_course = Course(
            gen.guid(),
            "active",
            gen.stamp(),
            "Homeroom",
            "HR",
            year_id,
            school_id,
            plan.grades,
            ("Homeroom",),
        )
        courses.append(homeroom_course)
        for grade_courses in by_grade.values():
            courses.extend(grade_courses)
        total = len(plan.teachers) * spec.classes_per_teacher
        homerooms = min(len(plan.teachers), max(1, math.ceil(plan.students / HOMEROOM_SIZE)))
        for n in range(total):
            grade = plan.grades[n % len(plan.grades)]
            room = f"Room {100 + n % 60 + 100 * (n // 60 % 3)}"
            if n < homerooms:
                teacher = plan.teachers[n]
                klass = Class(
                    gen.guid(),
                    "active",
                    gen.stamp(),
                    f"Homeroom {grade} - {teacher.familyName}",
                    f"HR-{grade}-{n:02d}",
                    "homeroom",
                    room,
                    homeroom_course.sourcedId,
                    school_id,
                    term_choices[0],
                    ("HR",),
                    (grade,),
                    ("Homeroom",),
                )
                plan.homerooms[grade].append(klass)
            else:
                course = by_grade[grade][n // len(plan.grades) % len(plan.subjects)]
                period = str(n % 7 + 1)
                periods = (period, str(n % 7 + 2)) if rng.random() < 0.1 else (period,)
                klass = Class(
                    gen.guid(),
                    "active",
                    gen.stamp(),
                    f"{course.title} - P{period}",
                    f"{course.courseCode}-{n:03d}",
                    "scheduled",
                    room,
                    course.sourcedId,
                    school_id,
                    rng.choice(term_choices),
                    periods,
                    (grade,),
                    course.subjects,
                )
                plan.scheduled[grade].append(klass)
            classes.append(klass)
    return courses, classes


def _teacher_enrollments(
    gen: Generator, plans: list[_SchoolPlan], sessions: Sessions
) -> list[Enrollment]:
    """Classes go round-robin to the school's teachers (homerooms first); a few get a co-teacher."""
    rng = gen.rng
    enrollments: list[Enrollment] = []
    for plan in plans:
        teachers = plan.teachers
        school_classes = [c for g in plan.grades for c in plan.homerooms[g]]
        school_classes += [c for g in plan.grades for c in plan.scheduled[g]]
        school_classes.sort(key=lambda c: c.classCode)
        for n, klass in enumerate(school_classes):
            begin, end = sessions.span(klass.terms)
            school_id = plan.org.sourcedId
            teacher = teachers[n % len(teachers)]
            enrollments.append(
                Enrollment(
                    gen.guid(),
                    "active",
                    gen.stamp(),
                    teacher.sourcedId,
                    klass.sourcedId,
                    school_id,
                    "teacher",
                    True,
                    begin,
                    end,
                )
            )
            if len(teachers) > 1 and rng.random() < 0.1:
                co = teachers[(n + 1 + rng.randrange(len(teachers) - 1)) % len(teachers)]
                enrollments.append(
                    Enrollment(
                        gen.guid(),
                        "active",
                        gen.stamp(),
                        co.sourcedId,
                        klass.sourcedId,
                        school_id,
                        "teacher",
                        False,
                        begin,
                        end,
                    )
                )
    return enrollments


def _students(
    gen: Generator,
    district: Org,
    plans: list[_SchoolPlan],
    sessions: Sessions,
    users: list[Record] | SpillWriter,
    enrollments: list[Record] | SpillWriter,
) -> None:
    """Each school's students (and their guardians) into `users`, their classes into
    `enrollments`."""
    rng = gen.rng
    identifier = 100_000
    for plan in plans:
        for _ in range(plan.students):
            grade = rng.choice(plan.grades)
            student = new_student(gen, district, plan.org.sourcedId, grade, f"{identifier}")
            identifier += 1
            users.extend(with_guardian(gen, district, student))
            enrollments.extend(
                student_enrollments(gen, student, plan.homerooms, plan.scheduled, sessions)
            )


def new_student(
    gen: Generator,
    district: Org,
    school_id: str,
    grade: str,
    identifier: str,
    stamp: str | None = None,
) -> User:
    return gen.person(
        "student", identifier, student_domain(district), (school_id,), grades=(grade,), stamp=stamp
    )


def with_guardian(
    gen: Generator, district: Org, student: User, stamp: str | None = None
) -> list[User]:
    """The student, and for some a guardian/parent/relative linked both ways through `agents`."""
    rng = gen.rng
    if rng.random() >= gen.spec.guardian_share:
        return [student]
    role = rng.choices([r for r, _ in GUARDIAN_ROLES], weights=[w for _, w in GUARDIAN_ROLES])[0]
    guardian = gen.person(
        role,
        f"G{student.identifier}",
        "example.com",
        student.orgs,
        family=student.familyName,
        stamp=stamp,
    )
    guardian = guardian._replace(agents=(student.sourcedId,))
    return [student._replace(agents=(guardian.sourcedId,)), guardian]


def student_enrollments(
    gen: Generator,
    student: User,
    homerooms: dict[str, list[Class]],
    scheduled: dict[str, list[Class]],
    sessions: Sessions,
    stamp: str | None = None,
) -> list[Enrollment]:
    """A homeroom of the student's grade (any homeroom if none) plus scheduled classes of it."""
    rng = gen.rng
    grade = student.grades[0]
    rooms = homerooms.get(grade) or [c for rs in homerooms.values() for c in rs]
    picked = [rng.choice(rooms)] if rooms else []
    pool = scheduled.get(grade, [])
    picked += rng.sample(pool, k=min(gen.spec.classes_per_student - len(picked), len(pool)))
    school_id = student.orgs[0]
    result = []
    for klass in picked:
        begin, end = sessions.span(klass.terms)
        result.append(
            Enrollment(
                gen.guid(),
                "active",
                stamp or gen.stamp(),
                student.sourcedId,
                klass.sourcedId,
                school_id,
                "student",
                False,
                begin,
                end,
            )
        )
    return result
