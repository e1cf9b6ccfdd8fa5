"""The wire format: records to OneRoster JSON objects under the current quirks, and error bodies.

Written independently of the client's parser on purpose, so that a test of one against the other
catches a mistake in either.
"""

from __future__ import annotations

import html
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from rostering_pipeline.devserver.catalog import API_PREFIXES
from rostering_pipeline.devserver.records import Record
from rostering_pipeline.devserver.settings import Quirks

Shaper = Callable[[Record], dict[str, Any]]

# Every field each table can send, in wire order: what `fields=` may name.
WIRE_FIELDS: dict[str, tuple[str, ...]] = {
    "orgs": ("sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parent",
             "children"),
    "academicSessions": ("sourcedId", "status", "dateLastModified", "title", "type", "startDate",
                         "endDate", "parent", "children", "schoolYear"),
    "courses": ("sourcedId", "status", "dateLastModified", "title", "schoolYear", "courseCode",
                "grades", "subjects", "org"),
    "classes": ("sourcedId", "status", "dateLastModified", "title", "classCode", "classType",
                "location", "grades", "subjects", "course", "school", "terms", "periods"),
    "users": ("sourcedId", "status", "dateLastModified", "metadata", "username", "userIds",
              "enabledUser", "givenName", "familyName", "middleName", "role", "identifier",
              "email", "sms", "phone", "agents", "orgs", "grades", "password"),
    "enrollments": ("sourcedId", "status", "dateLastModified", "user", "class", "school", "role",
                    "primary", "beginDate", "endDate"),
}  # fmt: skip

# 1.2 users: roles lists instead of role and orgs, preferred names, pronouns.
USER_FIELDS_1_2 = ("sourcedId", "status", "dateLastModified", "metadata", "username", "userIds",
                   "enabledUser", "givenName", "familyName", "middleName", "preferredFirstName",
                   "preferredLastName", "pronouns", "roles", "primaryOrg", "identifier", "email",
                   "sms", "phone", "agents", "grades", "password")  # fmt: skip

# Sent only with Quirks.extra_fields: what the pipeline must drop.
EXTRA_FIELDS = frozenset({"metadata", "userIds", "sms", "phone", "agents", "password"})
_PRONOUNS = ("she/her", "he/him", "they/them")
# The synthetic district's administrators, as 1.2 names them (both map back to administrator).
_ADMIN_ROLES_1_2 = ("principal", "siteAdministrator")
_BOOLS = {"json": (False, True), "lower": ("false", "true"), "title": ("False", "True")}
_LUNCH = ("free", "reduced", "paid", "paid")


@dataclass(frozen=True)
class WireStyle:
    href_base: str  # "http://host:port/ims/oneroster/v1p1", or "~/ims/oneroster/v1p1" (relative)
    quirks: Quirks
    version: str = "1.1"

    @classmethod
    def for_request(cls, origin: str, quirks: Quirks, version: str = "1.1") -> WireStyle:
        prefix = API_PREFIXES[version]
        return cls("~" + prefix if quirks.relative_href else origin + prefix, quirks, version)


def wire_fields(table: str, version: str) -> tuple[str, ...]:
    """Every field `table` can send in `version`, in wire order."""
    return USER_FIELDS_1_2 if version == "1.2" and table == "users" else WIRE_FIELDS[table]


