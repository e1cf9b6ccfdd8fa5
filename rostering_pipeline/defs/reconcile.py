"""`app_db/roster`: apply the snapshots its own run (or the run it re-executes) pulled and
validated to the application database: one set, validated together, or nothing."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import orjson
import pandas as pd

from rostering_pipeline.appdb.ledger import LedgerEntry, run_verdicts
from rostering_pipeline.appdb.reconcile import Guard, reconcile
from rostering_pipeline.appdb.tables import sync_runs
from rostering_pipeline.defs.asset_keys import ROSTER_KEY, asset_key
from rostering_pipeline.defs.extract import effective_mode
from rostering_pipeline.defs.fault_hooks import fault_hook_from_env
from rostering_pipeline.defs.freshness import report_freshness
from rostering_pipeline.defs.lineage import run_lineage
from rostering_pipeline.defs.outcome_hooks import record_failure, resolve_alerts
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.resources import AppDatabase, SnapshotStorage
from rostering_pipeline.defs.run_config import SyncOptions
from rostering_pipeline.defs.turns import wait_for_turn
from rostering_pipeline.districts import get_district, record_outcome
from rostering_pipeline.errors import BadInput, ChecksFailed, SyncHeld
from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.outcomes import describe_failed_checks, describe_held
from rostering_pipeline.preview import REPORTED, build_report
from rostering_pipeline.snapshot_keys import SnapshotKey
from rostering_pipeline.snapshots import SnapshotStore


def applicable_snapshots(ledger: dict[str, LedgerEntry]) -> dict[str, LedgerEntry]:
    """The run's ledger entries to apply; refuses anything missing, failed or of mixed modes."""
    missing = [name for name in ENTITIES if name not in ledger]
    failed = [name for name in ENTITIES if name in ledger and not ledger[name].passed]
    parts = []
    if failed:
        counts = {name: ledger[name].failure_counts for name in failed}
        parts.append(f"failed checks: {describe_failed_checks(counts)}")
    if missing:
        parts.append(f"this run did not pull and validate: {', '.join(sorted(missing))}")
    if failed:
        raise ChecksFailed(f"nothing applied; {'; '.join(parts)}")
    if missing:
        raise BadInput(
            f"nothing applied; {'; '.join(parts)}; materialize app_db/roster with the oneroster "
            "assets (job roster_sync), or re-execute the run that pulled them"
        )
    modes = {ledger[name].mode for name in ENTITIES}
    if len(modes) > 1:
        raise ChecksFailed(f"nothing applied; snapshots of mixed modes {sorted(modes)}")
    return {name: ledger[name] for name in ENTITIES}


def describe_origins(entries: dict[str, LedgerEntry]) -> str:
    """Which run pulled which snapshot: "<run> (orgs, ...); <re-execution> (users, ...)"."""
    by_run: dict[str, list[str]] = {}
    for name, entry in entries.items():
        by_run.setdefault(entry.dagster_run_id, []).append(name)
    return "; ".join(f"{run} ({', '.join(names)})" for run, names in by_run.items())


def _chunks(store: SnapshotStore, key: SnapshotKey, entry: LedgerEntry) -> Iterator[pd.DataFrame]:
    """An entity's snapshot, a batch of rows at a time, typed as the pull was."""
    dtypes = ENTITIES[entry.entity].dtypes()
    for batch in store.batches(entry.snapshot_location, key):
        yield batch.astype(dtypes)


def _read(
    store: SnapshotStore, key: SnapshotKey, entries: dict[str, LedgerEntry], names: tuple[str, ...]
) -> dict[str, pd.DataFrame]:
    """Whole snapshots, typed as the pull was (the preview's report reads orgs and users)."""
    return {
        name: store.read(entries[name].snapshot_location, key).astype(ENTITIES[name].dtypes())
        for name in names
    }


def _high_water_mark(entries: dict[str, LedgerEntry]) -> datetime | None:
    """The provider's clock when the run's first response arrived: the earliest of its pulls.
    Not the largest dateLastModified seen, which misses changes made during a long pull and is
    poisoned by one record stamped in the future."""
    clocks = [entry.provider_clock_at for entry in entries.values() if entry.provider_clock_at]
    return min(clocks) if clocks else None


