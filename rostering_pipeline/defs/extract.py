"""`oneroster/<entity>` assets: pull a collection, snapshot it, validate it, record the verdict."""

# No `from __future__ import annotations` here: Dagster reads the asset function's annotations.
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from rostering_pipeline import retention
from rostering_pipeline.appdb.ledger import latest_verdicts, record_verdict, run_verdicts
from rostering_pipeline.appdb.locks import lock_unpurged
from rostering_pipeline.appdb.profiles import load_profiles, record_profile
from rostering_pipeline.appdb.tables import ROSTER_TABLES
from rostering_pipeline.defs.asset_keys import asset_key
from rostering_pipeline.defs.checks import STRUCTURE, check_results, check_specs
from rostering_pipeline.defs.lineage import run_lineage
from rostering_pipeline.defs.outcome_hooks import record_failure
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.resources import AppDatabase, OneRosterSource, SnapshotStorage
from rostering_pipeline.defs.run_config import MODES, SyncOptions
from rostering_pipeline.defs.turns import wait_for_turn
from rostering_pipeline.districts import District, format_duration, get_district
from rostering_pipeline.errors import BadInput, DistrictPurged
from rostering_pipeline.oneroster.client import FetchResult, FetchStats
from rostering_pipeline.oneroster.collected import PageSink
from rostering_pipeline.oneroster.csv_package import Manifest, PackageError, open_package
from rostering_pipeline.oneroster.entities import ENTITIES, Entity
from rostering_pipeline.oneroster.profile import DeltaPolicy, delta_policy
from rostering_pipeline.pull_gate import Gate, GatedPull
from rostering_pipeline.snapshot_keys import SnapshotKey
from rostering_pipeline.snapshots import SnapshotStore
from rostering_pipeline.validation import References, Verdict, volume_change

# Entities whose ids an entity's referential rules need; also the asset graph's edges.
UPSTREAM: dict[str, tuple[str, ...]] = {
    "orgs": (),
    "academic_sessions": (),
    "courses": ("orgs", "academic_sessions"),
    "classes": ("orgs", "academic_sessions", "courses"),
    "users": ("orgs",),
    "enrollments": ("orgs", "classes", "users"),
}
VOLUME_CHECKED = ("users", "enrollments")


def effective_mode(district: District, requested: str, policy: DeltaPolicy | None = None) -> str:
    """The mode this run really uses; refuses what the district's status forbids. `policy`: the
    district's delta policy, when known (a provider without usable timestamps gets no deltas)."""
    if requested not in MODES:
        raise BadInput(f"unknown mode '{requested}'; use one of {', '.join(MODES)}")
    if district.status == "purged":
        raise BadInput(f"district '{district.key}' is purged; it takes no runs")
    if district.status == "preview" and requested != "preview":
        raise BadInput(
            f"district '{district.key}' is in preview: only preview runs until "
            f"`rostering-pipeline districts activate {district.key}`"
        )
    if requested == "delta" and district.delta_high_water_mark is None:
        return "full"  # a first delta has nothing to be relative to
    if requested == "delta" and policy is not None and policy.runs_full_because:
        return "full"
    return requested


def check_request(district: District, requested: str, package: str | None) -> str:
    """The mode a run of the district asked for `requested` (with a CSV `package`) will use;
    BadInput, before anything is launched, for what the run would refuse."""
    if district.source == "csv":
        with open_package(required_package(district, package)) as opened:
            return package_mode(district, requested, opened.manifest)
    _no_package(district, package)
    return effective_mode(district, requested)


def _no_package(district: District, package: str | None) -> None:
    if package:
        raise BadInput(
            f"district '{district.key}' pulls from its OneRoster API: packages are for CSV "
            "districts (districts add --source csv)"
        )


def required_package(district: District, package: str | None) -> str:
    if not package:
        raise BadInput(
            f"district '{district.key}' loads OneRoster CSV files: run "
            f"`rostering-pipeline import {district.key} PACKAGE.zip`, or give the run config "
            "resources.sync.config.package"
        )
    return package


