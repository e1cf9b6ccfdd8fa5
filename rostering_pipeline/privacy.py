"""Privacy requests: export every stored row of a district, purge it, read its preview report.

Plain library (no click). The app DB work takes an Engine; the Dagster work takes the instance,
and Dagster is imported only by the functions that touch it (it is slow to load, and `export`
and `preview` never need it).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from rostering_pipeline.appdb.locks import lock_district
from rostering_pipeline.appdb.tables import (
    academic_sessions,
    classes,
    courses,
    district_exports,
    districts,
    enrollments,
    provider_profiles,
    schools,
    snapshot_verdicts,
    sync_requests,
    sync_runs,
    user_schools,
    users,
)
from rostering_pipeline.csv_values import as_csv
from rostering_pipeline.districts import SEALED_FIELDS, District, get_district, mark_purged
from rostering_pipeline.errors import BadInput
from rostering_pipeline.oneroster_csv import write_package

if TYPE_CHECKING:
    import dagster as dg

    from rostering_pipeline.snapshots import SnapshotStore

EXPORT_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
EXPORT_CHUNK_ROWS = 10_000
PARTITIONS_NAME = "district"
# Every table holding rows of a district besides `districts` itself, in export order.
DISTRICT_TABLES: tuple[sa.Table, ...] = (
    schools,
    academic_sessions,
    courses,
    classes,
    users,
    user_schools,
    enrollments,
    sync_runs,
    sync_requests,
    snapshot_verdicts,
    provider_profiles,
)
EXPORT_TABLES = ("districts", *(str(table.name) for table in DISTRICT_TABLES))
# A cell starting with one of these is a formula to a spreadsheet: exported with an apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_NEUTRALIZATION = (
    "text cells starting with = + - @ tab or carriage return are written with a leading "
    "apostrophe, so a spreadsheet shows them as text; the app database keeps them as sent"
)
_SECRET_COLUMNS = frozenset(
    f"{name}_{part}" for name in SEALED_FIELDS for part in ("ciphertext", "key_id")
)
_DISTRICT_COLUMNS = tuple(c for c in districts.c if c.name not in _SECRET_COLUMNS)
# Runs a purge must not race: their reconciliation could write rows back after the commit.
_UNFINISHED_RUN_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


# --- export ------------------------------------------------------------------------------------


def export_district(
    engine: sa.Engine, key: str, out_dir: Path, *, chunk_rows: int = EXPORT_CHUNK_ROWS
) -> dict[str, int]:
    """One CSV per table (header first) and `manifest.json`; returns the rows per table.

    Rows are streamed in chunks, so a district with millions of enrollments fits in memory.
    The manifest is written last: a folder without one is an interrupted export.
    """
    _require_empty_dir(out_dir)
    with _consistent_connection(engine) as conn:
        district = get_district(conn, key)
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # personal data: owner only
        own_row = sa.select(*_DISTRICT_COLUMNS).where(districts.c.id == district.id)
        counts = {"districts": _write_csv(conn, own_row, out_dir / "districts.csv", chunk_rows)}
        for table in DISTRICT_TABLES:
            rows = sa.select(table).where(table.c.district_id == district.id).order_by(table.c.id)
            counts[str(table.name)] = _write_csv(
                conn, rows, out_dir / f"{table.name}.csv", chunk_rows
            )
    manifest = {
        "format_version": EXPORT_FORMAT_VERSION,
        "district": key,
        "exported_at": datetime.now(UTC).isoformat(),
        "formula_neutralization": FORMULA_NEUTRALIZATION,
        "tables": {name: {"file": f"{name}.csv", "rows": n} for name, n in counts.items()},
    }
    (out_dir / MANIFEST_NAME).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    record_export(engine, district.id, "tables", out_dir, sum(counts.values()))
    return counts


def export_oneroster_csv(engine: sa.Engine, key: str, out: Path) -> dict[str, int]:
    """The district's active rows as a OneRoster 1.1 CSV bulk package (a zip); rows per file."""
    with _consistent_connection(engine) as conn:
        district = get_district(conn, key)
        counts = write_package(conn, district.id, key, out)
    record_export(engine, district.id, "oneroster-csv", out, sum(counts.values()))
    return counts


