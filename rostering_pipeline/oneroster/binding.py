"""What differs between OneRoster 1.1 and 1.2 on the wire: where the rostering collections live,
the token's scope, and the fields a users request names. Everything else (paging, envelopes, the
other collections' fields) is the same in both; how 1.2 users map onto the 1.1 frame is
`users_1_2.as_1_1`."""

from __future__ import annotations

from collections.abc import Mapping

from rostering_pipeline.oneroster.entities import Entity

VERSIONS = ("1.1", "1.2")
ROSTER_PATHS: Mapping[str, str] = {
    "1.1": "/ims/oneroster/v1p1",
    "1.2": "/ims/oneroster/rostering/v1p2",
}
# 1.2's read-only rostering scope; 1.1 sends none unless the district sets one.
DEFAULT_SCOPES: Mapping[str, str | None] = {
    "1.1": None,
    "1.2": "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly",
}
# 1.2 users: `roles` (role per school) and `primaryOrg` instead of `role` and `orgs`, and the
# preferred names. Never pronouns, userProfiles, userMasterIdentifier or demographics.
USER_FIELDS_1_2 = (
    "sourcedId",
    "status",
    "dateLastModified",
    "username",
    "enabledUser",
    "givenName",
    "familyName",
    "middleName",
    "preferredFirstName",
    "preferredLastName",
    "roles",
    "primaryOrg",
    "identifier",
    "email",
    "grades",
)


def roster_path(version: str) -> str:
    return ROSTER_PATHS[version]


def requested_fields(entity: Entity, version: str) -> tuple[str, ...]:
    """The `fields=` of a request for `entity`: the minimum this project stores."""
    if version == "1.2" and entity.name == "users":
        return USER_FIELDS_1_2
    return entity.fields
