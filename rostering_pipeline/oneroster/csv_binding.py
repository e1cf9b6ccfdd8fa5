"""The OneRoster CSV binding (1.1 and 1.2): which file holds each entity, which of its columns
are read and under which REST field name they reach the one normalization.

Only the columns the app stores are read; every other column (vendor extras, `password`,
`pronouns`, demographics files) is never looked at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MANIFEST = "manifest.csv"
VERSION_PROPERTY = "oneroster.version"
FILE_PROPERTY = "file."  # file.users=bulk|delta|absent
PROCESSING_MODES = ("bulk", "delta", "absent")
ROLES_FILE = "roles"  # 1.2: a user's roles, one row per (user, org, role)


@dataclass(frozen=True)
class CsvFile:
    name: str  # the manifest's name (`file.<name>`) and the file's stem
    columns: Mapping[str, str]  # CSV header -> REST field name
    required: tuple[str, ...]  # headers the file cannot be read without
    lists: tuple[str, ...] = ()  # headers holding comma-separated sourcedIds (REST: a list)

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


_COMMON = {"sourcedId": "sourcedId", "status": "status", "dateLastModified": "dateLastModified"}

ORGS = CsvFile(
    "orgs",
    {**_COMMON, "name": "name", "type": "type", "identifier": "identifier",
     "parentSourcedId": "parent"},
    required=("sourcedId", "name", "type"),
)  # fmt: skip
ACADEMIC_SESSIONS = CsvFile(
    "academicSessions",
    {**_COMMON, "title": "title", "type": "type", "startDate": "startDate", "endDate": "endDate",
     "parentSourcedId": "parent", "schoolYear": "schoolYear"},
    required=("sourcedId", "title", "type", "startDate", "endDate"),
)  # fmt: skip
COURSES = CsvFile(
    "courses",
    {**_COMMON, "schoolYearSourcedId": "schoolYear", "title": "title",
     "courseCode": "courseCode", "grades": "grades", "orgSourcedId": "org"},
    required=("sourcedId", "title", "orgSourcedId"),
)  # fmt: skip
CLASSES = CsvFile(
    "classes",
    {**_COMMON, "title": "title", "grades": "grades", "courseSourcedId": "course",
     "classCode": "classCode", "classType": "classType", "location": "location",
     "schoolSourcedId": "school", "termSourcedIds": "terms", "periods": "periods"},
    required=("sourcedId", "title", "courseSourcedId", "classType", "schoolSourcedId",
              "termSourcedIds"),
    lists=("termSourcedIds",),
)  # fmt: skip
_USER_COMMON = {
    **_COMMON,
    "enabledUser": "enabledUser",
    "username": "username",
    "givenName": "givenName",
    "familyName": "familyName",
    "middleName": "middleName",
    "identifier": "identifier",
    "email": "email",
    "grades": "grades",
}
USERS_1_1 = CsvFile(
    "users",
    {**_USER_COMMON, "orgSourcedIds": "orgs", "role": "role"},
    required=("sourcedId", "orgSourcedIds", "role", "givenName", "familyName"),
    lists=("orgSourcedIds",),
)
USERS_1_2 = CsvFile(
    "users",
    {
        **_USER_COMMON,
        "preferredGivenName": "preferredFirstName",
        "preferredFamilyName": "preferredLastName",
        "primaryOrgSourcedId": "primaryOrg",
    },
    required=("sourcedId", "givenName", "familyName"),
)
ROLES_1_2 = CsvFile(
    ROLES_FILE,
    {**_COMMON, "userSourcedId": "user", "roleType": "roleType", "role": "role",
     "orgSourcedId": "org", "beginDate": "beginDate", "endDate": "endDate"},
    required=("userSourcedId", "roleType", "role", "orgSourcedId"),
)  # fmt: skip
ENROLLMENTS = CsvFile(
    "enrollments",
    {**_COMMON, "classSourcedId": "class", "schoolSourcedId": "school",
     "userSourcedId": "user", "role": "role", "primary": "primary", "beginDate": "beginDate",
     "endDate": "endDate"},
    required=("sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
)  # fmt: skip

# entity (entities.ENTITIES) -> its file, per version.
FILES: Mapping[str, Mapping[str, CsvFile]] = {
    version: {
        "orgs": ORGS,
        "academic_sessions": ACADEMIC_SESSIONS,
        "courses": COURSES,
        "classes": CLASSES,
        "users": users,
        "enrollments": ENROLLMENTS,
    }
    for version, users in (("1.1", USERS_1_1), ("1.2", USERS_1_2))
}
# Fields read as dates: written `8/1/2026` (month/day/year) by some systems.
DATE_FIELDS = frozenset({"dateLastModified", "startDate", "endDate", "beginDate"})
