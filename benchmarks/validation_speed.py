"""How long the validation gate takes on a large district's frames (synthetic, in memory).

    .venv/bin/python -m benchmarks.validation_speed

Prints one line per case: entity, rows, seconds, failing rows. `measure()` returns the same
figures for benchmarks/run.py.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.validation import References, validate

SCHOOLS = 40
USERS = 212_000
CLASSES = 60_000
ENROLLMENTS = 1_400_000
# A bad share under the default quarantine ratio (0.5%): the failure-reporting path at scale.
BAD_SHARE = 0.004


def _ids(prefix: str, numbers: np.ndarray) -> np.ndarray:
    return np.char.add(prefix, numbers.astype(str)).astype(object)


def _frame(entity: str, columns: dict[str, object], rows: int) -> pd.DataFrame:
    definition = ENTITIES[entity]
    data = {column: columns.get(column, [None] * rows) for column in definition.all_columns}
    return pd.DataFrame(data).astype(definition.dtypes())


def _common(prefix: str, rows: int) -> dict[str, object]:
    return {
        "sourced_id": _ids(prefix, np.arange(rows)),
        "status": np.where(np.arange(rows) % 50 == 0, "tobedeleted", "active"),
        "source_modified_at": pd.Timestamp("2026-08-01T12:00:00Z"),
    }


def users(rows: int = USERS) -> pd.DataFrame:
    numbers = np.arange(rows)
    columns = {
        **_common("u", rows),
        "role": np.where(numbers % 15 == 0, "teacher", "student"),
        "given_name": "Given",
        "family_name": "Family",
        "email": np.char.add(_ids("u", numbers).astype(str), "@example.org").astype(object),
        "username": _ids("user", numbers),
        "grades": '["09"]',
        "enabled": True,
        "org_sourced_ids": np.char.add(np.char.add('["s', (numbers % SCHOOLS).astype(str)), '"]'),
        "school_roles": "[]",
    }
    return _frame("users", columns, rows)


def classes(rows: int = CLASSES) -> pd.DataFrame:
    numbers = np.arange(rows)
    columns = {
        **_common("c", rows),
        "title": "Algebra",
        "class_type": "scheduled",
        "periods": '["1"]',
        "grades": '["09","10"]',
        "course_sourced_id": _ids("k", numbers % 500),
        "school_sourced_id": _ids("s", numbers % SCHOOLS),
        "term_sourced_ids": '["t1","t2"]',
    }
    return _frame("classes", columns, rows)


def enrollments(rows: int = ENROLLMENTS, bad_share: float = 0.0) -> pd.DataFrame:
    numbers = np.arange(rows)
    role = np.where(numbers % 25 == 0, "teacher", "student").astype(object)
    if bad_share:
        role[numbers % round(1 / bad_share) == 1] = "janitor"
    columns = {
        **_common("e", rows),
        "user_sourced_id": _ids("u", numbers % USERS),
        "class_sourced_id": _ids("c", numbers % CLASSES),
        "school_sourced_id": _ids("s", numbers % SCHOOLS),
        "role": role,
        "is_primary": numbers % 25 == 0,
        "begin_date": np.datetime64("2025-08-15", "D"),
        "end_date": np.datetime64("2026-06-05", "D"),
    }
    return _frame("enrollments", columns, rows)


def references() -> References:
    return References(
        orgs=frozenset(f"s{n}" for n in range(SCHOOLS)),
        academic_sessions=frozenset({"t1", "t2"}),
        courses=frozenset(f"k{n}" for n in range(500)),
        classes=frozenset(f"c{n}" for n in range(CLASSES)),
        users=frozenset(f"u{n}" for n in range(USERS)),
    )


def measure() -> list[dict[str, object]]:
    refs = references()
    cases = [
        ("users", users()),
        ("classes", classes()),
        ("enrollments", enrollments()),
        (f"enrollments, {BAD_SHARE:.1%} bad", enrollments(bad_share=BAD_SHARE)),
    ]
    figures = []
    for case, frame in cases:
        start = time.perf_counter()
        verdict = validate(case.split(",")[0], frame, refs)
        seconds = time.perf_counter() - start
        assert verdict.passed, verdict.markdown()
        figures.append(
            {"case": case, "rows": len(frame), "seconds": seconds, "failing": verdict.failing_rows}
        )
    return figures


def main() -> None:
    for figure in measure():
        print(
            f"validate {figure['case']}: {figure['rows']:,} rows in {figure['seconds']:.2f} s"
            f" ({figure['failing']:,} failing rows quarantined)"
        )


if __name__ == "__main__":
    main()
