"""Small normalized frames, app databases on both backends, and dumps to compare them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pandas as pd
import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.engine import make_engine as app_engine
from rostering_pipeline.appdb.engine import upgrade
from rostering_pipeline.oneroster.entities import ENTITIES, Kind

MODIFIED = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
BACKENDS = ("sqlite", "postgresql")


def make_engine(backend: str, sqlite_path: Path, pg_url: str | None) -> sa.Engine:
    """A fresh app database at the migrations' head, opened the way the app opens it."""
    url = f"sqlite:///{sqlite_path}" if backend == "sqlite" else pg_url
    engine = app_engine(url)
    if backend == "postgresql":
        with engine.begin() as conn:
            tables.metadata.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade(url)
    return engine


def engine_for(request: pytest.FixtureRequest, tmp_path) -> Iterator[sa.Engine]:
    """Body of each test module's `engine` fixture, parametrized over BACKENDS."""
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    engine = make_engine(request.param, tmp_path / "app.db", pg_url)
    yield engine
    engine.dispose()


def add_district(engine: sa.Engine, key: str = "demo") -> int:
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
                client_id="client",
                schedule="0 2 * * *",
                timezone="UTC",
                include_guardians=False,
                max_deactivation_ratio=0.1,
                min_deactivation_rows=25,
                page_size=1000,
                concurrency=4,
                created_at=now,
                updated_at=now,
            )
            .returning(tables.districts.c.id)
        ).scalar_one()


def _defaults(entity: str, sourced_id: str) -> dict[str, object]:
    """A plausible row for each entity; tests override only what they are about."""
    common = {"sourced_id": sourced_id, "status": "active", "source_modified_at": MODIFIED}
    rows = {
        "orgs": {"name": f"Org {sourced_id}", "org_type": "school", "identifier": sourced_id},
        "academic_sessions": {
            "title": "2026",
            "session_type": "schoolYear",
            "start_date": date(2026, 8, 1),
            "end_date": date(2027, 6, 30),
            "school_year": "2027",
        },
        "courses": {"title": "Math", "org_sourced_id": "s1", "grades": '["09"]'},
        "classes": {
            "title": f"Class {sourced_id}",
            "class_type": "scheduled",
            "periods": '["1"]',
            "grades": '["09"]',
            "course_sourced_id": "c1",
            "school_sourced_id": "s1",
            "term_sourced_ids": '["y1"]',
        },
        "users": {
            "role": "student",
            "given_name": "Given",
            "family_name": str(sourced_id).title(),
            "email": f"{sourced_id}@example.org",
            "username": sourced_id,
            "grades": '["09"]',
            "enabled": True,
            "org_sourced_ids": '["s1"]',
        },
        "enrollments": {
            "school_sourced_id": "s1",
            "role": "student",
            "is_primary": False,
            "begin_date": date(2026, 8, 1),
        },
    }
    return {**common, **rows[entity]}


def frame(entity: str, rows: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """A frame with the contract's columns and dtypes; each row is `{"sourced_id": ..., ...}`."""
    spec = ENTITIES[entity]
    records = [{**_defaults(entity, row["sourced_id"]), **row} for row in rows]
    data = {
        column: pd.Series([r.get(column) for r in records], dtype=dtype)
        if spec.all_columns[column] is not Kind.JSON_LIST
        else pd.Series([r.get(column) or "[]" for r in records], dtype=dtype)
        for column, dtype in spec.dtypes().items()
    }
    return pd.DataFrame(data)


def roster(**overrides: list[Mapping[str, object]]) -> dict[str, pd.DataFrame]:
    """A small district: one school year, two schools, two classes, two teachers, three students."""
    rows: dict[str, list[Mapping[str, object]]] = {
        "orgs": [
            {"sourced_id": "d1", "org_type": "district"},
            {"sourced_id": "s1", "parent_sourced_id": "d1"},
            {"sourced_id": "s2", "parent_sourced_id": "d1"},
        ],
        "academic_sessions": [{"sourced_id": "y1"}],
        "courses": [{"sourced_id": "c1"}],
        "classes": [{"sourced_id": "k1"}, {"sourced_id": "k2", "school_sourced_id": "s2"}],
        "users": [
            {"sourced_id": "t1", "role": "teacher", "org_sourced_ids": '["s1","s2"]'},
            {"sourced_id": "t2", "role": "teacher"},
            {"sourced_id": "u1"},
            {"sourced_id": "u2"},
            {"sourced_id": "u3", "org_sourced_ids": '["s2"]'},
        ],
        "enrollments": [
            enrollment("e1", "t1", "k1", role="teacher"),
            enrollment("e2", "t2", "k1", role="teacher", is_primary=True),
            enrollment("e3", "u1", "k1"),
            enrollment("e4", "u2", "k1"),
            enrollment("e5", "t1", "k2", role="teacher"),
            enrollment("e6", "u3", "k2"),
        ],
    }
    rows.update(overrides)
    return {entity: frame(entity, entity_rows) for entity, entity_rows in rows.items()}


def enrollment(sourced_id: str, user: str, klass: str, **fields: object) -> dict[str, object]:
    return {"sourced_id": sourced_id, "user_sourced_id": user, "class_sourced_id": klass, **fields}


def rows_of(frames: Mapping[str, pd.DataFrame], entity: str) -> list[dict[str, object]]:
    """A frame back as rows, to edit and rebuild with `frame`."""
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frames[entity].to_dict("records")
    ]


ROSTER_TABLES = {**tables.ROSTER_TABLES, "user_schools": tables.user_schools}
_VOLATILE = {"id", "first_seen_at", "updated_at", "deactivated_at", "district_id"}


def dump(engine: sa.Engine, *, stable: bool = False) -> dict[str, list[tuple]]:
    """Every roster row and district, sorted; `stable` drops ids and timestamps the run sets."""
    out = {}
    with engine.connect() as conn:
        for name, table in {**ROSTER_TABLES, "districts": tables.districts}.items():
            columns = [
                c
                for c in table.columns
                if not (stable and (c.name in _VOLATILE or name == "districts"))
            ]
            if not columns:
                continue
            rows = conn.execute(sa.select(*columns)).all()
            out[name] = sorted((tuple(_comparable(v) for v in row) for row in rows), key=repr)
    return out


def _comparable(value: object) -> object:
    """SQLite hands timestamps back without their zone; compare them as UTC on both."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def active_rows(engine: sa.Engine, table: sa.Table, district_id: int) -> dict[str, dict]:
    """Active rows by key, with the business columns and hash (no ids or timestamps)."""
    key = (
        ("user_sourced_id", "school_sourced_id")
        if table is tables.user_schools
        else ("sourced_id",)
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table).where(table.c.district_id == district_id, table.c.active)
        ).mappings()
        return {
            "/".join(row[k] for k in key): {
                c: _comparable(v) for c, v in row.items() if c not in _VOLATILE
            }
            for row in rows
        }


def sync_runs(engine: sa.Engine, district_id: int) -> list[dict[str, object]]:
    runs = tables.sync_runs
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(runs).where(runs.c.district_id == district_id).order_by(runs.c.id)
        ).mappings()
        return [
            {**row, **{c: orjson.loads(row[c]) for c in ("counts", "held") if row[c]}}
            for row in rows
        ]
