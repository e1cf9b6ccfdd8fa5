"""Each provider difference, as it shows on the wire."""

from __future__ import annotations

from dataclasses import replace
from email.utils import parsedate_to_datetime

import pytest

from rostering_pipeline.devserver import Quirks
from rostering_pipeline.devserver.feeds import FUTURE_STAMP, FeedQuirks, parse_feed

NEVER_STORED = {"password", "phone", "sms", "userIds", "agents", "metadata"}


def _set(server, **changes) -> None:
    server.quirks = replace(Quirks(), **changes)


def test_page_size_cap_is_silent(server, api):
    _set(server, page_size_cap=50)
    response = api.get("/users", params={"limit": 500, "offset": 0, "sort": "sourcedId"})
    assert len(response.json()["users"]) == 50
    assert int(response.headers["X-Total-Count"]) == len(server.district.tables["users"])
    assert "offset=50" in response.headers["Link"]


def test_users_envelope_variants(server, api):
    _set(server, users_envelope="students")
    assert set(api.get("/users").json()) == {"students"}
    assert set(api.get("/teachers").json()) == {"teachers"}
    _set(server, users_envelope="teachers")
    assert set(api.get("/users").json()) == {"teachers"}


def test_terms_envelope(server, api):
    _set(server, sessions_envelope="terms")
    assert set(api.get("/academicSessions").json()) == {"terms"}
    assert set(api.get("/terms").json()) == {"terms"}


def test_bool_styles(server, api):
    for style, expected in (
        ("json", {True, False}),
        ("lower", {"true", "false"}),
        ("title", {"True", "False"}),
    ):
        _set(server, bool_style=style)
        rows = api.get("/enrollments", params={"limit": 1000, "fields": "primary"}).json()
        assert {r["primary"] for r in rows["enrollments"]} == expected, style
        users = api.get("/users", params={"limit": 1000, "fields": "enabledUser"}).json()["users"]
        assert {u["enabledUser"] for u in users} <= expected


def test_periods_as_string(server, api):
    _set(server, periods_as_string=True)
    periods = [c["periods"] for c in api.get("/classes", params={"limit": 300}).json()["classes"]]
    assert all(isinstance(p, str) for p in periods)
    assert any("," in p for p in periods)


def test_relative_href(server, api):
    _set(server, relative_href=True)
    user = api.get("/users", params={"limit": 1}).json()["users"][0]
    assert user["orgs"][0]["href"] == f"~/ims/oneroster/v1p1/orgs/{user['orgs'][0]['sourcedId']}"


def test_unsorted_without_sort(server, api):
    shuffled = [u["sourcedId"] for u in api.get("/users", params={"limit": 200}).json()["users"]]
    assert shuffled != sorted(shuffled)
    again = [u["sourcedId"] for u in api.get("/users", params={"limit": 200}).json()["users"]]
    assert again == shuffled  # stable between requests, just not sorted
    _set(server, unsorted_without_sort=False)
    plain = [u["sourcedId"] for u in api.get("/users", params={"limit": 200}).json()["users"]]
    assert plain == sorted(plain)


def test_reject_fields(server, api):
    _set(server, reject_fields=True)
    response = api.get("/users", params={"fields": "sourcedId"})
    assert response.status_code == 400
    assert "invalid_selection_field" in response.text
    assert api.get("/users").status_code == 200


