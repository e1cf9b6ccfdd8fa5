"""The OneRoster CSV export of a synced district is a bulk package a OneRoster consumer loads:
the 1.1 binding's files and headers, every reference resolving inside the package, the app
database's active rows, values exact."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from rostering_pipeline import privacy
from rostering_pipeline.appdb import tables
from rostering_pipeline.errors import BadInput
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import register

# The OneRoster 1.1 CSV binding (1EdTech, "OneRoster 1.1 CSV Tables"), written out here rather
# than read from the code under test.
BINDING_HEADERS = {
    "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
    "academicSessions.csv": "sourcedId,status,dateLastModified,title,type,startDate,endDate,"
    "parentSourcedId,schoolYear",
    "courses.csv": "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,"
    "grades,orgSourcedId,subjects,subjectCodes",
    "classes.csv": "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,"
    "classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
    "users.csv": "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,"
    "userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,"
    "password",
    "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
    "userSourcedId,role,primary,beginDate,endDate",
}
ROSTER = {
    "orgs.csv": tables.schools,
    "academicSessions.csv": tables.academic_sessions,
    "courses.csv": tables.courses,
    "classes.csv": tables.classes,
    "users.csv": tables.users,
    "enrollments.csv": tables.enrollments,
}
FORMULA = '=HYPERLINK("http://x","y")'


def read_package(path: Path) -> dict[str, list[dict[str, str]]]:
    """Each member's rows, checking its header against the binding's as a consumer would."""
    files: dict[str, list[dict[str, str]]] = {}
    with zipfile.ZipFile(path) as package:
        for name in package.namelist():
            text = package.read(name).decode("utf-8")
            reader = csv.reader(io.StringIO(text, newline=""))
            header = next(reader)
            if name != "manifest.csv":
                assert ",".join(header) == BINDING_HEADERS[name], name
            files[name] = [dict(zip(header, row, strict=True)) for row in reader]
    return files


def ids(rows: list[dict[str, str]]) -> set[str]:
    return {row["sourcedId"] for row in rows}


def listed(cell: str) -> set[str]:
    return set(cell.split(",")) if cell else set()


def test_the_export_reimports_with_every_reference_resolved_and_the_same_counts(
    env, provider, tmp_path
):
    register(env, provider)
    assert sync_in_process("d1").exit_code == 0
    with env.begin() as conn:  # a value a spreadsheet would run: exact here, for machines
        conn.execute(
            tables.users.update().where(tables.users.c.role == "teacher").values(given_name=FORMULA)
        )
        # a deactivated user stays out of a bulk package
        gone = conn.execute(
            sa.select(tables.users.c.sourced_id).where(tables.users.c.role == "student").limit(1)
        ).scalar_one()
        conn.execute(
            tables.users.update()
            .where(tables.users.c.sourced_id == gone)
            .values(active=False, deactivated_at=sa.func.now())
        )

    out = tmp_path / "d1-oneroster.zip"
    counts = privacy.export_oneroster_csv(env, "d1", out)
    package = read_package(out)

    assert set(package) == {"manifest.csv", *BINDING_HEADERS}
    manifest = {row["propertyName"]: row["value"] for row in package["manifest.csv"]}
    assert manifest["oneroster.version"] == "1.1"
    assert {manifest[f"file.{name[:-4]}"] for name in BINDING_HEADERS} == {"bulk"}
    assert manifest["file.demographics"] == "absent"
    with env.connect() as conn:
        for name, table in ROSTER.items():
            active = conn.execute(
                sa.select(sa.func.count()).where(table.c.active)  # d1 is the only district
            ).scalar_one()
            assert len(package[name]) == active == counts[name], name
    for rows in package.values():
        if rows and "status" in rows[0]:
            assert {(row["status"], row["dateLastModified"]) for row in rows} == {("", "")}

    orgs, sessions = ids(package["orgs.csv"]), ids(package["academicSessions.csv"])
    courses, classes = ids(package["courses.csv"]), ids(package["classes.csv"])
    users = ids(package["users.csv"])
    assert gone not in users
    for org in package["orgs.csv"]:
        assert org["parentSourcedId"] in orgs | {""}
    for session in package["academicSessions.csv"]:
        assert session["parentSourcedId"] in sessions | {""}
    for course in package["courses.csv"]:
        assert course["orgSourcedId"] in orgs
        assert course["schoolYearSourcedId"] in sessions | {""}
    for row in package["classes.csv"]:
        assert row["courseSourcedId"] in courses and row["schoolSourcedId"] in orgs
        assert listed(row["termSourcedIds"]) and listed(row["termSourcedIds"]) <= sessions
    for user in package["users.csv"]:
        assert listed(user["orgSourcedIds"]) and listed(user["orgSourcedIds"]) <= orgs
        assert user["enabledUser"] in {"true", "false"}
    for enrollment in package["enrollments.csv"]:
        if enrollment["userSourcedId"] == gone:
            continue  # its enrollments are active rows of their own: kept as stored
        assert enrollment["classSourcedId"] in classes
        assert enrollment["userSourcedId"] in users
        assert enrollment["schoolSourcedId"] in orgs
    teachers = [u for u in package["users.csv"] if u["role"] == "teacher"]
    assert teachers and {u["givenName"] for u in teachers} == {FORMULA}
    students = [u for u in package["users.csv"] if u["role"] == "student"]
    assert all(u["grades"] and u["email"] for u in students)


def test_the_export_refuses_to_overwrite_or_to_write_anything_but_a_zip(env, provider, tmp_path):
    register(env, provider)
    exports = tmp_path / "exports"
    exports.mkdir()
    taken = exports / "taken.zip"
    taken.write_bytes(b"keep me")

    with pytest.raises(BadInput, match="already exists"):
        privacy.export_oneroster_csv(env, "d1", taken)
    with pytest.raises(BadInput, match=r"is a \.zip file"):
        privacy.export_oneroster_csv(env, "d1", exports / "roster.csv")
    assert taken.read_bytes() == b"keep me"
    assert sorted(p.name for p in exports.iterdir()) == ["taken.zip"]
