"""The six rostering collections: where they live, what is requested, what a normalized frame holds.

The column lists here are the contract between the client (which produces the frames), the
pandera models, the Parquet snapshots and the application database tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd
import pyarrow as pa


class Kind(StrEnum):
    """How a normalized column is typed."""

    STRING = "string"  # pyarrow-backed string, null when absent
    JSON_LIST = "json_list"  # a list serialized as compact JSON text ('["09","10"]'), never null
    BOOL = "bool"  # pandas nullable boolean
    TIMESTAMP = "timestamp"  # datetime64[us, UTC]
    DATE = "date"  # date32[pyarrow]


DTYPES: Mapping[Kind, object] = {
    Kind.STRING: pd.StringDtype("pyarrow"),
    Kind.JSON_LIST: pd.StringDtype("pyarrow"),
    Kind.BOOL: pd.BooleanDtype(),
    Kind.TIMESTAMP: pd.DatetimeTZDtype(unit="us", tz="UTC"),
    Kind.DATE: pd.ArrowDtype(pa.date32()),
}

# Every frame starts with these. `status` is "active" or "tobedeleted" (1.0's "inactive" is read as
# "tobedeleted"). `invalid_fields` lists, comma-separated, the normalized columns whose provider
# value could not be parsed (that column is then null); the validation gate rejects such rows.
COMMON_COLUMNS: Mapping[str, Kind] = {
    "sourced_id": Kind.STRING,
    "status": Kind.STRING,
    "source_modified_at": Kind.TIMESTAMP,
}
INVALID_FIELDS = "invalid_fields"


@dataclass(frozen=True)
class Entity:
    name: str  # asset name under the `oneroster` key prefix, and the app DB table
    path: str  # collection path under the version's roster path (binding.ROSTER_PATHS)
    envelope_keys: tuple[str, ...]  # accepted top-level keys of a collection response, first = spec
    fields: tuple[str, ...]  # 1.1 fields requested with `fields=` (the minimum we store)
    columns: Mapping[str, Kind]  # normalized columns beyond COMMON_COLUMNS, in order

    @property
    def all_columns(self) -> dict[str, Kind]:
        return {**COMMON_COLUMNS, **self.columns, INVALID_FIELDS: Kind.STRING}

    def dtypes(self) -> dict[str, object]:
        return {column: DTYPES[kind] for column, kind in self.all_columns.items()}

    def empty_frame(self) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in self.dtypes().items()})


_BASE_FIELDS = ("sourcedId", "status", "dateLastModified")

ORGS = Entity(
    name="orgs",
    path="/orgs",
    envelope_keys=("orgs",),
    fields=(*_BASE_FIELDS, "name", "type", "identifier", "parent"),
    columns={
        "name": Kind.STRING,
        "identifier": Kind.STRING,
        "org_type": Kind.STRING,
        "parent_sourced_id": Kind.STRING,
    },
)
ACADEMIC_SESSIONS = Entity(
    name="academic_sessions",
    path="/academicSessions",
    envelope_keys=("academicSessions", "terms"),
    fields=(*_BASE_FIELDS, "title", "type", "startDate", "endDate", "schoolYear", "parent"),
    columns={
        "title": Kind.STRING,
        "session_type": Kind.STRING,
        "start_date": Kind.DATE,
        "end_date": Kind.DATE,
        "school_year": Kind.STRING,
        "parent_sourced_id": Kind.STRING,
    },
)
COURSES = Entity(
    name="courses",
    path="/courses",
    envelope_keys=("courses",),
    fields=(*_BASE_FIELDS, "title", "courseCode", "schoolYear", "org", "grades"),
    columns={
        "title": Kind.STRING,
        "course_code": Kind.STRING,
        "school_year_sourced_id": Kind.STRING,
        "school_year": Kind.STRING,  # a 1.0-style year sent instead of a reference ("2018")
        "org_sourced_id": Kind.STRING,
        "grades": Kind.JSON_LIST,
    },
)
CLASSES = Entity(
    name="classes",
    path="/classes",
    envelope_keys=("classes",),
    fields=(
        *_BASE_FIELDS,
        "title",
        "classCode",
        "classType",
        "location",
        "course",
        "school",
        "terms",
        "periods",
        "grades",
    ),
    columns={
        "title": Kind.STRING,
        "class_code": Kind.STRING,
        "class_type": Kind.STRING,
        "location": Kind.STRING,
        "periods": Kind.JSON_LIST,
        "grades": Kind.JSON_LIST,
        "course_sourced_id": Kind.STRING,
        "school_sourced_id": Kind.STRING,
        "term_sourced_ids": Kind.JSON_LIST,
    },
)
USERS = Entity(
    name="users",
    path="/users",
    envelope_keys=("users", "students", "teachers"),
    fields=(
        *_BASE_FIELDS,
        "username",
        "enabledUser",
        "givenName",
        "familyName",
        "middleName",
        "role",
        "identifier",
        "email",
        "orgs",
        "grades",
    ),
    columns={
        "role": Kind.STRING,
        "given_name": Kind.STRING,
        "family_name": Kind.STRING,
        "middle_name": Kind.STRING,
        "preferred_given_name": Kind.STRING,  # 1.2 only
        "preferred_family_name": Kind.STRING,  # 1.2 only
        "email": Kind.STRING,
        "username": Kind.STRING,
        "identifier": Kind.STRING,
        "grades": Kind.JSON_LIST,
        "enabled": Kind.BOOL,
        "org_sourced_ids": Kind.JSON_LIST,  # becomes `user_schools` rows in the app DB
        # 1.2: the role held at each of org_sourced_ids, as sent (null where none); [] in 1.1
        "school_roles": Kind.JSON_LIST,
    },
)
ENROLLMENTS = Entity(
    name="enrollments",
    path="/enrollments",
    envelope_keys=("enrollments",),
    fields=(*_BASE_FIELDS, "user", "class", "school", "role", "primary", "beginDate", "endDate"),
    columns={
        "user_sourced_id": Kind.STRING,
        "class_sourced_id": Kind.STRING,
        "school_sourced_id": Kind.STRING,
        "role": Kind.STRING,
        "is_primary": Kind.BOOL,
        "begin_date": Kind.DATE,
        "end_date": Kind.DATE,
    },
)

# In dependency order: a later entity refers only to earlier ones.
ENTITIES: Mapping[str, Entity] = {
    e.name: e for e in (ORGS, ACADEMIC_SESSIONS, COURSES, CLASSES, USERS, ENROLLMENTS)
}

# Roles whose users are stored only when the district opts in.
GUARDIAN_ROLES = frozenset({"guardian", "parent", "relative"})