def test_html_errors(server, api):
    _set(server, html_errors=True)
    response = api.get("/users", params={"sort": "nope"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_no_total_count_and_no_link(server, api):
    _set(server, total_count=False, link_header=False)
    response = api.get("/users")
    assert "X-Total-Count" not in response.headers and "Link" not in response.headers


def test_duplicate_across_pages(server, api):
    _set(server, duplicate_across_pages=True)
    first = api.get("/users", params={"limit": 10, "offset": 0, "sort": "sourcedId"}).json()[
        "users"
    ]
    second = api.get("/users", params={"limit": 10, "offset": 10, "sort": "sourcedId"}).json()[
        "users"
    ]
    assert second[0] == first[-1] and len(second) == 10


def test_repeat_first_page(server, api):
    _set(server, repeat_first_page=True)
    first = api.get("/users", params={"limit": 10, "offset": 0, "sort": "sourcedId"}).json()
    assert (
        api.get("/users", params={"limit": 10, "offset": 30, "sort": "sourcedId"}).json() == first
    )


def test_extra_fields_we_must_never_store(server, api):
    users = api.get("/users", params={"limit": 1000}).json()["users"]
    assert all(set(u) >= NEVER_STORED for u in users)
    assert any(u["agents"] for u in users)
    assert any(k.startswith("ext:") for k in users[0]["metadata"])
    _set(server, extra_fields=False)
    users = api.get("/users", params={"limit": 1000}).json()["users"]
    assert not any(NEVER_STORED & set(u) for u in users)
    assert {u["role"] for u in users} >= {"guardian", "parent", "relative", "student"}


# --- what real servers send beyond the spec (devserver/feeds.py) -----------------------------


def _feed(server, **knobs) -> None:
    server.quirks = replace(Quirks(), feed=FeedQuirks(**knobs))


def test_the_provider_clock_is_its_date_header(server, api):
    response = api.get("/orgs")
    assert parsedate_to_datetime(response.headers["Date"]) == server.provider.clock()
    assert len(response.headers.get_list("Date")) == 1


def test_feed_enumerations_in_title_case(server, api):
    _feed(server, enum_case=True)
    classes = api.get("/classes", params={"limit": 50}).json()["classes"]
    assert {c["classType"] for c in classes} <= {"Homeroom", "Scheduled"}
    assert {c["status"] for c in classes} == {"Active"}
    users = api.get("/users", params={"limit": 50}).json()["users"]
    assert {u["role"][0] for u in users} <= set("AGPST")


def test_feed_csv_blanks_and_a_date_filter_that_matches_nothing(server, api):
    _feed(server, csv_blanks=True)
    users = api.get("/users", params={"limit": 20}).json()["users"]
    assert {u["dateLastModified"] for u in users} == {""}
    assert {u["status"] for u in users} == {""}
    since = {"filter": "dateLastModified>'2000-01-01T00:00:00Z'"}
    assert api.get("/users", params=since).json()["users"] == []


def test_feed_timestamps_naive_and_date_only_compared_by_day(server, api):
    _feed(server, timestamps="naive", local_zone="Europe/Oslo")
    stamp = api.get("/orgs").json()["orgs"][0]["dateLastModified"]
    assert len(stamp) == len("2026-08-17 02:00:00") and "T" not in stamp
    _feed(server, timestamps="date_only", local_zone="UTC")
    record = server.district.tables["users"].records[0]
    server.edit("users", record.sourcedId, givenName="Changed")  # stamped at the clock's noon
    day = server.provider.clock().date().isoformat()
    later_that_day = {"filter": f"dateLastModified>'{day}T18:00:00Z'"}
    assert api.get("/users", params=later_that_day).json()["users"] == []  # same day: not >
    day_before = {"filter": f"dateLastModified>'{day}T00:00:00Z'", "limit": 1000}
    served = api.get("/users", params=day_before).json()["users"]
    assert record.sourcedId not in {u["sourcedId"] for u in served}  # by day: not after
    assert api.get(f"/users/{record.sourcedId}").json()["user"]["dateLastModified"] == day


def test_feed_totals_ignore_the_filter(server, api):
    _feed(server, totals_ignore_filter=True)
    response = api.get("/users", params={"filter": "dateLastModified>'2099-01-01T00:00:00Z'"})
    assert response.json()["users"] == []
    assert int(response.headers["X-Total-Count"]) == len(server.district.tables["users"])


def test_feed_school_year_grades_future_stamps_bare_refs_and_bare_arrays(server, api):
    _feed(server, school_year_as_year=True, non_ceds_grades=True, future_dated_users=2,
          refs_without_sourced_id=1)  # fmt: skip
    course = api.get("/courses").json()["courses"][0]
    assert course["schoolYear"].isdigit() and len(course["schoolYear"]) == 4
    classes = api.get("/classes", params={"limit": 200}).json()["classes"]
    assert any(g.startswith("Year ") for c in classes for g in c["grades"])
    users = api.get("/users", params={"limit": 2000, "sort": "sourcedId"}).json()["users"]
    students = [u for u in users if u["role"] == "student"]
    assert [u["dateLastModified"] for u in students[:3]] == [FUTURE_STAMP] * 2 + [
        students[2]["dateLastModified"]
    ]
    assert "sourcedId" not in students[0]["orgs"][0] and "sourcedId" in students[1]["orgs"][0]
    _feed(server, bare_array=True)
    assert isinstance(api.get("/orgs").json(), list)


def test_feed_upper_case_user_ids_and_their_references(server, api):
    _feed(server, upper_case_user_ids=True)
    user = api.get("/users", params={"limit": 1}).json()["users"][0]
    assert user["sourcedId"] == user["sourcedId"].upper() != user["sourcedId"].lower()
    enrollment = api.get("/enrollments", params={"limit": 1}).json()["enrollments"][0]
    assert enrollment["user"]["sourcedId"] == enrollment["user"]["sourcedId"].upper()


def test_feed_knobs_from_the_command_line():
    assert parse_feed(("enum_case", "timestamps=date_only", "future_dated_users=3")) == (
        FeedQuirks(enum_case=True, timestamps="date_only", future_dated_users=3)
    )
    with pytest.raises(ValueError, match="unknown feed knob 'nope'"):
        parse_feed(("nope",))
