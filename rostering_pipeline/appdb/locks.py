"""PostgreSQL advisory locks of this project: the two-number form, under a class of our own, so
that no other user of the database locking the same number stalls a district (or is stalled)."""

from __future__ import annotations

import sqlalchemy as sa

from rostering_pipeline.appdb.tables import districts
from rostering_pipeline.errors import DistrictPurged

# The lock class ("Rost" in ASCII, an int4); the second number is the district's id.
ADVISORY_CLASS = 0x526F7374


def district_lock(district_id: int) -> sa.Select:
    """Taken for the rest of the transaction: one district's runs apply one at a time."""
    return sa.select(
        sa.func.pg_advisory_xact_lock(
            sa.literal(ADVISORY_CLASS, sa.Integer), sa.cast(district_id, sa.Integer)
        )
    )


def lock_district(conn: sa.Connection, district_id: int) -> None:
    """Hold the district until the transaction ends: an advisory lock on PostgreSQL, the write
    lock on SQLite (taken at once rather than at the first write)."""
    if conn.dialect.name == "postgresql":
        conn.execute(district_lock(district_id))
    elif conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        if not driver.in_transaction:  # an engine hook may already have begun one
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def lock_unpurged(conn: sa.Connection, district_id: int) -> None:
    """`lock_district`, then DistrictPurged if the district was purged meanwhile: a run under way
    when its district is purged writes nothing back."""
    lock_district(conn, district_id)
    status = conn.execute(
        sa.select(districts.c.status).where(districts.c.id == district_id)
    ).scalar_one()
    if status == "purged":
        raise DistrictPurged("the district was purged while this run was under way; nothing kept")
