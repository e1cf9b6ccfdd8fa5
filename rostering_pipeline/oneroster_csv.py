"""A district's active roster as a OneRoster 1.1 CSV bulk package: a zip any OneRoster consumer
loads (`manifest.csv` and the six rostering files, headers in the binding's order).

Bulk files leave `status` and `dateLastModified` blank; columns this project does not store stay
empty; values are written exactly as stored (no spreadsheet neutralization: the package is for
machines). Rows stream from the database, so the largest district fits in memory.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import (
    academic_sessions,
    classes,
    courses,
    enrollments,
    schools,
    user_schools,
    users,
)
from rostering_pipeline.csv_values import as_csv
from rostering_pipeline.errors import BadInput
from rostering_pipeline.oneroster.entities import ENTITIES, Kind

CHUNK_ROWS = 10_000
# The app DB's JSON list columns: the entity contract's.
LIST_COLUMNS = frozenset(
    column
    for entity in ENTITIES.values()
    for column, kind in entity.columns.items()
    if kind is Kind.JSON_LIST
)
# The OneRoster 1.1 CSV binding's headers, in its order.
HEADERS: dict[str, tuple[str, ...]] = {
    "orgs.csv": (
        *("sourcedId", "status", "dateLastModified", "name", "type", "identifier"),
        "parentSourcedId",
    ),
    "academicSessions.csv": (
        *("sourcedId", "status", "dateLastModified", "title", "type", "startDate", "endDate"),
        *("parentSourcedId", "schoolYear"),
    ),
    "courses.csv": (
        *("sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title"),
        *("courseCode", "grades", "orgSourcedId", "subjects", "subjectCodes"),
    ),
    "classes.csv": (
        *("sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId"),
        *("classCode", "classType", "location", "schoolSourcedId", "termSourcedIds"),
        *("subjects", "subjectCodes", "periods"),
    ),
    "users.csv": (
        *("sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role"),
        *("username", "userIds", "givenName", "familyName", "middleName", "identifier"),
        *("email", "sms", "phone", "agentSourcedIds", "grades", "password"),
    ),
    "enrollments.csv": (
        *("sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId"),
        *("userSourcedId", "role", "primary", "beginDate", "endDate"),
    ),
}
# file -> (table, OneRoster column -> app DB column); unnamed columns stay empty.
SOURCES: dict[str, tuple[sa.Table, dict[str, str]]] = {
    "orgs.csv": (
        schools,
        {
            "name": "name",
            "type": "org_type",
            "identifier": "identifier",
            "parentSourcedId": "parent_sourced_id",
        },
    ),
    "academicSessions.csv": (
        academic_sessions,
        {
            "title": "title",
            "type": "session_type",
            "startDate": "start_date",
            "endDate": "end_date",
            "parentSourcedId": "parent_sourced_id",
            "schoolYear": "school_year",
        },
    ),
    "courses.csv": (
        courses,
        {
            "schoolYearSourcedId": "school_year_sourced_id",
            "title": "title",
            "courseCode": "course_code",
            "grades": "grades",
            "orgSourcedId": "org_sourced_id",
        },
    ),
    "classes.csv": (
        classes,
        {
            "title": "title",
            "grades": "grades",
            "courseSourcedId": "course_sourced_id",
            "classCode": "class_code",
            "classType": "class_type",
            "location": "location",
            "schoolSourcedId": "school_sourced_id",
            "termSourcedIds": "term_sourced_ids",
            "periods": "periods",
        },
    ),
    "users.csv": (
        users,
        {
            "enabledUser": "enabled",
            "role": "role",
            "username": "username",
            "givenName": "given_name",
            "familyName": "family_name",
            "middleName": "middle_name",
            "identifier": "identifier",
            "email": "email",
            "grades": "grades",
        },
    ),
    "enrollments.csv": (
        enrollments,
        {
            "classSourcedId": "class_sourced_id",
            "schoolSourcedId": "school_sourced_id",
            "userSourcedId": "user_sourced_id",
            "role": "role",
            "primary": "is_primary",
            "beginDate": "begin_date",
            "endDate": "end_date",
        },
    ),
}
# Every file of the 1.1 binding, in the manifest: the six above in bulk, the rest absent.
MANIFEST_FILES = (
    "academicSessions",
    "categories",
    "classes",
    "classResources",
    "courses",
    "courseResources",
    "demographics",
    "enrollments",
    "lineItems",
    "orgs",
    "resources",
    "results",
    "users",
)


def write_package(conn: sa.Connection, district_id: int, district_key: str, out: Path) -> dict:
    """The package at `out` (a new .zip, written beside it and moved into place: never half a
    package); returns the rows per file."""
    if out.exists():
        raise BadInput(f"{out} already exists; choose a new file name")
    if out.suffix.lower() != ".zip":
        raise BadInput(f"{out}: a OneRoster CSV package is a .zip file")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    counts: dict[str, int] = {}
    try:
        # personal data: owner only, from the first byte
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            _write_member(zf, "manifest.csv", ("propertyName", "value"), _manifest(district_key))
            schools_of = _schools_by_user(conn, district_id)
            for name, (table, columns) in SOURCES.items():
                extra = {"orgSourcedIds": schools_of} if table is users else {}
                rows = _rows(conn, district_id, table, columns, HEADERS[name], extra)
                counts[name] = _write_member(zf, name, HEADERS[name], rows)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return counts


def _manifest(district_key: str) -> Iterator[tuple[str, str]]:
    yield "manifest.version", "1.0"
    yield "oneroster.version", "1.1"
    for name in MANIFEST_FILES:
        yield f"file.{name}", "bulk" if f"{name}.csv" in SOURCES else "absent"
    yield "source.systemName", "rostering-pipeline"
    yield "source.systemCode", district_key


def _write_member(
    zf: zipfile.ZipFile, name: str, header: tuple[str, ...], rows: Iterator[tuple]
) -> int:
    count = 0
    with zf.open(name, "w") as member, io.TextIOWrapper(member, "utf-8", newline="") as text:
        writer = csv.writer(text)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _rows(
    conn: sa.Connection,
    district_id: int,
    table: sa.Table,
    columns: Mapping[str, str],
    header: tuple[str, ...],
    extra: Mapping[str, Callable[[str], str]],
) -> Iterator[tuple]:
    """The district's active rows, streamed in `sourced_id` order, as cells under `header`."""
    query = (
        sa.select(table.c.sourced_id, *(table.c[name] for name in columns.values()))
        .where(table.c.district_id == district_id, table.c.active)
        .order_by(table.c.sourced_id)
    )
    result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
    for chunk in result.partitions():
        for row in chunk:
            values = dict(zip(("sourcedId", *columns), row, strict=True))
            yield tuple(
                extra[name](values["sourcedId"])
                if name in extra
                else _cell(values.get(name), listed=columns.get(name) in LIST_COLUMNS)
                for name in header
            )


def _schools_by_user(conn: sa.Connection, district_id: int) -> Callable[[str], str]:
    """A user's active school links as `orgSourcedIds` (comma-separated, sorted)."""
    t = user_schools
    links: dict[str, list[str]] = {}
    query = (
        sa.select(t.c.user_sourced_id, t.c.school_sourced_id)
        .where(t.c.district_id == district_id, t.c.active)
        .order_by(t.c.user_sourced_id, t.c.school_sourced_id)
    )
    for user, school in conn.execution_options(yield_per=CHUNK_ROWS).execute(query):
        links.setdefault(user, []).append(school)
    return lambda user: ",".join(links.get(user, ()))


def _cell(value: Any, *, listed: bool) -> Any:
    """The binding's forms: lists comma-separated (stored as JSON lists), the rest as every
    export writes it (`csv_values.as_csv`)."""
    if listed and value is not None:
        return ",".join(str(item) for item in orjson.loads(value))
    return as_csv(value)
