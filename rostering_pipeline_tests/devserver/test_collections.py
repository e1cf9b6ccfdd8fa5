"""Paging headers, sort, fields, filters and errors, over real HTTP."""

from __future__ import annotations

import re

import pytest


def _links(response) -> dict[str, str]:
    return {
        rel: url for url, rel in re.findall(r'<([^>]+)>;\s*rel="(\w+)"', response.headers["Link"])
    }


def test_paging_headers(server, api):
    total = len(server.district.tables["users"])
    response = api.get("/users", params={"limit": 100, "offset": 200, "sort": "sourcedId"})
    assert response.status_code == 200
    assert int(response.headers["X-Total-Count"]) == total
    assert len(response.json()["users"]) == 100
    links = _links(response)
    assert set(links) == {"next", "last", "first", "prev"}
    assert "offset=300" in links["next"] and "limit=100" in links["next"]
    assert f"offset={(total - 1) // 100 * 100}" in links["last"]
    assert "offset=0" in links["first"] and "offset=100" in links["prev"]
    assert "sort=sourcedId" in links["next"]


def test_last_page_has_no_next_and_past_the_end_is_empty(server, api):
    total = len(server.district.tables["users"])
    last = api.get("/users", params={"limit": 100, "offset": total // 100 * 100})
    assert len(last.json()["users"]) == total % 100
    assert "next" not in _links(last)
    assert api.get("/users", params={"offset": total}).json()["users"] == []


def test_pages_sorted_by_sourced_id_cover_everything_once(server, api):
    ids = []
    for offset in range(0, 1200, 500):
        page = api.get("/users", params={"limit": 500, "offset": offset, "sort": "sourcedId"})
        ids += [u["sourcedId"] for u in page.json()["users"]]
    assert ids == server.district.tables["users"].ids


def test_sort_and_order_by(api):
    asc = api.get("/users", params={"sort": "familyName", "limit": 1000}).json()["users"]
    assert [u["familyName"] for u in asc] == sorted(u["familyName"] for u in asc)
    desc = api.get("/users", params={"sort": "sourcedId", "orderBy": "desc"}).json()["users"]
    assert [u["sourcedId"] for u in desc] == sorted((u["sourcedId"] for u in desc), reverse=True)


def test_default_limit_is_100(api):
    assert len(api.get("/enrollments").json()["enrollments"]) == 100


def test_fields_selects_only_those(api):
    rows = api.get("/users", params={"fields": "sourcedId,email,orgs"}).json()["users"]
    assert {tuple(r) for r in rows} == {("sourcedId", "email", "orgs")}
    one = api.get("/enrollments", params={"fields": "class, primary", "limit": 1}).json()
    assert set(one["enrollments"][0]) == {"class", "primary"}


def test_unknown_field_is_invalid_selection_field(api):
    response = api.get("/users", params={"fields": "sourcedId,shoeSize"})
    assert response.status_code == 400
    info = response.json()["statusInfoSet"][0]
    assert info["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == (
        "invalid_selection_field"
    )
    assert "shoeSize" in info["imsx_description"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"sort": "shoeSize"}, "invalid_sort_field"),
        ({"filter": "shoeSize='9'"}, "invalid_filter_field"),
        ({"filter": "status = active"}, "invalid_filter_field"),
        ({"filter": "dateLastModified>'yesterday'"}, "invalid_filter_field"),
        ({"limit": "0"}, "invaliddata"),
    ],
)
def test_bad_queries_are_400_with_code_minor(api, params, code):
    response = api.get("/users", params=params)
    assert response.status_code == 400
    minor = response.json()["statusInfoSet"][0]["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert minor["imsx_codeMinorFieldValue"] == code


def _filtered(api, expression: str, path: str = "/users") -> list[dict]:
    response = api.get(path, params={"filter": expression, "limit": 5000})
    assert response.status_code == 200, response.text
    rows = response.json()[path.strip("/")]
    assert int(response.headers["X-Total-Count"]) == len(rows)
    return rows


def test_filter_operators_on_date_last_modified(server, api):
    users = server.district.tables["users"].records
    pivot = sorted(u.dateLastModified for u in users)[len(users) // 2]
    expected = {
        "=": [u for u in users if u.dateLastModified == pivot],
        "!=": [u for u in users if u.dateLastModified != pivot],
        ">": [u for u in users if u.dateLastModified > pivot],
        ">=": [u for u in users if u.dateLastModified >= pivot],
        "<": [u for u in users if u.dateLastModified < pivot],
        "<=": [u for u in users if u.dateLastModified <= pivot],
    }
    for op, wanted in expected.items():
        got = _filtered(api, f"dateLastModified{op}'{pivot}'")
        assert {u["sourcedId"] for u in got} == {u.sourcedId for u in wanted}, op


def test_filter_date_values_in_other_iso_forms(server, api):
    users = server.district.tables["users"].records
    day = sorted(u.dateLastModified for u in users)[len(users) // 2][:10]
    wanted = {u.sourcedId for u in users if u.dateLastModified > f"{day}T00:00:00.000Z"}
    for value in (day, f"{day}T00:00:00Z", f"{day}T02:00:00+02:00"):
        assert {u["sourcedId"] for u in _filtered(api, f"dateLastModified>'{value}'")} == wanted


def test_filter_contains_and_or_and_doubled_quotes(server, api):
    users = server.district.tables["users"].records
    obrien = _filtered(api, "familyName~'o''brien'")
    assert obrien and {u["familyName"] for u in obrien} == {"O'Brien"}
    both = _filtered(api, "role='teacher' AND status='active'")
    assert {u["sourcedId"] for u in both} == {
        u.sourcedId for u in users if u.role == "teacher" and u.status == "active"
    }
    either = _filtered(api, "role='teacher' OR role='administrator'")
    assert {u["role"] for u in either} == {"teacher", "administrator"}
    assert len(either) == sum(u.role in ("teacher", "administrator") for u in users)


def test_status_filter_on_enrollments(api):
    assert _filtered(api, "status='tobedeleted'", "/enrollments") == []
    assert len(_filtered(api, "status!='tobedeleted' AND role='teacher'", "/enrollments")) > 300


def test_subset_endpoints_and_single_items(server, api):
    schools = api.get("/schools").json()["orgs"]
    assert len(schools) == 5 and {s["type"] for s in schools} == {"school"}
    teachers = api.get("/teachers", params={"limit": 1000}).json()["users"]
    assert teachers and {t["role"] for t in teachers} == {"teacher"}
    assert {s["role"] for s in api.get("/students").json()["users"]} == {"student"}
    assert {t["type"] for t in api.get("/terms").json()["academicSessions"]} == {"semester"}
    some_class = server.district.tables["classes"].records[3]
    item = api.get(f"/classes/{some_class.sourcedId}").json()
    assert item["class"]["sourcedId"] == some_class.sourcedId
    assert item["class"]["course"]["sourcedId"] == some_class.course


def test_unknown_object_and_endpoint_are_404(api):
    for path in ("/users/not-a-user", "/demographics", "/schools/x/classes"):
        response = api.get(path)
        assert response.status_code == 404
        minor = response.json()["statusInfoSet"][0]["imsx_CodeMinor"]["imsx_codeMinorField"][0]
        assert minor["imsx_codeMinorFieldValue"] == "unknownobject"


def test_wire_shape_of_each_entity(api):
    org = api.get("/schools", params={"limit": 1}).json()["orgs"][0]
    assert org["parent"]["type"] == "org" and org["parent"]["href"].endswith(
        org["parent"]["sourcedId"]
    )
    course = api.get("/courses", params={"limit": 1}).json()["courses"][0]
    assert course["schoolYear"]["type"] == "academicSession"
    klass = api.get("/classes", params={"limit": 1}).json()["classes"][0]
    assert klass["classType"] in ("homeroom", "scheduled") and isinstance(klass["periods"], list)
    user = api.get("/users", params={"limit": 1}).json()["users"][0]
    assert user["enabledUser"] in (True, False) and user["orgs"][0]["type"] == "org"
    enrollment = api.get("/enrollments", params={"limit": 1}).json()["enrollments"][0]
    assert enrollment["primary"] in (True, False)
    assert enrollment["user"]["href"].startswith("http://127.0.0.1:")
