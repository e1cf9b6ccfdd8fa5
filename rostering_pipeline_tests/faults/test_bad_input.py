"""A corpus of bad provider input, end to end: quarantined rows left as they were, or a refused
pull with its exit code and the app DB exactly as before; injected text stored as data, shown
escaped in Dagster, and no person's name or e-mail in Dagster's event log."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import metadata
from rostering_pipeline.devserver import ProviderServer
from rostering_pipeline.devserver.records import Enrollment, User
from rostering_pipeline.devserver.tamper import REMOVE
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import (
    assert_converged,
    export,
    run_events,
    synced,
)

SQL_NAME = "Robert'); DROP TABLE users;--"
MARKUP_NAME = "<script>alert('x')</script> | **bold** [link](javascript:alert(1))"
ENORMOUS_NAME = "Ω" * 500_000  # 1 MB of UTF-8
CONTROL_NAME = "Tab\tEsc\x1b[31mRed\u202eRtl\r\nNext line"
MARKUP_ID = "<script>alert(1)</script>|**x**"
SQL_ID = "e'); DROP TABLE enrollments;--"


def students(provider: ProviderServer) -> list[User]:
    return [u for u in provider.district.tables["users"].records if u.role == "student"]


def student_enrollments(provider: ProviderServer, of: list[User]) -> list[Enrollment]:
    """One enrollment for each of these students."""
    first: dict[str, Enrollment] = {}
    for enrollment in provider.district.tables["enrollments"].records:
        first.setdefault(enrollment.user, enrollment)
    return [first[user.sourcedId] for user in of]


def ref(kind: str, sourced_id: str) -> dict[str, str]:
    return {"href": f"/{kind}s/{sourced_id}", "sourcedId": sourced_id, "type": kind}


@pytest.fixture
def districts(env, provider) -> sa.Engine:
    register(env, provider, "d1")
    register(env, provider, "ref")
    return env


def test_bad_rows_are_quarantined_and_injected_text_stays_data(districts, provider):
    synced("d1")
    baseline = export(districts, "d1")
    people = students(provider)
    missing, *named = (user.sourcedId for user in people[:5])
    tamper = provider.tampering
    tamper.override("users", missing, role=REMOVE)
    names = {
        named[0]: ("given_name", SQL_NAME),
        named[1]: ("family_name", MARKUP_NAME),
        named[2]: ("given_name", ENORMOUS_NAME),
        named[3]: ("given_name", CONTROL_NAME),
    }
    wire = {"given_name": "givenName", "family_name": "familyName"}
    for sourced_id, (column, text) in names.items():
        tamper.override("users", sourced_id, **{wire[column]: text})

    bad: dict[str, dict[str, object]] = {  # nine of ~2,200 enrollments: under the ratio
        "dangling class": {"class": ref("class", "no-such-class")},
        "dangling user": {"user": ref("user", "no-such-user")},
        "primary not a boolean": {"primary": "maybe"},
        "begin date not a date": {"beginDate": "not-a-date"},
        "unknown role": {"role": "wizard"},
        "missing role": {"role": REMOVE},
        "ends before it begins": {"endDate": "2000-01-01"},
        "markup id": {"sourcedId": MARKUP_ID, "class": ref("class", "no-such-class")},
        "sql id": {"sourcedId": SQL_ID, "user": ref("user", "no-such-user")},
    }
    targets = student_enrollments(provider, people[5 : 5 + len(bad)])
    for enrollment, fields in zip(targets, bad.values(), strict=True):
        tamper.override("enrollments", enrollment.sourcedId, **fields)

    outcome = synced("d1")
    roster = outcome.changes
    assert roster["users"]["quarantined"] == 1
    # The quarantined user's enrollments are held back with it.
    dependents = [e for e in provider.district.tables["enrollments"].records if e.user == missing]
    assert dependents
    assert roster["enrollments"]["quarantined"] == len(bad)
    assert roster["enrollments"]["dependent_quarantined"] == len(dependents)
    after = export(districts, "d1")
    # Quarantined rows keep their stored state; rows renamed to a new id never land.
    assert after.row("users", missing) == baseline.row("users", missing)
    renamed = {t.sourcedId for t, f in zip(targets, bad.values(), strict=True) if "sourcedId" in f}
    for enrollment in targets:
        if enrollment.sourcedId not in renamed:
            assert after.row("enrollments", enrollment.sourcedId) == baseline.row(
                "enrollments", enrollment.sourcedId
            )
    assert after.row("enrollments", MARKUP_ID) is None and after.row("enrollments", SQL_ID) is None
    # Injected names are data: stored exactly as sent, every table still there.
    for sourced_id, (column, text) in names.items():
        assert after.row("users", sourced_id)[column] == text, column
    assert set(metadata.tables) <= set(sa.inspect(districts).get_table_names())

    check_text = "\n".join(
        str(entry.dagster_event.event_specific_data.metadata)
        for entry in run_events(outcome.run_id)
        if entry.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    assert "&#60;script&#62;" in check_text  # the markup id is shown, escaped
    for raw in (MARKUP_ID, SQL_ID, "<script", "**x**", "');"):
        assert raw not in check_text, raw
    assert_no_personal_data_in_events(
        provider, outcome.run_id, extra=[t for _, t in names.values()]
    )

    tamper.clear()
    synced("d1")
    assert_converged(districts, "d1", "ref")


def assert_no_personal_data_in_events(
    provider: ProviderServer, run_id: str, extra: list[str]
) -> None:
    """No e-mail or full name of any user (nor the injected names) in the run's event log."""
    events = "\n".join(dg.serialize_value(entry) for entry in run_events(run_id))
    people = provider.district.tables["users"].records
    personal = [u.email for u in people] + [f"{u.givenName} {u.familyName}" for u in people]
    personal += [dg.serialize_value(text)[1:-1] for text in extra]  # as JSON would carry them
    leaked = [value for value in personal if value and value in events]
    assert not leaked, leaked[:5]