def record_export(
    engine: sa.Engine, district_id: int, export_format: str, destination: Path, rows: int
) -> None:
    """An export made, for the district's inventory: when, what and where to."""
    with engine.begin() as conn:
        conn.execute(
            district_exports.insert().values(
                district_id=district_id,
                exported_at=datetime.now(UTC),
                format=export_format,
                destination=str(destination.absolute()),
                rows=rows,
            )
        )


def _require_empty_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise BadInput(f"{out_dir} already exists and is not an empty folder; choose a new one")


def _consistent_connection(engine: sa.Engine) -> sa.Connection:
    """One snapshot for every table on PostgreSQL (SQLite's single writer keeps it steady)."""
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def _write_csv(conn: sa.Connection, query: sa.Select, path: Path, chunk_rows: int) -> int:
    # yield_per streams: a server-side cursor on PostgreSQL, fetchmany on SQLite
    result = conn.execution_options(yield_per=chunk_rows).execute(query)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(result.keys())
        for chunk in result.partitions():
            writer.writerows(_cells(row) for row in chunk)
            count += len(chunk)
    return count


def _cells(row: Iterable[Any]) -> list[Any]:
    """Each value as `csv_values.as_csv` writes it; text a spreadsheet would run as a formula
    gets a leading apostrophe (OWASP's CSV injection advice)."""
    cells = []
    for value in row:
        if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            value = "'" + value
        cells.append(as_csv(value))
    return cells


# --- purge -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgePlan:
    """What `purge KEY --yes` would delete; nothing has changed yet."""

    district: District
    rows: dict[str, int]  # table -> rows
    snapshot_runs: list[str]
    dagster_runs: list[str]
    unfinished_dagster_runs: list[str]  # a purge waits until these end


@dataclass(frozen=True)
class PurgeResult:
    already_purged: bool  # the district was purged before this call
    deleted: dict[str, int]  # table -> rows deleted from the app DB
    destroyed: list[str]  # keys and secrets destroyed: "snapshot data key (wrapped by k1)", ...
    snapshot_runs: list[str]
    dagster_runs: list[str]


def plan_purge(
    engine: sa.Engine, key: str, store: SnapshotStore, instance: dg.DagsterInstance
) -> PurgePlan:
    with engine.connect() as conn:
        district = get_district(conn, key)
        rows = {
            str(table.name): conn.execute(
                sa.select(sa.func.count()).select_from(table).where(_purged(table, district.id))
            ).scalar_one()
            for table in DISTRICT_TABLES
        }
    runs = district_dagster_runs(instance, key)
    return PurgePlan(
        district=district,
        rows=rows,
        snapshot_runs=store.runs(key),
        dagster_runs=[run.run_id for run in runs],
        unfinished_dagster_runs=_unfinished(runs),
    )


def purge_district(
    engine: sa.Engine, key: str, store: SnapshotStore, instance: dg.DagsterInstance
) -> PurgeResult:
    """Delete everything stored about district KEY; running it again finishes an interrupted one.

    The app DB goes first, in one transaction (rows, audit details, secrets, status `purged`,
    and a `purge` row in `sync_runs` that names only the command and the counts). The snapshots
    and the Dagster runs follow the commit: were they removed first, a failed transaction would
    leave a district whose history is gone but whose rows remain.
    """
    with engine.connect() as conn:
        get_district(conn, key)  # unknown district: BadInput before anything else
    unfinished = _unfinished(district_dagster_runs(instance, key))
    if unfinished:
        raise BadInput(
            f"district {key!r} has unfinished Dagster runs ({', '.join(unfinished)}); "
            "let them end or terminate them in the Dagster UI, then purge again"
        )
    already_purged, deleted, destroyed = purge_rows(engine, key)
    snapshot_runs = store.runs(key)
    store.delete_district(key)
    dagster_runs = delete_dagster_history(instance, key)
    return PurgeResult(already_purged, deleted, destroyed, snapshot_runs, dagster_runs)


