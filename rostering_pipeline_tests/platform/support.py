"""Helpers for tests of the production instance."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]


def dagster_pg_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables the repo's dagster.yaml reads, for the database at `url`."""
    parsed = sa.make_url(url)
    return {
        "DAGSTER_PG_USERNAME": parsed.username or "",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
        "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_DB": parsed.database,
    }
