"""OneRoster 1.2 users onto the frame 1.1 users fill: a 1.2 user's `roles` (a role per school,
primary and secondary) become the one `role` the app sees, the user's schools, and the 1.2 role
held at each school (in 1.2's spelling whatever the case it came in, else as sent).

- The app's `role` keeps the 1.1 vocabulary: principals, site, district and system
  administrators and counselors are `administrator`; teacher, student, aide and proctor stay.
- It is the primary role's, unless that one is a guardian's and another is not: a teacher who
  is also a parent is a teacher. Guardian roles (guardian, parent, relative) and their schools
  are left out unless the district includes guardians; a user holding nothing else is dropped.
- `primaryOrg`, when given, is the user's first (home) school.
Anything unreadable is left for the converters and the checks, as in 1.1 (a role not in the
vocabulary is kept as sent and quarantined by `allowed_value`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rostering_pipeline.oneroster.entities import GUARDIAN_ROLES

# 1.2's role vocabulary, in its spelling: a school link keeps the role in it ("Teacher" sent,
# "teacher" kept), or as sent when it is outside.
ROLES_1_2 = (
    "aide",
    "counselor",
    "districtAdministrator",
    "guardian",
    "parent",
    "principal",
    "proctor",
    "relative",
    "siteAdministrator",
    "student",
    "systemAdministrator",
    "teacher",
)
_SPELLING = {role.casefold(): role for role in ROLES_1_2}
# 1.2 role (case-folded) -> the users table's 1.1 role.
ROLE_1_1 = {
    "teacher": "teacher",
    "student": "student",
    "aide": "aide",
    "proctor": "proctor",
    "administrator": "administrator",
    "principal": "administrator",
    "siteadministrator": "administrator",
    "districtadministrator": "administrator",
    "systemadministrator": "administrator",
    "counselor": "administrator",
    "guardian": "guardian",
    "parent": "parent",
    "relative": "relative",
}
SCHOOL_ROLES_FIELD = "_schoolRoles"  # where the 1.2 role per school travels to the converters


def as_1_1(records: Sequence[dict[str, Any]], *, include_guardians: bool) -> list[dict[str, Any]]:
    """Each 1.2 user record with `role`, `orgs` and the roles per school in the 1.1 places."""
    converted = []
    for record in records:
        roles = _roles(record.get("roles"))
        kept = [r for r in roles if include_guardians or _app_role(r) not in GUARDIAN_ROLES]
        if roles and not kept:
            continue  # a guardian and nothing else
        schools: dict[str, str | None] = {}
        home = _sourced_id(record.get("primaryOrg"))
        if home is not None and kept:
            schools[home] = _sent_role(kept[0])
        for role in kept:
            org = _sourced_id(role.get("org"))
            if org is not None:
                schools.setdefault(org, _sent_role(role))
        converted.append(
            {
                **record,
                "role": _app_role(kept[0]) if kept else None,
                "orgs": list(schools),
                SCHOOL_ROLES_FIELD: list(schools.values()),  # None where no role was sent
            }
        )
    return converted


def _roles(value: Any) -> list[dict[str, Any]]:
    """The role entries, the primary ones first (order otherwise kept)."""
    if type(value) is not list:
        return []
    entries = [entry for entry in value if type(entry) is dict]
    return sorted(entries, key=lambda entry: _folded(entry.get("roleType")) != "primary")


def _sent_role(entry: dict[str, Any]) -> str | None:
    role = entry.get("role")
    if type(role) is not str or not role.strip():
        return None
    return _SPELLING.get(role.strip().casefold(), role.strip())


def _app_role(entry: dict[str, Any]) -> str | None:
    sent = _sent_role(entry)
    return None if sent is None else ROLE_1_1.get(sent.casefold(), sent)


def _sourced_id(ref: Any) -> str | None:
    value = ref.get("sourcedId") if type(ref) is dict else ref
    return value.strip() if type(value) is str and value.strip() else None


def _folded(value: Any) -> str:
    return value.strip().casefold() if type(value) is str else ""