def shaper(table: str, style: WireStyle) -> Shaper:
    """A function turning one record of `table` into its wire object (hot path: locals only)."""
    q = style.quirks
    base = style.href_base
    false_value, true_value = _BOOLS[q.bool_style]

    statuses = {"tobedeleted": "inactive"} if q.inactive_status else {}

    def status(value: str) -> str:
        return statuses.get(value, value)

    def ref(path: str, kind: str, sid: str) -> dict[str, str]:
        return {"href": f"{base}/{path}/{sid}", "sourcedId": sid, "type": kind}

    def org(r: Record) -> dict[str, Any]:
        d = {
            "sourcedId": r.sourcedId,
            "status": status(r.status),
            "dateLastModified": r.dateLastModified,
            "name": r.name,
            "type": r.type,
            "identifier": r.identifier,
        }
        if r.parent:
            d["parent"] = ref("orgs", "org", r.parent)
        d["children"] = [ref("orgs", "org", c) for c in r.children]
        return d

    def session(r: Record) -> dict[str, Any]:
        d = {
            "sourcedId": r.sourcedId,
            "status": status(r.status),
            "dateLastModified": r.dateLastModified,
            "title": r.title,
            "type": r.type,
            "startDate": r.startDate,
            "endDate": r.endDate,
        }
        if r.parent:
            d["parent"] = ref("academicSessions", "academicSession", r.parent)
        d["children"] = [ref("academicSessions", "academicSession", c) for c in r.children]
        d["schoolYear"] = r.schoolYear
        return d

    def course(r: Record) -> dict[str, Any]:
        return {
            "sourcedId": r.sourcedId,
            "status": status(r.status),
            "dateLastModified": r.dateLastModified,
            "title": r.title,
            "schoolYear": ref("academicSessions", "academicSession", r.schoolYear),
            "courseCode": r.courseCode,
            "grades": list(r.grades),
            "subjects": list(r.subjects),
            "org": ref("orgs", "org", r.org),
        }

    def klass(r: Record) -> dict[str, Any]:
        return {
            "sourcedId": r.sourcedId,
            "status": status(r.status),
            "dateLastModified": r.dateLastModified,
            "title": r.title,
            "classCode": r.classCode,
            "classType": r.classType,
            "location": r.location,
            "grades": list(r.grades),
            "subjects": list(r.subjects),
            "course": ref("courses", "course", r.course),
            "school": ref("orgs", "org", r.school),
            "terms": [ref("academicSessions", "academicSession", t) for t in r.terms],
            "periods": ",".join(r.periods) if q.periods_as_string else list(r.periods),
        }

    users_at, orgs_at = f"{base}/users/", f"{base}/orgs/"

    user_fields = wire_fields("users", style.version)

    def user(r: Record) -> dict[str, Any]:
        return {
            "sourcedId": r.sourcedId,
            "status": statuses.get(r.status, r.status),
            "dateLastModified": r.dateLastModified,
            "username": r.username,
            "enabledUser": true_value if r.enabledUser else false_value,
            "givenName": r.givenName,
            "familyName": r.familyName,
            "middleName": r.middleName or "",
            "role": r.role,
            "identifier": r.identifier,
            "email": r.email,
            "orgs": [{"href": orgs_at + o, "sourcedId": o, "type": "org"} for o in r.orgs],
            "grades": list(r.grades),
        }

    def user_1_2(r: Record) -> dict[str, Any]:
        """The same person as 1.2 sends it: a role per school (the first primary), the home
        school, a chosen name for one student in ten, pronouns for everyone."""
        d = user(r)
        del d["role"], d["orgs"]
        n = zlib.crc32(r.sourcedId.encode())
        role = _ADMIN_ROLES_1_2[n % 2] if r.role == "administrator" else r.role
        orgs = [{"href": orgs_at + o, "sourcedId": o, "type": "org"} for o in r.orgs]
        d["roles"] = [
            {"roleType": "primary" if i == 0 else "secondary", "role": role, "org": org}
            for i, org in enumerate(orgs)
        ]
        if r.role == "teacher" and orgs and n % 7 == 0:  # also a parent at the school
            d["roles"].append({"roleType": "secondary", "role": "parent", "org": orgs[0]})
        if orgs:
            d["primaryOrg"] = orgs[0]
        if r.role == "student" and n % 10 == 0:
            d["preferredFirstName"] = f"{r.givenName[:3]}ie"
            if n % 30 == 0:
                d["preferredLastName"] = f"{r.familyName}-Lee"
        d["pronouns"] = _PRONOUNS[n % 3]
        return d

    def user_with_extras(r: Record) -> dict[str, Any]:
        d = base_user(r)
        n = zlib.crc32(r.sourcedId.encode())  # one hash seeds every made-up private value
        d["metadata"] = _demographics(n)
        d["userIds"] = [{"type": "SIS", "identifier": r.identifier}]
        d["sms"] = d["phone"] = f"+1 555-01{n % 100:02d}-{n // 100 % 10_000:04d}"
        d["agents"] = [{"href": users_at + a, "sourcedId": a, "type": "user"} for a in r.agents]
        d["password"] = f"Welcome{n // 7 % 10_000:04d}!"
        return {k: d[k] for k in user_fields if k in d}

    classes_at = f"{base}/classes/"

    def enrollment(r: Record) -> dict[str, Any]:
        user_id, class_id, school_id = r.user, r.class_, r.school
        return {
            "sourcedId": r.sourcedId,
            "status": statuses.get(r.status, r.status),
            "dateLastModified": r.dateLastModified,
            "user": {"href": users_at + user_id, "sourcedId": user_id, "type": "user"},
            "class": {"href": classes_at + class_id, "sourcedId": class_id, "type": "class"},
            "school": {"href": orgs_at + school_id, "sourcedId": school_id, "type": "org"},
            "role": r.role,
            "primary": true_value if r.primary else false_value,
            "beginDate": r.beginDate,
            "endDate": r.endDate,
        }

    base_user = user_1_2 if style.version == "1.2" else user
    users = user_with_extras if q.extra_fields else base_user
    return {"orgs": org, "academicSessions": session, "courses": course, "classes": klass,
            "users": users, "enrollments": enrollment}[table]  # fmt: skip