def package_mode(district: District, requested: str, manifest: Manifest) -> str:
    """The mode a CSV package's run uses: its manifest's kind of files (bulk: full, delta:
    delta), or preview when asked (of bulk files only); refuses what the district's status
    forbids, and a package mixing bulk and delta files."""
    effective_mode(district, requested if requested == "preview" else "full")
    kinds = {mode for mode in manifest.entity_modes().values() if mode != "absent"}
    if not kinds:
        raise PackageError("manifest.csv marks every roster file absent: nothing to load")
    if len(kinds) > 1:
        raise PackageError(
            "manifest.csv mixes bulk and delta roster files: send one kind per package"
        )
    kind = kinds.pop()
    if requested == "preview":
        if kind == "delta":
            raise PackageError("a preview needs bulk files; this package's files are delta")
        return "preview"
    return "full" if kind == "bulk" else "delta"


def district_delta_policy(conn: sa.Connection, district: District) -> DeltaPolicy:
    """From the provider profile its pulls built, and the district's own overlap setting."""
    return delta_policy(load_profiles(conn, district.id), district.delta_overlap_seconds)


def build_extract_asset(entity: Entity) -> dg.AssetsDefinition:
    key = asset_key(entity.name)

    @dg.asset(
        key=key,
        partitions_def=district_partitions,
        deps=[asset_key(name) for name in UPSTREAM[entity.name]],
        check_specs=check_specs(key, volume=entity.name in VOLUME_CHECKED),
        group_name="oneroster",
        owners=["team:data-engineering"],
        kinds={"python", "parquet"},
        hooks={record_failure},
        description=(
            f"The district's OneRoster `{entity.path}` collection as pulled by this run: a "
            "Parquet snapshot, validated by blocking checks whose verdict the ledger records."
        ),
    )
    def extract(
        context: dg.AssetExecutionContext,
        sync: SyncOptions,
        app_db: AppDatabase,
        oneroster: OneRosterSource,
        snapshots: SnapshotStorage,
    ) -> dg.MaterializeResult:
        wait_for_turn(context, sync.wait_for_earlier_run_s)
        engine = app_db.engine()
        with engine.connect() as conn:
            district = get_district(conn, context.partition_key)
            policy = district_delta_policy(conn, district)
        started = time.monotonic()
        store, key = snapshots.store(), snapshots.key(engine, district.key)
        with (
            _source(district, entity, sync, oneroster, policy) as source,
            store.writer(key, context.run.run_id, entity.name) as snapshot,
        ):
            mode = source.mode
            with engine.connect() as conn:
                lineage = run_lineage(context.instance, context.run)
                refs, upstream_quarantined = _references(
                    conn, store, key, district, entity.name, mode, lineage
                )
            gate = Gate(
                entity.name,
                refs,
                snapshot,
                school_allow_list=district.school_allow_list,
                upstream_quarantined=upstream_quarantined,
                ids_checked=source.ids_checked,
            )
            fetched = source.fetch(gate.add)  # the pages go through the gate as they arrive
            gated = gate.finish()
        location, verdict = snapshot.location, gated.verdict
        with engine.connect() as conn:
            volume = (
                volume_change(
                    entity.name, gated.volume, _active_rows(conn, district.id, entity.name)
                )
                if entity.name in VOLUME_CHECKED and mode != "delta" and not source.file_absent
                else None
            )
        stats = fetched.stats
        observed = stats.profile.observed()
        try:
            with engine.begin() as conn:
                lock_unpurged(conn, district.id)  # a purge meanwhile: keep no snapshot
                record_profile(conn, district.id, entity.name, observed, datetime.now(UTC))
                record_verdict(
                    conn,
                    district_id=district.id,
                    dagster_run_id=context.run.run_id,
                    entity=entity.name,
                    snapshot_location=location,
                    mode=mode,
                    passed=verdict.passed,
                    quarantined_ids=verdict.quarantined_ids,
                    dependent_quarantined_ids=verdict.dependent_quarantined_ids,
                    provider_clock_at=stats.clock_at,
                    failure_counts=_failure_counts(verdict),
                    file_absent=source.file_absent,
                )
        except DistrictPurged:  # the snapshot may have landed after the purge removed them
            store.delete_district(district.key)
            raise
        retention.enforce(engine, store, district)
        return dg.MaterializeResult(
            metadata={
                **row_split(gated, stats),
                "pages": dg.MetadataValue.int(stats.pages),
                "requests": dg.MetadataValue.int(stats.requests),
                "retries": dg.MetadataValue.int(stats.retries),
                "duration_s": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
                "provider_host": dg.MetadataValue.text(stats.host),
                "mode": dg.MetadataValue.text(source.note),
                "snapshot": dg.MetadataValue.path(location),
                "provider_clock_at": dg.MetadataValue.text(stats.clock_at.isoformat()),
                "provider_profile": dg.MetadataValue.json(observed),
                "tolerated_values": dg.MetadataValue.int(sum(stats.profile.tolerated.values())),
                "references_case_aligned": dg.MetadataValue.int(gated.case_aligned),
                **(
                    {"delta_overlap": dg.MetadataValue.text(_overlap_note(policy))}
                    if mode == "delta" and district.source == "rest"
                    else {}
                ),
            },
            check_results=check_results(
                key,
                verdict,
                volume,
                volume_checked=entity.name in VOLUME_CHECKED,
                grades=gated.grades,
                absent_references=gated.absent_references,
            ),
        )

    return extract