@dg.asset(
    key=ROSTER_KEY,
    partitions_def=district_partitions,
    deps=[asset_key(name) for name in ENTITIES],
    group_name="app_db",
    owners=["team:data-engineering"],
    kinds={"sql"},
    hooks={record_failure, resolve_alerts},
    description=(
        "The district's roster in the application database. Applies the six snapshots pulled by "
        "this run (or the run it re-executes), only when the ledger marks each as passed: "
        "inserts, updates, deactivations and reactivations in one transaction, held by the "
        "deactivation guard unless approved; preview runs apply nothing."
    ),
)
def roster(
    context: dg.AssetExecutionContext,
    sync: SyncOptions,
    app_db: AppDatabase,
    snapshots: SnapshotStorage,
) -> dg.MaterializeResult:
    fault_hook = fault_hook_from_env()
    if fault_hook:
        fault_hook("before_roster")
    wait_for_turn(context, sync.wait_for_earlier_run_s)
    started = time.monotonic()
    engine = app_db.engine()
    lineage = run_lineage(context.instance, context.run)
    with engine.connect() as conn:
        district = get_district(conn, context.partition_key)
        entries = applicable_snapshots(run_verdicts(conn, district.id, lineage))
    mode = next(iter(entries.values())).mode
    effective_mode(district, mode)  # a preview district never applies a full snapshot
    store, key = snapshots.store(), snapshots.key(engine, district.key)
    result = reconcile(
        engine,
        district_id=district.id,
        frames={name: _chunks(store, key, entry) for name, entry in entries.items()},
        mode=mode,
        absent=frozenset(name for name, entry in entries.items() if entry.file_absent),
        quarantined={name: entry.quarantined_ids for name, entry in entries.items()},
        dependent_quarantined={
            name: entry.dependent_quarantined_ids for name, entry in entries.items()
        },
        guard=Guard(
            max_ratio=district.max_deactivation_ratio,
            min_rows=district.min_deactivation_rows,
            approved_max=sync.approve_deactivations,
        ),
        dagster_run_id=context.run.run_id,
        high_water_mark=_high_water_mark(entries),
        pulled_at=min(entry.recorded_at for entry in entries.values()),
        fault_hook=fault_hook,
    )
    if result.status == "held":
        held = describe_held(district.key, result.held, sync.package or None)
        raise SyncHeld(f"sync of '{district.key}' held by the deactivation guard: {held}")
    with engine.begin() as conn:
        # A preview refreshes nothing, but it is all a district in preview has: its success.
        refreshed = result.status != "preview" or district.status == "preview"
        record_outcome(
            conn, district.key, succeeded=True, at=datetime.now(UTC), refreshed=refreshed
        )
        if result.status == "preview":  # the report goes beside the diff it describes
            report = build_report(_read(store, key, entries, REPORTED), result.counts)
            conn.execute(
                sync_runs.update()
                .where(sync_runs.c.id == result.sync_run_id)
                .values(preview=orjson.dumps(report).decode())
            )
    report_freshness(context, get_district(engine, district.key))
    metadata: dict[str, dg.MetadataValue] = {
        "mode": dg.MetadataValue.text(mode),
        "status": dg.MetadataValue.text(result.status),
        "sync_run_id": dg.MetadataValue.int(result.sync_run_id),
        "snapshots_of_runs": dg.MetadataValue.text(describe_origins(entries)),
        "duration_s": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
    }
    metadata.update(roster_totals(result.counts, result.active))
    return dg.MaterializeResult(metadata=metadata)


# The table's columns, in the order a reader scans them.
ACTIONS = (
    "inserted",
    "updated",
    "deactivated",
    "reactivated",
    "unchanged",
    "quarantined",
    "dependent_quarantined",
    "id_case_changed",
    # classes whose teacher of record (derived from the enrollments) changed
    "teacher_changed",
)
CHANGES = ("inserted", "updated", "deactivated", "reactivated", "teacher_changed")


def roster_totals(
    counts: dict[str, dict[str, int]], active: dict[str, int]
) -> dict[str, dg.MetadataValue]:
    """What the UI shows of a roster step: the total of changes, the active rows of each entity
    after the run (numbers, plotted), and every count per entity in one table."""
    table = dg.MetadataValue.table(
        records=[
            dg.TableRecord({"entity": name, **{a: int(c.get(a, 0)) for a in ACTIONS}})
            for name, c in counts.items()
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("entity", "string"),
                *(dg.TableColumn(action, "int") for action in ACTIONS),
            ]
        ),
    )
    total = sum(int(c.get(action, 0)) for c in counts.values() for action in CHANGES)
    return {
        "changes": dg.MetadataValue.int(total),
        **{f"active_{name}": dg.MetadataValue.int(rows) for name, rows in active.items()},
        "changes_by_entity": table,
    }