def demographics_record(sourced_id: str) -> dict[str, Any]:
    """A record of 1.2's /demographics: what the pipeline must never ask for."""
    n = zlib.crc32(sourced_id.encode())
    return {"sourcedId": sourced_id, "status": "active", **_demographics(n)}


def _demographics(n: int) -> dict[str, str]:
    """Extension fields like those vendors put in `metadata`: exactly what must never be stored."""
    return {
        "ext:birthDate": f"{2008 + n % 14}-{n // 14 % 12 + 1:02d}-{n // 168 % 28 + 1:02d}",
        "ext:sex": "FM"[n % 2],
        "ext:hispanicOrLatinoEthnicity": "true" if n % 5 == 0 else "false",
        "ext:lunchStatus": _LUNCH[n // 7 % 4],
        "ext:iepStatus": "Y" if n % 9 == 0 else "N",
    }


def selecting(
    shape: Shaper, fields: tuple[str, ...] | None, sends: tuple[str, ...] | None
) -> Shaper:
    """`shape` narrowed to `fields` (in their order). `sends` is what `shape` is known to send, in
    order (None: unknown); when that is exactly `fields`, as for a client asking for every field
    it stores, `shape` is returned as is."""
    if fields is None or fields == sends:
        return shape

    def selected(record: Record) -> dict[str, Any]:
        d = shape(record)
        return {k: d[k] for k in fields if k in d}

    return selected


def sent_fields(table: str, style: WireStyle) -> tuple[str, ...] | None:
    """The fields `shaper(table, style)` sends, in order (a reference may be left out); None
    for 1.2 users, whose optional fields come and go."""
    if style.version == "1.2" and table == "users":
        return None
    sent = WIRE_FIELDS[table]
    return sent if style.quirks.extra_fields else tuple(f for f in sent if f not in EXTRA_FIELDS)


def collection_body(envelope: str, encoded_records: list[bytes]) -> bytes:
    """The page from records already encoded one by one (see wirecache.py)."""
    return b"{" + orjson.dumps(envelope) + b":[" + b",".join(encoded_records) + b"]}"


def item_body(singular: str, record: Record, shape: Shaper) -> bytes:
    return orjson.dumps({singular: shape(record)})


def status_info_body(code_minor: str, description: str | None) -> bytes:
    """OneRoster's error body; some providers leave the description out, so None omits it."""
    info: dict[str, Any] = {"imsx_codeMajor": "failure", "imsx_severity": "error"}
    if description is not None:
        info["imsx_description"] = description
    info["imsx_CodeMinor"] = {
        "imsx_codeMinorField": [
            {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code_minor}
        ]
    }
    return orjson.dumps({"statusInfoSet": [info]})


def html_error_body(status: int, reason: str) -> bytes:
    """The page a proxy or an IIS front end answers with instead of JSON."""
    title = html.escape(f"{status} - {reason}")
    return (
        "<!DOCTYPE html>\n<html><head><title>" + title + "</title></head>\n"
        "<body><h1>Server Error</h1><h2>" + title + "</h2>\n"
        "<p>The page cannot be displayed because an internal server error has occurred.</p>"
        "</body></html>\n"
    ).encode()