@dataclass(frozen=True)
class _Source:
    """Where a run's records of an entity come from, opened: the mode is known before a record
    is pulled, so the gate is ready for the first page."""

    mode: str  # the run's effective mode
    note: str  # the mode, and why it is not the one asked for
    fetch: Callable[[PageSink], FetchResult]  # the pull, its pages to the sink
    file_absent: bool = False  # a CSV package left this entity's file out
    # The source refuses a pull whose sourced_ids repeat, over every row it received (the REST
    # client, for paging that shifted): the gate need not check them again.
    ids_checked: bool = False


@contextlib.contextmanager
def _source(
    district: District,
    entity: Entity,
    sync: SyncOptions,
    oneroster: OneRosterSource,
    policy: DeltaPolicy,
) -> Iterator[_Source]:
    """The entity's source: the district's REST API, or the CSV package the run was given
    (whose manifest decides full or delta)."""
    if district.source == "csv":
        with open_package(required_package(district, sync.package)) as package:
            mode = package_mode(district, sync.mode, package.manifest)
            file_mode = package.mode_of(entity)
            note = (
                f"{mode} (package {package.label}: {package.file_for(entity).filename} {file_mode})"
            )

            def read(sink: PageSink) -> FetchResult:
                return package.fetch(
                    entity,
                    timezone=district.timezone,
                    include_guardians=district.include_guardians,
                    sink=sink,
                )

            yield _Source(mode, note, read, file_absent=file_mode == "absent")
        return
    _no_package(district, sync.package)
    mode = effective_mode(district, sync.mode, policy)
    since = district.delta_high_water_mark - policy.overlap if mode == "delta" else None
    with oneroster.client_for(district) as client:

        def pull(sink: PageSink) -> FetchResult:
            return client.fetch(entity, modified_since=since, sink=sink)

        yield _Source(mode, _mode_note(sync.mode, mode, district, policy), pull, ids_checked=True)