def _duplicate_sourced_id(provider: ProviderServer) -> None:
    provider.tampering.duplicate("users", students(provider)[0].sourcedId)


def _required_fields_missing(provider: ProviderServer) -> None:
    for user in students(provider)[:5]:  # ~1.5% of the users: over the 0.5% quarantine ratio
        provider.tampering.override("users", user.sourcedId, role=REMOVE)


def _wrong_json_types(provider: ProviderServer) -> None:
    odd = ({"enabledUser": "maybe"}, {"grades": {"09": True}}, {"orgs": 42}, {"role": ["student"]})
    for user, fields in zip(students(provider), odd * 2, strict=False):
        provider.tampering.override("users", user.sourcedId, **fields)


def _dangling_references(provider: ProviderServer) -> None:
    for enrollment in provider.district.tables["enrollments"].records[:30]:
        provider.tampering.override(
            "enrollments", enrollment.sourcedId, **{"class": ref("class", "no-such-class")}
        )


def _malformed_body(provider: ProviderServer) -> None:
    provider.inject("html", times=1, path="/classes")


REFUSED: dict[str, tuple[Callable[[ProviderServer], None], int, str]] = {
    "duplicate sourcedIds": (_duplicate_sourced_id, 6, "more than once"),
    "required fields missing": (_required_fields_missing, 3, "users"),
    "wrong JSON types": (_wrong_json_types, 3, "users"),
    "dangling references": (_dangling_references, 3, "enrollments"),
    "malformed JSON body": (_malformed_body, 6, "HTML"),
}


@pytest.mark.postgres
def test_bad_pulls_are_refused_with_their_exit_code_and_apply_nothing(pg_env, provider):
    # PostgreSQL only: the refusal comes before the reconciliation, whose atomicity on both
    # databases the kill points prove.
    register(pg_env, provider, "d1")
    register(pg_env, provider, "ref")
    synced("d1")
    provider.advance_day()  # a refused pull has real changes it must not apply
    before = export(pg_env, "d1").applied
    for case, (arrange, exit_code, named) in REFUSED.items():
        arrange(provider)
        refused = sync_in_process("d1")
        assert (refused.success, refused.exit_code) == (False, exit_code), (case, refused.message)
        assert named in refused.message, (case, refused.message)
        assert export(pg_env, "d1").applied == before, case
        provider.tampering.clear()
    synced("d1")
    assert_converged(pg_env, "d1", "ref")


def test_a_nul_character_quarantines_its_row(env, provider):
    register(env, provider, "d1")
    provider.tampering.override("users", students(provider)[0].sourcedId, givenName="Nul\x00Byte")
    outcome = sync_in_process("d1")
    assert outcome.success, outcome.message
    assert outcome.changes["users"]["quarantined"] == 1
