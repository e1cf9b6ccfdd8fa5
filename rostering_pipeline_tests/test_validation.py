"""The validation gate: referential rules, quarantine ratio, structural failures, dependants,
delta references, the Markdown report and the volume warning."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pyarrow as pa
import pytest

from rostering_pipeline.validation import (
    References,
    RuleFailure,
    Validation,
    align_reference_case,
    grade_vocabulary,
    rules,
    validate,
    volume_change,
    volume_count,
)
from rostering_pipeline_tests.test_schemas import make_frame

REFS = References(
    orgs=frozenset({"o1", "o2"}),
    academic_sessions=frozenset({"y1", "t1"}),
    courses=frozenset({"k1"}),
    classes=frozenset({"c1"}),
    users=frozenset({"u1"}),
)


def valid_rows(count: int) -> list[dict[str, object]]:
    return [{} for _ in range(count)]


# (entity, the failing row's changes, the rule and field reported, a passing variant)
REFERENCE_EXAMPLES = [
    ("courses", {"org_sourced_id": "o9"}, "known_reference", "org_sourced_id", {}),
    (
        "courses",
        {"school_year_sourced_id": "y9"},
        "known_reference",
        "school_year_sourced_id",
        {"school_year_sourced_id": None},
    ),
    ("classes", {"school_sourced_id": "o9"}, "known_reference", "school_sourced_id", {}),
    ("classes", {"course_sourced_id": "k9"}, "known_reference", "course_sourced_id", {}),
    (
        "classes",
        {"term_sourced_ids": '["y1","t9"]'},
        "known_reference",
        "term_sourced_ids",
        {"term_sourced_ids": '["y1","t1"]'},
    ),
    (
        "classes",
        {"term_sourced_ids": '["y1"'},  # not JSON
        "known_reference",
        "term_sourced_ids",
        {"term_sourced_ids": "[]"},
    ),
    (
        "users",
        {"org_sourced_ids": '["o9"]'},
        "known_org",
        "org_sourced_ids",
        {"org_sourced_ids": '["o9","o2"]'},
    ),
    ("users", {"org_sourced_ids": "[]"}, "known_org", "org_sourced_ids", {}),
    ("enrollments", {"user_sourced_id": "u9"}, "known_reference", "user_sourced_id", {}),
    ("enrollments", {"class_sourced_id": "c9"}, "known_reference", "class_sourced_id", {}),
    (
        "enrollments",
        {"school_sourced_id": "o9"},
        "known_reference",
        "school_sourced_id",
        {"school_sourced_id": None},
    ),
]


@pytest.mark.parametrize(("entity", "bad", "rule", "field", "good"), REFERENCE_EXAMPLES)
def test_each_referential_rule_rejects_an_unknown_id_and_accepts_a_known_one(
    entity, bad, rule, field, good
):
    failing = validate(entity, make_frame(entity, {"sourced_id": "bad", **bad}), REFS)
    assert failing.failures == (RuleFailure("bad", rule, field),)
    assert validate(entity, make_frame(entity, good), REFS).failures == ()


@pytest.mark.parametrize(("entity", "bad", "rule", "field", "good"), REFERENCE_EXAMPLES)
def test_tobedeleted_rows_are_exempt_from_referential_rules(entity, bad, rule, field, good):
    frame = make_frame(entity, {"status": "tobedeleted", **bad})
    assert validate(entity, frame, REFS).failures == ()


def test_without_references_the_referential_rules_are_skipped():
    frame = make_frame("enrollments", {"user_sourced_id": "u9"})
    assert validate("enrollments", frame, None).failures == ()


def test_a_schema_rule_failure_becomes_a_rule_failure_named_by_sourced_id():
    frame = make_frame("orgs", {}, {"sourced_id": "o7", "org_type": "campus", "name": None})
    verdict = validate("orgs", frame, None, max_quarantine_ratio=0.5)
    assert verdict.failures == (
        RuleFailure("o7", "allowed_value", "org_type"),
        RuleFailure("o7", "required", "name"),
    )
    assert verdict.failing_rows == 1
    assert verdict.quarantined_ids == {"o7"}


def test_failures_of_several_kinds_in_one_frame_keep_their_rule_and_field():
    frame = make_frame(
        "enrollments",
        {"sourced_id": "e1", "role": "janitor", "user_sourced_id": "u9"},
        {"sourced_id": "e2", "begin_date": dt.date(2026, 1, 2), "end_date": dt.date(2026, 1, 1)},
        {"sourced_id": "e3", "invalid_fields": "begin_date", "begin_date": None},
    )
    assert validate("enrollments", frame, REFS, max_quarantine_ratio=1.0).failures == (
        RuleFailure("e1", "allowed_value", "role"),
        RuleFailure("e2", "end_not_before_begin", "end_date"),
        RuleFailure("e1", "known_reference", "user_sourced_id"),
        RuleFailure("e3", "parses", "begin_date"),
    )


def test_unparsed_fields_are_reported_one_by_one():
    frame = make_frame(
        "academic_sessions",
        *valid_rows(9),
        {"sourced_id": "s9", "invalid_fields": "start_date,end_date", "start_date": None},
    )
    verdict = validate("academic_sessions", frame, None, max_quarantine_ratio=0.1)
    assert set(verdict.failures) == {
        RuleFailure("s9", "parses", "start_date"),
        RuleFailure("s9", "parses", "end_date"),
        RuleFailure("s9", "required", "start_date"),
    }
    assert verdict.passed


def test_failures_at_the_ratio_are_quarantined_and_above_it_fail():
    # 200 rows, ratio 0.005: one failing row (with two failures) is exactly at the limit.
    bad = {"sourced_id": "bad1", "role": "janitor", "org_sourced_ids": '["o9"]'}
    at_limit = make_frame("users", *valid_rows(199), bad)
    verdict = validate("users", at_limit, REFS)
    assert verdict.passed
    assert verdict.failing_rows == 1
    assert verdict.quarantined_ids == {"bad1"}
    assert verdict.structural == ()

    above = make_frame("users", *valid_rows(198), bad, {**bad, "sourced_id": "bad2"})
    verdict = validate("users", above, REFS)
    assert not verdict.passed
    assert verdict.failing_rows == 2
    assert verdict.quarantined_ids == frozenset()
    assert {f.sourced_id for f in verdict.failures} == {"bad1", "bad2"}


def test_a_frame_without_failures_passes_with_nothing_quarantined():
    verdict = validate("enrollments", make_frame("enrollments", *valid_rows(3)), REFS)
    assert (verdict.passed, verdict.rows, verdict.failures) == (True, 3, ())
    assert verdict.quarantined_ids == verdict.dependent_quarantined_ids == frozenset()


def test_an_empty_frame_passes():
    assert validate("users", make_frame("users"), REFS).passed


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: f.drop(columns="email"), "missing column email"),
        (lambda f: f.assign(password="x"), "unexpected column password"),
        (
            lambda f: f.astype({"sourced_id": "string[python]"}),
            "wrong dtype for column sourced_id: string, expected string[pyarrow]",
        ),
        (
            lambda f: f.assign(sourced_id=pd.array(["u1", "u1", "u3"], dtype="string[pyarrow]")),
            "duplicate sourced_id: 2 rows share 1 values",
        ),
        (
            lambda f: f.assign(sourced_id=pd.array(["u1", None, None], dtype="string[pyarrow]")),
            "2 rows without sourced_id",
        ),
    ],
)
def test_structural_failures_fail_whatever_the_ratio(damage, message):
    frame = damage(make_frame("users", *valid_rows(3)))
    verdict = validate("users", frame, REFS, max_quarantine_ratio=1.0)
    assert not verdict.passed
    assert message in verdict.structural
    assert verdict.quarantined_ids == frozenset()


def test_duplicate_rows_are_listed_among_the_failures():
    frame = make_frame(
        "orgs",
        {"sourced_id": "o1"},
        {"sourced_id": "o1"},
        {"sourced_id": "o2", "org_type": "campus"},
    )
    assert validate("orgs", frame, REFS).failures == (
        RuleFailure("o2", "allowed_value", "org_type"),
        *(RuleFailure("o1", "unique_sourced_id", "sourced_id"),) * 2,
    )


def test_a_broken_frame_is_reported_not_raised():
    frame = make_frame("enrollments", {}).drop(columns=["begin_date", "sourced_id"])
    frame["user_sourced_id"] = 7
    verdict = validate(
        "enrollments", frame, REFS, upstream_quarantined={"users": frozenset({"u1"})}
    )
    assert not verdict.passed
    assert {
        "missing column begin_date",
        "missing column sourced_id",
        "wrong dtype for column user_sourced_id: int64, expected string[pyarrow]",
    } <= set(verdict.structural)
    assert verdict.dependent_quarantined_ids == frozenset()


def test_enrollments_of_quarantined_users_and_classes_are_quarantined_with_them():
    frame = make_frame(
        "enrollments",
        {"sourced_id": "e1", "user_sourced_id": "u1"},
        {"sourced_id": "e2", "user_sourced_id": "u2", "class_sourced_id": "c1"},
        {"sourced_id": "e3", "class_sourced_id": "c2", "role": "janitor"},
        {"sourced_id": "e4", "user_sourced_id": "u3", "class_sourced_id": "c3"},
        *valid_rows(196),
    )
    refs = REFS.union(References(users=frozenset({"u2", "u3"}), classes=frozenset({"c2", "c3"})))
    verdict = validate(
        "enrollments",
        frame,
        refs,
        upstream_quarantined={"users": frozenset({"u2"}), "classes": frozenset({"c2"})},
    )
    assert verdict.passed
    assert verdict.quarantined_ids == {"e3"}  # its own failure; counted against the ratio once
    assert verdict.dependent_quarantined_ids == {"e2"}
    assert verdict.failing_rows == 1


def test_delta_references_are_the_app_db_ids_plus_the_snapshot_ids():
    snapshot = {
        "courses": make_frame(
            "courses", {"sourced_id": "k2"}, {"sourced_id": "k3", "status": "tobedeleted"}
        ),
        "orgs": make_frame("orgs", {"sourced_id": "o5"}),
    }
    from_snapshot = References.from_frames(snapshot)
    assert from_snapshot == References(orgs=frozenset({"o5"}), courses=frozenset({"k2", "k3"}))
    app_db = References(orgs=frozenset({"o1"}), courses=frozenset({"k1"}))
    refs = app_db.union(from_snapshot)

    classes = make_frame(
        "classes",
        {"course_sourced_id": "k1", "school_sourced_id": "o5", "term_sourced_ids": "[]"},
        {"course_sourced_id": "k2", "school_sourced_id": "o1", "term_sourced_ids": "[]"},
    )
    assert validate("classes", classes, refs).failures == ()
    assert validate("classes", classes, from_snapshot).failures == (
        RuleFailure("r0", "known_reference", "course_sourced_id"),
        RuleFailure("r1", "known_reference", "school_sourced_id"),
    )


def test_the_markdown_escapes_provider_text_and_never_shows_an_email():
    hostile = "x|<script>*_`[y](z)"
    frame = make_frame(
        "users",
        {"sourced_id": hostile, "email": "ada lovelace@example.org", "given_name": hostile},
        {"sourced_id": "u2", "email": "grace@example.org", "role": "janitor"},
        *valid_rows(2),
    )
    verdict = validate("users", frame, REFS, max_quarantine_ratio=0.5)
    text = verdict.markdown()
    for raw in ("<script>", "|<", "*_", "`[", "](", "example.org", "ada", "grace"):
        assert raw not in text
    assert "x&#124;&#60;script&#62;&#42;&#95;&#96;&#91;y&#93;&#40;z&#41;" in text
    assert "example.org" not in repr(verdict) + repr(verdict.failures)
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.count("|") == 4  # provider text never adds a cell


def test_the_markdown_sample_is_bounded_and_shows_every_rule():
    frame = make_frame(
        "users",
        *({"role": "janitor"} for _ in range(30)),
        {"sourced_id": "bad-email", "email": "nope"},
    )
    verdict = validate("users", frame, REFS, max_quarantine_ratio=1.0)
    assert verdict.counts() == {("allowed_value", "role"): 30, ("email_shape", "email"): 1}
    assert {f.rule for f in verdict.sample(2)} == {"allowed_value", "email_shape"}
    assert len(verdict.sample(5)) == 5
    text = verdict.markdown(n=5)
    assert "| `allowed_value` | `role` | 30 |" in text
    assert sum(1 for line in text.splitlines() if re.match(r"\| r\d+ ", line)) == 4
    assert "| bad-email | `email` | `email_shape` |" in text


def test_an_overlong_sourced_id_is_cut_in_the_markdown():
    frame = make_frame("orgs", {"sourced_id": "z" * 5000, "org_type": "campus"})
    assert len(validate("orgs", frame, None, max_quarantine_ratio=1.0).markdown()) < 1000


def test_references_keep_each_entitys_ids_once_as_arrow_strings():
    refs = References(users=["u2", "u1", "u2", None], orgs=pa.chunked_array([["o1"], ["o1"]]))
    assert isinstance(refs.ids("users"), pa.Array)  # not a set of Python strings
    assert refs.ids("users").to_pylist() == ["u1", "u2"]
    assert refs == References(users=frozenset({"u1", "u2"}), orgs={"o1"})
    assert refs != References(users=frozenset({"u1"}), orgs={"o1"})
    assert refs.id_set("orgs") == frozenset({"o1"})


def test_reprs_stay_short():
    refs = References(users=frozenset(f"u{n}" for n in range(10_000)))
    assert repr(refs) == (
        "References(orgs=0, academic_sessions=0, courses=0, classes=0, users=10000)"
    )
    frame = make_frame("users", *({"role": "janitor"} for _ in range(1000)))
    assert len(repr(validate("users", frame, None))) < 300


def test_rules_lists_what_a_verdict_may_name():
    assert set(rules("users")) == {
        "unique_sourced_id",
        "required",
        "allowed_value",
        "email_shape",
        "parses",
        "known_org",
    }
    assert "end_not_before_begin" in rules("enrollments")


def test_an_unknown_entity_is_refused():
    with pytest.raises(ValueError, match="unknown entity 'students'"):
        validate("students", make_frame("users"), None)


def test_volume_warns_when_active_students_fall_sharply():
    students = make_frame(
        "users",
        *valid_rows(74),
        *({"role": "teacher"} for _ in range(50)),
        *({"status": "tobedeleted"} for _ in range(50)),
    )
    current = volume_count("users", students)
    sharp = volume_change("users", current, 100)
    assert (sharp.ok, sharp.current, sharp.previous, sharp.measure) == (
        False,
        74,
        100,
        "active students",
    )
    assert "WARN" in sharp.summary
    assert volume_change("users", current, 98).ok  # a 24.5% drop
    assert volume_change("users", current, None).ok


def test_volume_counts_active_enrollments():
    frame = make_frame("enrollments", *valid_rows(3), {"status": "tobedeleted"})
    current = volume_count("enrollments", frame)
    verdict = volume_change("enrollments", current, 5, drop_ratio=0.5)
    assert (verdict.current, verdict.ok, verdict.measure) == (3, True, "active rows")
    assert not volume_change("enrollments", current, 7, drop_ratio=0.5).ok


def test_grades_outside_ceds_warn_with_counts_and_escaped_examples_and_never_fail():
    frame = make_frame(
        "users",
        {"sourced_id": "u1", "grades": '["6 ano - Portugues"]'},
        {"sourced_id": "u2", "grades": '["6 ano - Portugues","07"]'},
        {"sourced_id": "u3", "grades": '["Year 7"]'},
        {"sourced_id": "u4", "grades": '["<b>x</b>"]'},
        {"sourced_id": "u5", "grades": '["07"]'},
    )
    assert validate("users", frame, None).passed  # never a blocking failure
    grades = grade_vocabulary("users", frame)
    assert not grades.ok
    assert (grades.rows, grades.distinct) == (4, 3)
    assert grades.values[0] == ("6 ano - Portugues", 2)
    shown = grades.markdown()
    assert "<b>" not in shown and "&#60;b&#62;" in shown
    assert grade_vocabulary("users", make_frame("users", {"sourced_id": "u1"})).ok


def test_references_differing_only_in_case_take_the_known_spelling():
    frame = make_frame(
        "enrollments",
        {"sourced_id": "e1", "user_sourced_id": "U1"},  # known as u1
        {"sourced_id": "e2", "user_sourced_id": "AB"},  # ab and Ab known: ambiguous, untouched
        {"sourced_id": "e3", "user_sourced_id": "u9"},  # unknown in any case: untouched
    )
    refs = References(users=frozenset({"u1", "ab", "Ab"}))
    aligned, count = align_reference_case("enrollments", frame, refs)
    assert count == 1
    assert aligned["user_sourced_id"].tolist() == ["u1", "AB", "u9"]
    assert aligned["user_sourced_id"].dtype == frame["user_sourced_id"].dtype
    assert frame["user_sourced_id"].tolist() == ["U1", "AB", "u9"]  # the input is left alone


# --- a pull validated in chunks ---------------------------------------------------------------

CHUNK_REFS = References(
    orgs=frozenset({"o1"}), classes=frozenset({"c1"}), users=frozenset({"u1", "u2", "u3"})
)


def enrollments(count: int, **changes: dict[int, dict]) -> pd.DataFrame:
    rows = [
        {"sourced_id": f"e{n:03d}", "user_sourced_id": "u1", "class_sourced_id": "c1"}
        for n in range(count)
    ]
    for n, change in changes.get("at", {}).items():
        rows[n] |= change
    return make_frame("enrollments", *rows)


def in_chunks(frame: pd.DataFrame, size: int) -> Validation:
    validation = Validation(
        "enrollments", CHUNK_REFS, upstream_quarantined={"users": frozenset({"u3"})}
    )
    for start in range(0, len(frame), size):
        validation.add(frame.iloc[start : start + size])
    return validation


@pytest.mark.parametrize(
    "at",
    [
        # one unknown class in each of two chunks: 2 of 400 rows, under the 0.5 % ratio only
        # when counted over the whole pull (each chunk of 100 alone would be over it)
        {5: {"class_sourced_id": "c9"}, 250: {"class_sourced_id": "c9"}},
        # a sourced_id repeated in another chunk: structural, as in one frame
        {7: {"sourced_id": "e350"}},
        # a dependant of a quarantined user in a later chunk, and a row of it failing too
        {320: {"user_sourced_id": "u3"}, 330: {"user_sourced_id": "u3", "class_sourced_id": "c9"}},
        # a row without a sourced_id: structural (quarantine is keyed by it)
        {399: {"sourced_id": None}},
    ],
)
def test_a_pull_validated_in_chunks_gets_the_verdict_of_the_whole(at):
    frame = enrollments(400, at=at)
    whole = validate(
        "enrollments", frame, CHUNK_REFS, upstream_quarantined={"users": frozenset({"u3"})}
    )
    chunked = in_chunks(frame, 100).verdict()

    assert chunked == whole
    assert chunked.failures == whole.failures  # (left out of the equality: repr=False fields)
    assert (chunked.quarantined_ids, chunked.dependent_quarantined_ids) == (
        whole.quarantined_ids,
        whole.dependent_quarantined_ids,
    )


def test_the_chunks_verdict_counts_failures_over_the_pull():
    verdict = in_chunks(enrollments(400, at={5: {"class_sourced_id": "c9"}}), 3).verdict()
    assert verdict.passed and verdict.rows == 400 and verdict.quarantined_ids == {"e005"}
    repeated = in_chunks(enrollments(400, at={7: {"sourced_id": "e350"}}), 100).verdict()
    assert not repeated.passed
    assert repeated.structural == ("duplicate sourced_id: 2 rows share 1 values",)