def row_split(gated: GatedPull, stats: FetchStats) -> dict[str, dg.MetadataValue]:
    """The snapshot's rows (the catalog's row count) and how the provider's records split: what
    was left out (guardians, schools outside the allow-list), then active and `tobedeleted` rows,
    and the rows quarantined by the checks (not applied)."""
    verdict = gated.verdict
    return {
        "dagster/row_count": dg.MetadataValue.int(gated.rows),
        "rows_from_provider": dg.MetadataValue.int(stats.received),
        "rows_guardians_dropped": dg.MetadataValue.int(stats.received - stats.rows),
        "rows_outside_schools": dg.MetadataValue.int(gated.outside_schools),
        "rows_active": dg.MetadataValue.int(gated.rows - gated.tobedeleted),
        "rows_tobedeleted": dg.MetadataValue.int(gated.tobedeleted),
        "rows_quarantined": dg.MetadataValue.int(
            len(verdict.quarantined_ids | verdict.dependent_quarantined_ids)
        ),
    }


def _failure_counts(verdict: Verdict) -> dict[tuple[str, str | None], int]:
    """Failing rows per (rule, field), and the number of structural failures under `structure`."""
    structural = {(STRUCTURE, None): len(verdict.structural)} if verdict.structural else {}
    return {**structural, **verdict.counts()}


def _mode_note(requested: str, mode: str, district: District, policy: DeltaPolicy) -> str:
    """The mode, and why it is not the one asked for."""
    if requested == mode or requested != "delta":
        return mode
    if district.delta_high_water_mark is None:
        return f"{mode} (delta asked for; no high-water mark yet)"
    return f"{mode} (delta asked for; {policy.runs_full_because})"


def _overlap_note(policy: DeltaPolicy) -> str:
    return f"{format_duration(int(policy.overlap.total_seconds()))} ({policy.overlap_reason})"


def _references(
    conn: sa.Connection,
    store: SnapshotStore,
    key: SnapshotKey,
    district: District,
    entity: str,
    mode: str,
    lineage: tuple[str, ...],
) -> tuple[References, dict[str, frozenset[str]]]:
    """Ids the entity may refer to: the upstream snapshots of this run's lineage, else (for an
    extract materialized alone) the district's latest (plus, in delta mode or for a file a CSV
    package left out, the active rows of the app DB), and the ids quarantined upstream."""
    ledger = {
        **latest_verdicts(conn, district.id),
        **run_verdicts(conn, district.id, lineage),
    }
    absent = frozenset(
        name for name in UPSTREAM[entity] if name in ledger and ledger[name].file_absent
    )
    frames = {
        name: store.read(ledger[name].snapshot_location, key, columns=["sourced_id"])
        for name in UPSTREAM[entity]
        if name in ledger and name not in absent
    }
    refs = References.from_frames(frames, absent=absent)
    # A delta refers to stored rows too; so does a package that left an entity's file out.
    stored = UPSTREAM[entity] if mode == "delta" else tuple(sorted(absent))
    if stored:
        refs = refs.union(References.from_frames(_active_ids(conn, district.id, stored)))
    quarantined = {
        name: ledger[name].quarantined_ids | ledger[name].dependent_quarantined_ids
        for name in UPSTREAM[entity]
        if name in ledger
    }
    return refs, quarantined


def _active_ids(conn: sa.Connection, district_id: int, entities: tuple[str, ...]) -> dict:
    frames = {}
    for name in entities:
        table = ROSTER_TABLES[name]
        query = sa.select(table.c.sourced_id).where(
            table.c.district_id == district_id, table.c.active
        )
        frames[name] = pd.DataFrame({"sourced_id": conn.execute(query).scalars().all()})
    return frames


def _active_rows(conn: sa.Connection, district_id: int, entity: str) -> int | None:
    """The app DB's count of what `volume_count` counts in a pull (users: active students)."""
    table = ROSTER_TABLES[entity]
    query = sa.select(sa.func.count()).select_from(table)
    query = query.where(table.c.district_id == district_id, table.c.active)
    if entity == "users":
        query = query.where(table.c.role == "student")
    return conn.execute(query).scalar_one() or None  # nothing applied yet: no baseline


extract_assets = [build_extract_asset(entity) for entity in ENTITIES.values()]
