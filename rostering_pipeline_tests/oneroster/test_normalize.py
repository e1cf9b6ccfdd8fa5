from __future__ import annotations

import datetime as dt

import orjson
import pandas as pd
import pytest

from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.oneroster.normalize import (
    SOURCES,
    MalformedResponse,
    normalize,
    records_from_body,
)

USERS = ENTITIES["users"]
CLASSES = ENTITIES["classes"]
ENROLLMENTS = ENTITIES["enrollments"]
SESSIONS = ENTITIES["academic_sessions"]


def ref(kind: str, sourced_id: str, href: str | None = None) -> dict:
    return {
        "href": href or f"https://p.test/ims/oneroster/v1p1/{kind}s/{sourced_id}",
        "sourcedId": sourced_id,
        "type": kind,
    }


def base(sourced_id: str, **fields: object) -> dict:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": "2026-08-01T10:00:00.5Z",
        **fields,
    }


def one(entity, record: dict, **options) -> dict:
    frame = normalize(entity, [record], **options)
    assert len(frame) == 1
    # Missing values read as None whatever the column's dtype spells them (NA, NaT).
    return {c: None if pd.isna(v := frame[c].iloc[0]) else v for c in frame.columns}


@pytest.mark.parametrize("entity", list(ENTITIES.values()), ids=lambda e: e.name)
def test_every_entity_has_a_source_for_each_contract_column_in_order(entity):
    assert list(SOURCES[entity.name]) == list(entity.columns)


@pytest.mark.parametrize("entity", list(ENTITIES.values()), ids=lambda e: e.name)
def test_frames_have_exactly_the_contract_columns_and_dtypes(entity):
    for records in ([], [base("x1")]):
        frame = normalize(entity, records)
        assert list(frame.columns) == list(entity.all_columns)
        assert frame.dtypes.to_dict() == entity.dtypes()


def test_a_user_is_flattened_and_everything_outside_the_contract_dropped():
    record = base(
        "u1",
        username="zoe.obrien",
        enabledUser="True",
        givenName="Zoë",
        familyName="O'Brien-García",
        middleName="",
        role="student",
        identifier=12345,
        email="zoe@d.test",
        orgs=[ref("org", "s1", href="~/ims/oneroster/v1p1/orgs/s1"), ref("org", "s2")],
        grades=["09"],
        password="hunter2",
        phone="555",
        sms="555",
        userIds=[{"type": "SIS", "identifier": "9"}],
        agents=[ref("user", "g1")],
        metadata={"ext.birthDate": "2010-01-01"},
        demographics={"sex": "female"},
    )
    row = one(USERS, record)
    assert row == {
        "sourced_id": "u1",
        "status": "active",
        "source_modified_at": pd.Timestamp("2026-08-01T10:00:00.5Z"),
        "role": "student",
        "given_name": "Zoë",
        "family_name": "O'Brien-García",
        "middle_name": "",
        "email": "zoe@d.test",
        "username": "zoe.obrien",
        "identifier": "12345",
        "grades": '["09"]',
        "enabled": True,
        "org_sourced_ids": '["s1","s2"]',
        "invalid_fields": None,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        (False, False),
        ("false", False),
        ("FALSE", False),
    ],
)
def test_booleans_in_every_provider_spelling(value, expected):
    assert one(USERS, base("u1", enabledUser=value))["enabled"] == expected
    assert one(ENROLLMENTS, base("e1", primary=value))["is_primary"] == expected


def test_an_unreadable_value_is_null_and_named_in_invalid_fields():
    row = one(ENROLLMENTS, base("e1", primary="yes", beginDate="2026-13-45", endDate="2027-06-10"))
    assert row["is_primary"] is None
    assert row["begin_date"] is None
    assert row["end_date"] == dt.date(2027, 6, 10)
    assert row["invalid_fields"] == "is_primary,begin_date"


