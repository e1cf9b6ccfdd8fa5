"""What is held about a district, and where: the answer to its privacy officer. Counts, places,
key ids and dates only; never a personal value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import (
    ROSTER_TABLES,
    alerts,
    district_exports,
    provider_profiles,
    snapshot_verdicts,
    sync_requests,
    sync_runs,
    user_schools,
)
from rostering_pipeline.districts import SEALED_FIELDS, District, get_district
from rostering_pipeline.snapshots import SnapshotRun, SnapshotStore

# Tables of records about the district's runs: counts, ids and rule names, no personal data.
RECORD_TABLES = (sync_runs, sync_requests, snapshot_verdicts, provider_profiles, alerts)


@dataclass(frozen=True)
class Export:
    exported_at: datetime
    format: str
    destination: str
    rows: int


@dataclass(frozen=True)
class Purge:
    purged_at: datetime
    destroyed: list[str]


@dataclass(frozen=True)
class Inventory:
    district: District
    database: str  # where the app DB is (no password)
    roster: dict[str, tuple[int, int]]  # table -> (active, deactivated)
    records: dict[str, int]  # table -> rows
    snapshot_folder: str
    snapshots: list[SnapshotRun]
    plaintext_files: int  # snapshots not encrypted (written before encryption)
    exports: list[Export]
    last_purge: Purge | None
    dagster_runs: int  # runs in the Dagster instance: event logs of counts and sourced ids


def take(engine: sa.Engine, key: str, store: SnapshotStore, *, dagster_runs: int) -> Inventory:
    with engine.connect() as conn:
        district = get_district(conn, key)
        roster = {
            str(table.name): _active_and_deactivated(conn, table, district.id)
            for table in (*ROSTER_TABLES.values(), user_schools)
        }
        records = {
            str(table.name): conn.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.district_id == district.id)
            ).scalar_one()
            for table in RECORD_TABLES
        }
        exports = [
            Export(row.exported_at, row.format, row.destination, row.rows)
            for row in conn.execute(
                sa.select(district_exports)
                .where(district_exports.c.district_id == district.id)
                .order_by(district_exports.c.exported_at)
            )
        ]
        purge = conn.execute(
            sa.select(sync_runs.c.finished_at, sync_runs.c.counts)
            .where(sync_runs.c.district_id == district.id, sync_runs.c.mode == "purge")
            .order_by(sync_runs.c.id.desc())
            .limit(1)
        ).first()
    return Inventory(
        district=district,
        database=engine.url.render_as_string(hide_password=True),
        roster=roster,
        records=records,
        snapshot_folder=store.folder(key),
        snapshots=store.run_files(key),
        plaintext_files=sum(store.plaintext(key).values()),
        exports=exports,
        last_purge=purge and Purge(purge.finished_at, _destroyed(purge.counts)),
        dagster_runs=dagster_runs,
    )


def _active_and_deactivated(conn: sa.Connection, table: sa.Table, district_id: int) -> tuple:
    active = sa.func.count().filter(table.c.active)
    deactivated = sa.func.count().filter(sa.not_(table.c.active))
    query = sa.select(active, deactivated).where(table.c.district_id == district_id)
    return tuple(conn.execute(query).one())


def _destroyed(counts: str | None) -> list[str]:
    return list(orjson.loads(counts).get("destroyed", [])) if counts else []


def render(inventory: Inventory) -> str:
    d = inventory.district
    lines = [
        f"what is held about district '{d.key}' ({d.name}), status {d.status}",
        f"application database ({inventory.database}):",
        *(
            f"  {table}: {active} active, {deactivated} deactivated"
            for table, (active, deactivated) in inventory.roster.items()
        ),
        *(
            f"  {table}: {count} record(s) (counts, ids and rule names; no personal values)"
            for table, count in inventory.records.items()
        ),
        f"Dagster instance: {inventory.dagster_runs} run(s) of the district (event logs of "
        "counts, sourced ids and rule names)",
        f"snapshots ({inventory.snapshot_folder}): "
        + _snapshots(inventory.snapshots, inventory.plaintext_files),
        f"  kept: the last {d.snapshot_retention_runs} runs, at most "
        f"{d.snapshot_retention_days} days",
        "keys and secrets (AES-256-GCM, wrapped by ROSTERING_SECRET_KEYS):",
        *(
            f"  {label}: {_sealed(getattr(d, f'{name}_key_id'))}"
            for name, label in SEALED_FIELDS.items()
        ),
        "exports made (by whom is not recorded):",
        *(
            f"  {_when(e.exported_at)}: {e.format}, {e.rows} rows, to {e.destination}"
            for e in inventory.exports
        ),
        *(["  none"] if not inventory.exports else []),
        f"last purge: {_purge(inventory.last_purge)}",
    ]
    return "\n".join(lines)


def _snapshots(runs: list[SnapshotRun], plaintext: int) -> str:
    if not runs:
        return "none"
    files = sum(run.files for run in runs)
    size = sum(run.bytes for run in runs)
    encrypted = (
        "yes (Parquet modular encryption, AES-GCM, 256-bit keys under the district's data key)"
        if not plaintext
        else f"NO for {plaintext} file(s): run `rostering-pipeline db upgrade`"
    )
    return (
        f"{len(runs)} run(s), {files} file(s), {size:,} bytes, oldest "
        f"{_when(runs[0].written_at)}; encrypted: {encrypted}"
    )


def _sealed(key_id: str | None) -> str:
    return f"held, wrapped by key {key_id}" if key_id else "none"


def _purge(purge: Purge | None) -> str:
    if purge is None:
        return "never"
    return f"{_when(purge.purged_at)}; destroyed: {', '.join(purge.destroyed) or 'nothing'}"


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
