"""The district's next day, and the delta filter that finds exactly what changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rostering_pipeline.devserver import (
    DistrictSpec,
    ProviderServer,
    ProviderSettings,
    Quirks,
    generate,
)
from rostering_pipeline.devserver.daily import advance_day
from rostering_pipeline_tests.devserver.conftest import api_client

SPEC = DistrictSpec.sized(students=1500, seed=7)


@pytest.fixture(scope="module")
def moved() -> Iterator[tuple[ProviderServer, dict, object]]:
    """A provider, the district's tables before, and the changes of day 1."""
    with ProviderServer(ProviderSettings(district=SPEC)) as server:
        before = dict(server.district.tables)
        changes = server.advance_day()
        yield server, before, changes


def test_next_day_is_deterministic():
    one, two = generate(SPEC), generate(SPEC)
    first = [advance_day(one) for _ in range(2)]
    second = [advance_day(two) for _ in range(2)]
    assert first == second
    assert first[0].changed != first[1].changed
    assert one.tables["users"].records == two.tables["users"].records


def test_changes_of_a_day(moved):
    server, before, changes = moved
    assert changes.day == 1 and server.district.day == 1
    assert changes.modified_at == "2026-08-18T00:00:00.000Z" == server.district.now
    users_before = {u.sourcedId: u for u in before["users"].records}
    users_after = {u.sourcedId: u for u in server.district.tables["users"].records}
    students = sum(u.role == "student" for u in users_before.values())
    marked = [u for u in users_after.values() if u.status == "tobedeleted"]
    gone = set(users_before) - set(users_after)
    joined = [users_after[i] for i in set(users_after) - set(users_before)]
    assert marked and all(u.role == "student" for u in marked)
    assert gone == changes.removed["users"] and gone
    assert sum(u.role == "student" for u in joined) == round(students * 0.02)
    renamed = [
        u for i, u in users_after.items()
        if i in users_before and u.familyName != users_before[i].familyName
    ]  # fmt: skip
    assert renamed and all(u.email != users_before[u.sourcedId].email for u in renamed)
    readdressed = [
        u for i, u in users_after.items()
        if i in users_before and u.email != users_before[i].email and u not in renamed
    ]  # fmt: skip
    assert any(u.role == "teacher" for u in readdressed)
    assert changes.changed["classes"] and changes.changed["enrollments"]
    assert changes.removed["enrollments"]
    for name, table in server.district.tables.items():
        stamped = {r.sourcedId for r in table.records if r.dateLastModified == changes.modified_at}
        assert stamped == changes.changed.get(name, frozenset()), name


def test_leavers_enrollments_follow_them(moved):
    server, _, changes = moved
    tables = server.district.tables
    marked = {u.sourcedId for u in tables["users"].records if u.status == "tobedeleted"}
    for e in tables["enrollments"].records:
        assert e.user not in changes.removed["users"]
        if e.user in marked:
            assert e.status == "tobedeleted"


def test_delta_filter_returns_exactly_the_changed_records(moved):
    server, _, changes = moved
    since = "2026-08-17T00:00:00Z"  # day 0; the high-water mark of a sync made before the change
    with api_client(server) as api:
        for path, table in (
            ("users", "users"),
            ("enrollments", "enrollments"),
            ("classes", "classes"),
        ):
            response = api.get(
                f"/{path}", params={"filter": f"dateLastModified>'{since}'", "limit": 10_000}
            )
            got = {r["sourcedId"] for r in response.json()[path]}
            assert got == changes.changed[table], path
        status = api.get(
            "/users", params={"filter": f"dateLastModified>'{since}' AND status='tobedeleted'"}
        )
        assert {u["status"] for u in status.json()["users"]} == {"tobedeleted"}


def test_inactive_quirk_shows_and_filters_tobedeleted(moved):
    server, _, _ = moved
    marked = {
        u.sourcedId for u in server.district.tables["users"].records if u.status == "tobedeleted"
    }
    server.quirks = Quirks(inactive_status=True)
    try:
        with api_client(server) as api:
            rows = api.get("/users", params={"filter": "status='inactive'", "limit": 5000}).json()[
                "users"
            ]
    finally:
        server.quirks = Quirks()
    assert {u["sourcedId"] for u in rows} == marked
    assert {u["status"] for u in rows} == {"inactive"}