def purge_rows(engine: sa.Engine, key: str) -> tuple[bool, dict[str, int], list[str]]:
    """The app DB part of a purge, one transaction: (was it already purged, rows per table, the
    keys and secrets destroyed). Destroying the data key here, with the rows, is what makes every
    copy of the district's snapshots unreadable, even one that outlives the file deletion."""
    with engine.begin() as conn:
        district = get_district(conn, key)
        # A reconciliation under way finishes first (its rows are purged with the rest); one
        # that comes after finds the district purged and applies nothing.
        lock_district(conn, district.id)
        started = datetime.now(UTC)
        deleted = {
            str(table.name): conn.execute(
                table.delete().where(_purged(table, district.id))
            ).rowcount
            for table in DISTRICT_TABLES
        }
        already_purged = district.status == "purged"
        destroyed = held_keys(district)
        if not already_purged or any(deleted.values()):
            audit = {"command": "purge", "deleted": deleted, "destroyed": destroyed}
            conn.execute(
                sync_runs.insert().values(
                    district_id=district.id,
                    mode="purge",
                    status="purge",
                    started_at=started,
                    finished_at=datetime.now(UTC),
                    counts=orjson.dumps(audit).decode(),
                )
            )
            mark_purged(conn, key)
    return already_purged, deleted, destroyed


def held_keys(district: District) -> list[str]:
    """The keys and secrets the app DB holds for the district, each with its wrapping key id."""
    return [
        f"{label} (wrapped by key {getattr(district, f'{name}_key_id')})"
        for name, label in SEALED_FIELDS.items()
        if getattr(district, f"{name}_key_id")
    ]


def _purged(table: sa.Table, district_id: int) -> sa.ColumnElement[bool]:
    """The district's rows a purge deletes: all of them but the records of earlier purges."""
    mine = table.c.district_id == district_id
    return sa.and_(mine, table.c.mode != "purge") if table is sync_runs else mine


def district_dagster_runs(instance: dg.DagsterInstance, key: str) -> list[dg.DagsterRun]:
    """Runs of the district's partition or tagged with it, newest first, each once."""
    import dagster as dg

    from rostering_pipeline.defs.run_tags import PARTITION_TAG

    found: dict[str, dg.RunRecord] = {}
    for tags in ({PARTITION_TAG: key}, {"district": key}):
        for record in instance.get_run_records(dg.RunsFilter(tags=tags)):
            found[record.dagster_run.run_id] = record
    ordered = sorted(found.values(), key=lambda record: record.create_timestamp, reverse=True)
    return [record.dagster_run for record in ordered]


def delete_dagster_history(instance: dg.DagsterInstance, key: str) -> list[str]:
    """Delete the district's runs with their event logs, captured logs and check evaluations,
    and its dynamic partition; returns the deleted run ids."""
    run_ids = [run.run_id for run in district_dagster_runs(instance, key)]
    _delete_check_executions(instance, run_ids)
    for run_id in run_ids:
        instance.delete_run(run_id)  # the run and its event log
        instance.compute_log_manager.delete_logs(prefix=[run_id])  # captured stdout/stderr
    if instance.has_dynamic_partition(PARTITIONS_NAME, key):
        instance.delete_dynamic_partition(PARTITIONS_NAME, key)
    return run_ids


def _delete_check_executions(instance: dg.DagsterInstance, run_ids: list[str]) -> None:
    # `delete_run` leaves the asset check index behind, and check details name sourced_ids.
    # Dagster has no public call for it; both SQL storages (SQLite, Postgres) share this table.
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    storage = instance.event_log_storage
    if not run_ids or not isinstance(storage, SqlEventLogStorage):
        return
    if not storage.has_table(AssetCheckExecutionsTable.name):
        return
    with storage.index_connection() as conn:
        conn.execute(
            AssetCheckExecutionsTable.delete().where(
                AssetCheckExecutionsTable.c.run_id.in_(run_ids)
            )
        )


def _unfinished(runs: list[dg.DagsterRun]) -> list[str]:
    return [run.run_id for run in runs if run.status.value in _UNFINISHED_RUN_STATUSES]


# --- preview -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPreview:
    started_at: datetime
    dagster_run_id: str | None
    report: dict[str, Any]  # as built by preview.build_report


def latest_preview(conn: sa.Connection, key: str) -> StoredPreview | None:
    """The district's newest stored preview report, or None when it has none."""
    district = get_district(conn, key)
    row = conn.execute(
        sa.select(sync_runs.c.started_at, sync_runs.c.dagster_run_id, sync_runs.c.preview)
        .where(
            sync_runs.c.district_id == district.id,
            sync_runs.c.status == "preview",
            sync_runs.c.preview.is_not(None),
        )
        .order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return StoredPreview(row.started_at, row.dagster_run_id, orjson.loads(row.preview))
