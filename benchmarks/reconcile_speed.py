"""Reconciliation speed on a large synthetic district: initial, no-change and next-day applies.

    .venv/bin/python benchmarks/reconcile_speed.py [--students 200000] [--backend postgresql]

Frames are generated directly (numpy/pyarrow, the contract's dtypes), so only the engine is
timed. PostgreSQL runs in a throwaway database on ROSTERING_TEST_DATABASE_URL's server; SQLite
in a temporary file. Prints a Markdown table: seconds per phase and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from benchmarks.apply_profile import foreign_key_lines, statement_lines, statement_seconds
from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.reconcile import reconcile
from rostering_pipeline.oneroster.entities import ENTITIES

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "rostering_bench_reconcile"
DAY = datetime(2026, 9, 1, tzinfo=UTC)
JSON_LISTS = ("grades", "periods", "term_sourced_ids", "org_sourced_ids", "school_roles")


def ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def build_frame(entity: str, n: int, columns: dict[str, object]) -> pd.DataFrame:
    """A contract frame of n rows: given columns, nulls elsewhere, lists default to '[]'."""
    data = {}
    for column, dtype in ENTITIES[entity].dtypes().items():
        value = columns.get(column)
        if value is None and column in JSON_LISTS:
            value = pa.array(["[]"] * n)
        if value is None:
            value = [None] * n
        elif isinstance(value, pa.Array):
            value = value.to_pandas(types_mapper=pd.ArrowDtype)
        data[column] = pd.Series(value).astype(dtype)
    return pd.DataFrame(data)


def district_frames(students: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    """A district scaled on the student count (200k students: about 1.7 million rows)."""
    rng = np.random.default_rng(seed)
    schools = max(3, students // 670)
    teachers = max(2, students * 12 // 200)
    classes = max(2, students * 60 // 200)
    courses = schools * 10
    student_enrollments = students * 1_320 // 200

    def stamp(n: int) -> pd.Series:
        return pd.Series([DAY - timedelta(days=3)] * n, dtype="datetime64[us, UTC]")

    def common(prefix: str, n: int) -> dict[str, object]:
        return {
            "sourced_id": ids(prefix, np.arange(n)),
            "status": pa.array(["active"] * n),
            "source_modified_at": stamp(n),
        }

    school_ids = ids("sch-", np.arange(schools))
    orgs = build_frame(
        "orgs",
        schools + 1,
        {
            **common("org-", schools + 1),
            "sourced_id": pa.concat_arrays([pa.array(["district"]), school_ids]),
            "name": ids("School ", np.arange(-1, schools)),
            "org_type": pa.array(["district"] + ["school"] * schools),
            "parent_sourced_id": pa.array([None] + ["district"] * schools, pa.string()),
        },
    )
    sessions = build_frame(
        "academic_sessions",
        3,
        {
            **common("term-", 3),
            "title": pa.array(["2026-27", "Fall", "Spring"]),
            "session_type": pa.array(["schoolYear", "semester", "semester"]),
            "school_year": pa.array(["2027"] * 3),
        },
    )
    course_school = rng.integers(0, schools, courses)
    course_frame = build_frame(
        "courses",
        courses,
        {
            **common("crs-", courses),
            "title": ids("Course ", np.arange(courses)),
            "org_sourced_id": ids("sch-", course_school),
            "school_year_sourced_id": pa.array(["term-0"] * courses),
            "grades": pa.array(['["09","10"]'] * courses),
        },
    )
    class_course = rng.integers(0, courses, classes)
    class_frame = build_frame(
        "classes",
        classes,
        {
            **common("cls-", classes),
            "title": ids("Class ", np.arange(classes)),
            "class_type": pa.array(["scheduled"] * classes),
            "periods": pa.array(['["1"]'] * classes),
            "course_sourced_id": ids("crs-", class_course),
            "school_sourced_id": ids("sch-", course_school[class_course]),
            "term_sourced_ids": pa.array(['["term-1"]'] * classes),
        },
    )
    user_count = students + teachers
    user_school = rng.integers(0, schools, user_count)
    user_ids = ids("usr-", np.arange(user_count))
    users = build_frame(
        "users",
        user_count,
        {
            **common("usr-", user_count),
            "role": pa.array(["student"] * students + ["teacher"] * teachers),
            "given_name": ids("Given", rng.integers(0, 5000, user_count)),
            "family_name": ids("Family", rng.integers(0, 20000, user_count)),
            "email": pc.binary_join_element_wise(user_ids, "@example.org", ""),
            "username": user_ids,
            "identifier": ids("", np.arange(user_count) + 100_000),
            "grades": pa.array(['["09"]'] * user_count),
            "enabled": np.ones(user_count, dtype=bool),
            "org_sourced_ids": pc.binary_join_element_wise(
                '["', ids("sch-", user_school), '"]', ""
            ),
        },
    )
    # One primary teacher per class, a co-teacher for a third of them, then the students.
    co_taught = rng.choice(classes, classes // 3, replace=False)
    enrollment_class = np.concatenate(
        [np.arange(classes), co_taught, rng.integers(0, classes, student_enrollments)]
    )
    enrollment_user = np.concatenate(
        [
            students + rng.integers(0, teachers, classes + len(co_taught)),
            rng.integers(0, students, student_enrollments),
        ]
    )
    n = len(enrollment_class)
    teacher_rows = classes + len(co_taught)
    enrollments = build_frame(
        "enrollments",
        n,
        {
            **common("enr-", n),
            "user_sourced_id": ids("usr-", enrollment_user),
            "class_sourced_id": ids("cls-", enrollment_class),
            "school_sourced_id": ids("sch-", course_school[class_course[enrollment_class]]),
            "role": pa.array(["teacher"] * teacher_rows + ["student"] * (n - teacher_rows)),
            "is_primary": np.arange(n) < classes,
            "begin_date": pa.array([DAY.date()] * n, pa.date32()),
        },
    )
    return {
        "orgs": orgs,
        "academic_sessions": sessions,
        "courses": course_frame,
        "classes": class_frame,
        "users": users,
        "enrollments": enrollments,
    }


def next_day(frames: dict[str, pd.DataFrame], seed: int = 11) -> dict[str, pd.DataFrame]:
    """About 3% changes: renamed users, 1% of students gone, 1% new, moved enrollments."""
    rng = np.random.default_rng(seed)
    later = DAY + timedelta(days=1)
    users = frames["users"].copy()
    students = users.index[users["role"] == "student"]
    renamed = rng.choice(users.index, len(users) // 50, replace=False)
    users.loc[renamed, "family_name"] = users.loc[renamed, "family_name"] + "-Smith"
    users.loc[renamed, "source_modified_at"] = later
    gone = set(rng.choice(students, len(students) // 100, replace=False).tolist())
    gone_ids = set(users.loc[list(gone), "sourced_id"])
    users = users.drop(index=list(gone))
    newcomers = users.iloc[: len(gone)].copy()
    newcomers["sourced_id"] = [f"new-{i}" for i in range(len(newcomers))]
    newcomers["source_modified_at"] = later
    users = pd.concat([users, newcomers], ignore_index=True)

    enrollments = frames["enrollments"]
    enrollments = enrollments[~enrollments["user_sourced_id"].isin(gone_ids)].copy()
    moved = rng.choice(len(enrollments), len(enrollments) // 50, replace=False)
    end_dates = enrollments["end_date"].copy()
    end_dates.iloc[moved] = later.date()
    enrollments["end_date"] = end_dates
    new_enrollments = enrollments.iloc[: len(newcomers) * 6].copy()
    new_enrollments["sourced_id"] = [f"new-enr-{i}" for i in range(len(new_enrollments))]
    new_enrollments["user_sourced_id"] = np.repeat(newcomers["sourced_id"].to_numpy(), 6)[
        : len(new_enrollments)
    ]
    enrollments = pd.concat([enrollments, new_enrollments], ignore_index=True)
    return {**frames, "users": users, "enrollments": enrollments}


def add_district(engine: sa.Engine, key: str = "bench") -> int:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        return conn.execute(
            sa.insert(tables.districts)
            .values(
                key=key,
                name=key.title(),
                status="active",
                base_url="http://127.0.0.1:1",
                auth_method="oauth2",
                client_id="bench",
                schedule="0 2 * * *",
                timezone="UTC",
                include_guardians=False,
                max_deactivation_ratio=0.1,
                min_deactivation_rows=25,
                page_size=10_000,
                concurrency=4,
                created_at=now,
                updated_at=now,
            )
            .returning(tables.districts.c.id)
        ).scalar_one()


def open_database(backend: str, workdir: Path) -> tuple[sa.Engine, object]:
    """A fresh database and a function that removes it."""
    if backend == "sqlite":
        engine = sa.create_engine(f"sqlite:///{workdir / 'bench.db'}")
        tables.metadata.create_all(engine)
        return engine, engine.dispose
    server = sa.make_url(os.environ.get("ROSTERING_TEST_DATABASE_URL", DEFAULT_SERVER))
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {BENCH_DATABASE}")
    engine = sa.create_engine(server.set(database=BENCH_DATABASE))
    tables.metadata.create_all(engine)

    def drop() -> None:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        admin.dispose()

    return engine, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()

    started = time.perf_counter()
    frames = district_frames(args.students)
    changed = next_day(frames)
    rows = sum(len(f) for f in frames.values())
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryDirectory() as workdir:
        engine, remove = open_database(args.backend, Path(workdir))
        try:
            district_id = add_district(engine)
            phases = (("initial apply", frames), ("no change", frames), ("next day", changed))
            results = []
            profile: list[str] = []
            for name, pull in phases:
                profiled = args.backend == "postgresql" and not results
                with statement_seconds(engine) as spent:
                    begin = time.perf_counter()
                    result = reconcile(engine, district_id=district_id, frames=pull, mode="full")
                    seconds = time.perf_counter() - begin
                if profiled:
                    profile = statement_lines(spent, seconds)
                    other = add_district(engine, "bench-other")
                    profile += ["", *foreign_key_lines(engine, district_id, other)]
                totals = {
                    action: sum(c[action] for c in result.counts.values())
                    for action in ("inserted", "updated", "deactivated", "reactivated")
                }
                results.append((name, seconds, result.status, totals))
        finally:
            remove()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{args.backend}, {args.students:,} students, {rows:,} rows\n")
    print("| phase | seconds | status | inserted | updated | deactivated | reactivated |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, seconds, status, totals in results:
        print(
            f"| {name} | {seconds:.1f} | {status} | {totals['inserted']:,} | {totals['updated']:,}"
            f" | {totals['deactivated']:,} | {totals['reactivated']:,} |"
        )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\npeak RSS of this process: {peak_mb:,.0f} MB")
    print(f"load average {load} on {os.cpu_count()} CPUs (shared machine: times vary with it)")
    if profile:
        print("", *profile, sep="\n")


if __name__ == "__main__":
    main()
