"""The snapshot ledger: which run's snapshot of which entity passed its blocking checks.

The reconciliation applies only snapshots recorded here as passed, so a run that selects
`app_db/roster` alone can never apply an unvalidated pull.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import snapshot_verdicts


@dataclass(frozen=True)
class LedgerEntry:
    dagster_run_id: str
    entity: str
    snapshot_location: str
    mode: str
    passed: bool
    quarantined_ids: frozenset[str]  # failed a row-level rule, under the ratio
    dependent_quarantined_ids: frozenset[str]  # depend on a quarantined upstream row
    recorded_at: datetime
    provider_clock_at: datetime | None  # the provider's clock at the pull's first response
    failure_counts: dict[str, int]  # "rule field" -> failing rows
    file_absent: bool = False  # a CSV package left the entity's file out: it stays as it is


def record_verdict(
    conn: sa.Connection,
    *,
    district_id: int,
    dagster_run_id: str,
    entity: str,
    snapshot_location: str,
    mode: str,
    passed: bool,
    quarantined_ids: frozenset[str],
    dependent_quarantined_ids: frozenset[str] = frozenset(),
    provider_clock_at: datetime | None = None,
    failure_counts: Mapping[tuple[str, str | None], int] | None = None,
    file_absent: bool = False,
) -> None:
    conn.execute(
        snapshot_verdicts.delete().where(
            snapshot_verdicts.c.dagster_run_id == dagster_run_id,
            snapshot_verdicts.c.entity == entity,
        )
    )
    conn.execute(
        snapshot_verdicts.insert().values(
            district_id=district_id,
            dagster_run_id=dagster_run_id,
            entity=entity,
            snapshot_location=snapshot_location,
            mode=mode,
            passed=passed,
            quarantined_count=len(quarantined_ids),
            quarantined_ids=orjson.dumps(sorted(quarantined_ids)).decode(),
            dependent_quarantined_ids=orjson.dumps(sorted(dependent_quarantined_ids)).decode(),
            recorded_at=datetime.now(UTC),
            provider_clock_at=provider_clock_at,
            failure_counts=orjson.dumps(
                {
                    " ".join(part for part in key if part): rows
                    for key, rows in (failure_counts or {}).items()
                }
            ).decode(),
            file_absent=file_absent,
        )
    )


def recorded_runs(conn: sa.Connection, district_id: int) -> dict[str, datetime]:
    """The runs the ledger holds verdicts of for the district, each with its newest verdict's
    time: what snapshot retention weighs beside the files."""
    t = snapshot_verdicts
    rows = conn.execute(
        sa.select(t.c.dagster_run_id, sa.func.max(t.c.recorded_at))
        .where(t.c.district_id == district_id)
        .group_by(t.c.dagster_run_id)
    )
    return {run_id: recorded for run_id, recorded in rows}


def forget_runs(conn: sa.Connection, district_id: int, run_ids: Sequence[str]) -> None:
    """Drop the verdicts of runs whose snapshots are deleted: nothing may point at them."""
    t = snapshot_verdicts
    conn.execute(t.delete().where(t.c.district_id == district_id, t.c.dagster_run_id.in_(run_ids)))


def latest_verdicts(conn: sa.Connection, district_id: int) -> dict[str, LedgerEntry]:
    """The most recent verdict per entity for the district, whichever run recorded it."""
    return _newest_per_entity(conn, snapshot_verdicts.c.district_id == district_id)


def run_verdicts(
    conn: sa.Connection, district_id: int, run_ids: Sequence[str]
) -> dict[str, LedgerEntry]:
    """The newest verdict per entity recorded by one of `run_ids` (a run and the runs it
    re-executes): the set of snapshots that run may apply, and nothing pulled by another."""
    t = snapshot_verdicts
    return _newest_per_entity(conn, t.c.district_id == district_id, t.c.dagster_run_id.in_(run_ids))


def _newest_per_entity(
    conn: sa.Connection, *where: sa.ColumnElement[bool]
) -> dict[str, LedgerEntry]:
    t = snapshot_verdicts
    newest = (
        sa.select(t.c.entity, sa.func.max(t.c.id).label("id"))
        .where(*where)
        .group_by(t.c.entity)
        .subquery()
    )
    rows = conn.execute(sa.select(t).join(newest, newest.c.id == t.c.id)).mappings()
    return {
        row["entity"]: LedgerEntry(
            dagster_run_id=row["dagster_run_id"],
            entity=row["entity"],
            snapshot_location=row["snapshot_location"],
            mode=row["mode"],
            passed=row["passed"],
            quarantined_ids=frozenset(orjson.loads(row["quarantined_ids"])),
            dependent_quarantined_ids=frozenset(orjson.loads(row["dependent_quarantined_ids"])),
            recorded_at=row["recorded_at"],
            provider_clock_at=row["provider_clock_at"],
            failure_counts=orjson.loads(row["failure_counts"]),
            file_absent=row["file_absent"],
        )
        for row in rows
    }


def failed_in_run(conn: sa.Connection, dagster_run_id: str) -> dict[str, dict[str, int]]:
    """entity -> failing rows per "rule field", for this run's verdicts that failed."""
    t = snapshot_verdicts
    rows = conn.execute(
        sa.select(t.c.entity, t.c.failure_counts)
        .where(t.c.dagster_run_id == dagster_run_id, sa.not_(t.c.passed))
        .order_by(t.c.id)
    )
    return {entity: orjson.loads(counts) for entity, counts in rows}