def test_a_bad_value_on_one_row_leaves_the_page_s_other_rows_alone():
    frame = normalize(
        USERS,
        [base("u1"), {**base("u2"), "dateLastModified": "yesterday"}, base("u3")],
    )
    assert frame["invalid_fields"].tolist() == [pd.NA, "source_modified_at", pd.NA]
    assert frame["source_modified_at"].notna().tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-08-01T10:00:00Z", "2026-08-01T10:00:00Z"),
        ("2026-08-01T12:00:00+02:00", "2026-08-01T10:00:00Z"),
        ("2026-08-01T10:00:00", "2026-08-01T10:00:00Z"),  # no offset: UTC
        ("2026-08-01T10:00:00.123456789Z", "2026-08-01T10:00:00.123456Z"),
        ("2026-08-01", "2026-08-01T00:00:00Z"),
    ],
)
def test_datetimes_are_parsed_to_utc(stamp, expected):
    row = one(USERS, {**base("u1"), "dateLastModified": stamp})
    assert row["source_modified_at"] == pd.Timestamp(expected)
    assert row["invalid_fields"] is None


def test_session_dates_and_a_numeric_school_year():
    row = one(
        SESSIONS,
        base(
            "t1",
            title="Fall",
            type="semester",
            startDate="2026-08-20",
            endDate="2026-12-20T00:00:00Z",
            schoolYear=2027,
            parent=ref("academicSession", "y1"),
        ),
    )
    assert (row["start_date"], row["end_date"]) == (dt.date(2026, 8, 20), dt.date(2026, 12, 20))
    assert (row["school_year"], row["parent_sourced_id"]) == ("2027", "y1")


@pytest.mark.parametrize(
    ("periods", "expected"),
    [
        ("1", '["1"]'),
        ("1, 2", '["1","2"]'),
        (["1", "2"], '["1","2"]'),
        ([3], '["3"]'),
        (None, "[]"),
    ],
)
def test_periods_as_string_or_list(periods, expected):
    assert one(CLASSES, base("c1", periods=periods))["periods"] == expected


def test_class_references_and_empty_lists():
    row = one(
        CLASSES,
        base(
            "c1",
            course=ref("course", "k1", href="~/ims/oneroster/v1p1/courses/k1"),
            school=ref("org", "s1"),
            terms=[ref("academicSession", "t1"), ref("academicSession", "t2")],
        ),
    )
    assert (row["course_sourced_id"], row["school_sourced_id"]) == ("k1", "s1")
    assert row["term_sourced_ids"] == '["t1","t2"]'
    assert row["grades"] == "[]"


def test_inactive_reads_as_tobedeleted_and_an_unknown_status_is_invalid():
    frame = normalize(
        USERS,
        [
            {**base("u1"), "status": "inactive"},
            {**base("u2"), "status": "tobedeleted"},
            {**base("u3"), "status": "gone"},
        ],
    )
    assert frame["status"].tolist() == ["tobedeleted", "tobedeleted", pd.NA]
    assert frame["invalid_fields"].tolist() == [pd.NA, pd.NA, "status"]


def test_guardians_are_dropped_unless_included():
    records = [
        base(f"u{i}", role=role)
        for i, role in enumerate(["student", "guardian", "Parent", "relative", "teacher"])
    ]
    assert normalize(USERS, records)["sourced_id"].tolist() == ["u0", "u4"]
    assert len(normalize(USERS, records, include_guardians=True)) == 5


@pytest.mark.parametrize("key", ["users", "students", "teachers"])
def test_user_envelope_variants(key):
    assert records_from_body(USERS, orjson.dumps({key: [base("u1")]})) == [base("u1")]


def test_terms_envelope_for_sessions():
    assert len(records_from_body(SESSIONS, orjson.dumps({"terms": [base("t1")]}))) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<!DOCTYPE html><html></html>",
        b'{"users": [',
        b"[]",
        b'{"users": {"a": 1}}',
        b'{"orgs": []}',
    ],
)
def test_bodies_that_are_not_a_collection_are_rejected(body):
    with pytest.raises(MalformedResponse):
        records_from_body(USERS, body)


def test_malformed_references_and_texts_are_invalid_but_missing_ones_are_just_null():
    row = one(
        ENROLLMENTS,
        base("e1", user={"href": "~/users/x", "type": "user"}, school=None, role={"x": 1}),
    )
    assert (row["user_sourced_id"], row["school_sourced_id"], row["role"]) == (None, None, None)
    assert row["class_sourced_id"] is None
    assert row["invalid_fields"] == "user_sourced_id,role"
    terms = one(CLASSES, base("c1", terms=[ref("academicSession", "t1"), {"type": "term"}]))
    assert (terms["term_sourced_ids"], terms["invalid_fields"]) == (None, "term_sourced_ids")
