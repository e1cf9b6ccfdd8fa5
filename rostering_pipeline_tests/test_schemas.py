"""The pandera models: each row-level rule rejects a bad value and accepts a good one.

`make_frame` and `VALID` build small frames with the contract's dtypes; test_validation.py uses
them too.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pandera.pandas as pa
import pytest

from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.schemas import SCHEMAS

# One valid row per entity; the referenced ids are o1 (org), y1 (session), k1 (course),
# c1 (class) and u1 (user).
VALID: dict[str, dict[str, object]] = {
    "orgs": {"status": "active", "name": "North High", "org_type": "school", "identifier": "NH"},
    "academic_sessions": {
        "status": "active",
        "title": "2025-2026",
        "session_type": "schoolYear",
        "start_date": dt.date(2025, 8, 1),
        "end_date": dt.date(2026, 6, 30),
        "school_year": "2026",
    },
    "courses": {
        "status": "active",
        "title": "Algebra I",
        "org_sourced_id": "o1",
        "school_year_sourced_id": "y1",
        "grades": '["09"]',
    },
    "classes": {
        "status": "active",
        "title": "Algebra I, period 1",
        "class_type": "scheduled",
        "course_sourced_id": "k1",
        "school_sourced_id": "o1",
        "term_sourced_ids": '["y1"]',
        "periods": '["1"]',
        "grades": '["09"]',
    },
    "users": {
        "status": "active",
        "role": "student",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.org",
        "grades": '["09"]',
        "enabled": True,
        "org_sourced_ids": '["o1"]',
        "school_roles": "[]",
    },
    "enrollments": {
        "status": "active",
        "user_sourced_id": "u1",
        "class_sourced_id": "c1",
        "school_sourced_id": "o1",
        "role": "student",
        "is_primary": False,
        "begin_date": dt.date(2025, 8, 15),
        "end_date": dt.date(2026, 6, 5),
    },
}


def make_frame(entity: str, *overrides: dict[str, object]) -> pd.DataFrame:
    """One valid row per `overrides` item, with its changes; sourced_ids default to r0, r1..."""
    definition = ENTITIES[entity]
    rows = [
        {"sourced_id": f"r{number}", **VALID[entity], **changes}
        for number, changes in enumerate(overrides)
    ]
    return pd.DataFrame(rows, columns=list(definition.all_columns)).astype(definition.dtypes())


def failed_rules(entity: str, frame: pd.DataFrame) -> set[tuple[str, str]]:
    """(check, column) of every failure case the entity's model reports."""
    try:
        SCHEMAS[entity].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return set(zip(cases["check"].astype(str), cases["column"].astype(str), strict=True))
    return set()


@pytest.mark.parametrize("entity", ENTITIES)
def test_a_valid_row_passes(entity):
    assert failed_rules(entity, make_frame(entity, {})) == set()


@pytest.mark.parametrize("entity", ENTITIES)
def test_an_empty_frame_passes(entity):
    assert failed_rules(entity, ENTITIES[entity].empty_frame()) == set()


# (entity, column, a value breaking the rule, a value satisfying it, rule)
RULE_EXAMPLES = [
    *(
        (entity, column, bad, "active" if column == "status" else "x", "required")
        for entity in ENTITIES
        for column in ("sourced_id", "status")
        for bad in (None, "  ")
    ),
    ("orgs", "name", None, "South Middle", "required"),
    ("orgs", "name", "", "South Middle", "required"),
    ("orgs", "org_type", None, "district", "required"),
    ("academic_sessions", "title", None, "Fall", "required"),
    ("academic_sessions", "session_type", None, "term", "required"),
    ("academic_sessions", "start_date", None, dt.date(2025, 9, 1), "required"),
    ("academic_sessions", "end_date", None, dt.date(2026, 1, 1), "required"),
    ("courses", "title", None, "Geometry", "required"),
    ("courses", "org_sourced_id", None, "o2", "required"),
    ("courses", "grades", None, "[]", "required"),
    ("classes", "title", None, "Homeroom", "required"),
    ("classes", "course_sourced_id", None, "k2", "required"),
    ("classes", "school_sourced_id", None, "o2", "required"),
    ("classes", "term_sourced_ids", None, "[]", "required"),
    ("classes", "periods", None, "[]", "required"),
    ("users", "role", None, "teacher", "required"),
    ("users", "org_sourced_ids", None, "[]", "required"),
    ("enrollments", "user_sourced_id", None, "u2", "required"),
    ("enrollments", "class_sourced_id", None, "c2", "required"),
    ("enrollments", "role", None, "teacher", "required"),
    *((entity, "status", "inactive", "tobedeleted", "allowed_value") for entity in ENTITIES),
    ("orgs", "org_type", "campus", "department", "allowed_value"),
    ("academic_sessions", "session_type", "quarter", "gradingPeriod", "allowed_value"),
    ("classes", "class_type", "lab", "homeroom", "allowed_value"),
    ("classes", "class_type", "lab", None, "allowed_value"),
    ("users", "role", "janitor", "guardian", "allowed_value"),
    ("users", "role", "Student", "aide", "allowed_value"),
    ("enrollments", "role", "janitor", "proctor", "allowed_value"),
    ("enrollments", "role", "janitor", "aide", "allowed_value"),  # any user role is accepted
    ("users", "email", "ada", "ada.lovelace@example.org", "email_shape"),
    ("users", "email", "ada@@example.org", None, "email_shape"),
    ("users", "email", "ada@example", "a+b@mail.example.org", "email_shape"),
    ("users", "email", "ada love@example.org", "ada@example.org", "email_shape"),
    *((entity, "invalid_fields", "source_modified_at", None, "parses") for entity in ENTITIES),
]


@pytest.mark.parametrize(("entity", "column", "bad", "good", "rule"), RULE_EXAMPLES)
def test_each_rule_rejects_a_bad_value_and_accepts_a_good_one(entity, column, bad, good, rule):
    assert (rule, column) in failed_rules(entity, make_frame(entity, {column: bad}))
    assert failed_rules(entity, make_frame(entity, {column: good})) == set()


@pytest.mark.parametrize(
    ("entity", "begin", "end"),
    [("academic_sessions", "start_date", "end_date"), ("enrollments", "begin_date", "end_date")],
)
def test_an_end_before_its_begin_fails_and_a_same_day_end_passes(entity, begin, end):
    day = dt.date(2026, 1, 10)
    before = make_frame(entity, {begin: day, end: day - dt.timedelta(days=1)})
    assert "end_not_before_begin" in {check for check, _ in failed_rules(entity, before)}
    assert failed_rules(entity, make_frame(entity, {begin: day, end: day})) == set()


def test_an_enrollment_without_dates_passes():
    assert (
        failed_rules(
            "enrollments", make_frame("enrollments", {"begin_date": None, "end_date": None})
        )
        == set()
    )


def test_a_duplicate_sourced_id_fails():
    frame = make_frame("orgs", {"sourced_id": "o1"}, {"sourced_id": "o1"})
    assert ("field_uniqueness", "sourced_id") in failed_rules("orgs", frame)


def test_a_missing_column_an_extra_column_and_a_wrong_dtype_fail():
    frame = make_frame("users", {}).drop(columns="email").assign(password="hunter2")
    frame["enabled"] = frame["enabled"].astype(object)
    checks = {check for check, _ in failed_rules("users", frame)}
    assert {"column_in_dataframe", "column_in_schema", "dtype('boolean')"} <= checks
