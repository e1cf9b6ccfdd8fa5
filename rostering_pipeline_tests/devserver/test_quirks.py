"""Each provider difference, as it shows on the wire."""

from __future__ import annotations

from dataclasses import replace

from rostering_pipeline.devserver import Quirks

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
