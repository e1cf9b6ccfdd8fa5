"""The roster preview a district reviews before go-live: built from a pull, printed by the CLI."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import pandas as pd

from rostering_pipeline.outcomes import describe_changes

REPORTED = ("orgs", "users")  # the entities whose rows the report reads


def build_report(frames: Mapping[str, pd.DataFrame], changes: Mapping[str, Mapping[str, int]]):
    """Schools, teachers (with e-mails), student counts by school and grade, and the diff.

    The report lives in the app DB (`sync_runs.preview`), never in Dagster metadata.
    """
    orgs = _active(frames["orgs"])
    schools = orgs[orgs["org_type"] == "school"].sort_values("name")
    users = _active(frames["users"])
    teachers = users[users["role"] == "teacher"].sort_values(["family_name", "given_name"])
    students = users[users["role"] == "student"]
    return {
        "schools": [
            {"sourced_id": row.sourced_id, "name": row.name, "identifier": row.identifier}
            for row in schools.itertuples()
        ],
        "teachers": [
            {
                "sourced_id": row.sourced_id,
                "given_name": row.given_name,
                "family_name": row.family_name,
                "email": row.email,
                "schools": orjson.loads(row.org_sourced_ids),
            }
            for row in teachers.itertuples()
        ],
        "students_by_school_and_grade": _students_by_school_and_grade(students),
        "changes": {entity: dict(counts) for entity, counts in changes.items()},
    }


def _active(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "active"].astype(object).where(frame.notna(), None)


def _students_by_school_and_grade(students: pd.DataFrame) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for orgs, grades in zip(students["org_sourced_ids"], students["grades"], strict=True):
        grade = ",".join(orjson.loads(grades)) or "(none)"
        for school in orjson.loads(orgs):
            by_grade = counts.setdefault(school, {})
            by_grade[grade] = by_grade.get(grade, 0) + 1
    return {school: dict(sorted(g.items())) for school, g in sorted(counts.items())}


def render(report: dict, *, first_sync: bool) -> str:
    """The preview as plain text for the terminal; provider text cannot drive the terminal.
    `first_sync`: the district holds no roster yet (in preview), so the diff is its go-live."""
    return _terminal_safe(_render(report, first_sync))


def _terminal_safe(text: str) -> str:
    # Escape sequences, bidi overrides, stray CR... in a name would act on the operator's
    # terminal: every non-printable character but the line breaks is shown as an escape.
    return "\n".join(
        "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in line)
        for line in text.split("\n")
    )


def _render(report: dict, first_sync: bool) -> str:
    names = {school["sourced_id"]: school["name"] for school in report["schools"]}
    lines = [f"Schools ({len(report['schools'])}):"]
    lines += [f"  {s['name']}  [{s['sourced_id']}]" for s in report["schools"]]
    lines.append(f"\nTeachers ({len(report['teachers'])}):")
    for t in report["teachers"]:
        schools = ", ".join(names.get(s, s) for s in t["schools"])
        lines.append(f"  {t['family_name']}, {t['given_name']}  <{t['email'] or '-'}>  {schools}")
    lines.append("\nStudents by school and grade:")
    for school, by_grade in report["students_by_school_and_grade"].items():
        total = sum(by_grade.values())
        grades = "  ".join(f"{grade}: {n}" for grade, n in by_grade.items())
        lines.append(f"  {names.get(school, school)} ({total}): {grades}")
    heading = "The first active sync would apply" if first_sync else "A sync now would apply"
    lines.append(f"\n{heading}:")
    lines += [f"  {line}" for line in describe_changes(report["changes"])]
    return "\n".join(lines)
