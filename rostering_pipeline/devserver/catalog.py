"""The collections the provider serves: path, backing table, envelope keys, row subset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rostering_pipeline.devserver.records import Record

API_PREFIX = "/ims/oneroster/v1p1"
# Where each version serves its rostering collections (1.2 moves them under /rostering).
API_PREFIXES = {"1.1": API_PREFIX, "1.2": "/ims/oneroster/rostering/v1p2"}
# The scope a 1.2 token request must carry (1.2's read-only rostering scope).
ROSTER_SCOPE_1_2 = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"


@dataclass(frozen=True)
class Collection:
    path: str  # under the version's prefix
    table: str
    envelope: str  # key of a collection response (spec)
    singular: str  # key of a single-item response
    keep: Callable[[Record], bool] | None = None  # the table's rows this path shows


def _role(role: str) -> Callable[[Record], bool]:
    return lambda r: r.role == role


COLLECTIONS: dict[str, Collection] = {
    c.path: c
    for c in (
        Collection("orgs", "orgs", "orgs", "org"),
        Collection("schools", "orgs", "orgs", "org", lambda r: r.type == "school"),
        Collection("academicSessions", "academicSessions", "academicSessions", "academicSession"),
        Collection(
            "terms",
            "academicSessions",
            "academicSessions",
            "academicSession",
            lambda r: r.type in ("term", "semester"),
        ),
        Collection("courses", "courses", "courses", "course"),
        Collection("classes", "classes", "classes", "class"),
        Collection("users", "users", "users", "user"),
        Collection("students", "users", "users", "user", _role("student")),
        Collection("teachers", "users", "users", "user", _role("teacher")),
        Collection("enrollments", "enrollments", "enrollments", "enrollment"),
    )
}
# Paths that also answer GET {path}/{sourcedId}.
SINGLE_ITEM_PATHS = frozenset(
    {"orgs", "schools", "academicSessions", "courses", "classes", "users", "enrollments"}
)

_COMMON = ("sourcedId", "status", "dateLastModified")
# Scalar text fields per table: what `filter` and `sort` accept.
SCALAR_FIELDS: dict[str, frozenset[str]] = {
    "orgs": frozenset({*_COMMON, "name", "type", "identifier"}),
    "academicSessions": frozenset(
        {*_COMMON, "title", "type", "startDate", "endDate", "schoolYear"}
    ),
    "courses": frozenset({*_COMMON, "title", "courseCode"}),
    "classes": frozenset({*_COMMON, "title", "classCode", "classType", "location"}),
    "users": frozenset(
        {
            *_COMMON,
            "username",
            "givenName",
            "familyName",
            "middleName",
            "role",
            "identifier",
            "email",
        }
    ),
    "enrollments": frozenset({*_COMMON, "role", "beginDate", "endDate"}),
}
