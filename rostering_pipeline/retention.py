"""How long a district's snapshots live: its last N runs, none older than D days (the district's
`snapshot_retention_runs` and `snapshot_retention_days`, defaults 7 and 30).

Enforced after every snapshot a run writes, and by the daily sweep, which also encrypts the
plaintext snapshots written before encryption and removes what purged districts left. The ledger
forgets a run before its files go: a crash in between leaves files the next pass removes, never
a verdict that points at nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from rostering_pipeline.appdb.ledger import forget_runs, recorded_runs
from rostering_pipeline.districts import District, list_districts
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline.snapshot_keys import snapshot_key
from rostering_pipeline.snapshots import SnapshotRun, SnapshotStore


def expired_runs(
    on_disk: Iterable[SnapshotRun],
    in_ledger: dict[str, datetime],
    *,
    keep_runs: int,
    keep_days: int,
    now: datetime,
) -> list[str]:
    """The runs past retention: all but the newest `keep_runs`, and any whose newest snapshot or
    verdict is older than `keep_days` days. A run is as recent as its newest file or verdict."""
    recency = dict(in_ledger)
    for run in on_disk:
        recency[run.run_id] = max(run.written_at, recency.get(run.run_id, run.written_at))
    newest_first = sorted(recency, key=lambda run_id: recency[run_id], reverse=True)
    oldest_kept = now - timedelta(days=keep_days)
    kept = {run_id for run_id in newest_first[:keep_runs] if recency[run_id] >= oldest_kept}
    return [run_id for run_id in newest_first if run_id not in kept]


def enforce(
    engine: sa.Engine, store: SnapshotStore, district: District, now: datetime | None = None
) -> list[str]:
    """Delete the district's runs past its retention (verdicts, then files); returns them."""
    with engine.connect() as conn:
        in_ledger = recorded_runs(conn, district.id)
    expired = expired_runs(
        store.run_files(district.key),
        in_ledger,
        keep_runs=district.snapshot_retention_runs,
        keep_days=district.snapshot_retention_days,
        now=now or datetime.now(UTC),
    )
    _delete_runs(engine, store, district, expired)
    return expired


def _delete_runs(
    engine: sa.Engine, store: SnapshotStore, district: District, run_ids: list[str]
) -> None:
    if not run_ids:
        return
    with engine.begin() as conn:
        forget_runs(conn, district.id, run_ids)
    for run_id in run_ids:
        store.delete_run(district.key, run_id)


@dataclass
class SweepReport:
    """What the sweep did to one district's snapshots."""

    district: str
    kept: int = 0  # runs whose snapshots are kept
    expired: list[str] = field(default_factory=list)  # runs deleted by retention
    encrypted: int = 0  # plaintext files rewritten encrypted
    plaintext_deleted: list[str] = field(default_factory=list)  # runs deleted: no key to encrypt
    purged: bool = False  # a purged district's leftovers removed

    def describe(self) -> str:
        if self.purged:
            return f"{self.district}: purged; its leftover snapshots removed"
        parts = [f"{self.kept} run(s) kept, {len(self.expired)} past retention deleted"]
        if self.encrypted:
            parts.append(f"{self.encrypted} plaintext file(s) encrypted")
        if self.plaintext_deleted:
            parts.append(
                f"{len(self.plaintext_deleted)} run(s) of plaintext files deleted "
                "(no ROSTERING_SECRET_KEYS to encrypt them with)"
            )
        return f"{self.district}: " + ", ".join(parts)


def sweep(
    engine: sa.Engine,
    store: SnapshotStore,
    box: SecretBox | None,
    now: datetime | None = None,
) -> tuple[list[SweepReport], list[str]]:
    """Every district's snapshots brought to its policy, plaintext ones encrypted (or, without
    keys, deleted); returns the reports and the folders that belong to no registered district
    (left alone: they may be another deployment's, and no key here opens them)."""
    registered = {district.key: district for district in list_districts(engine)}
    reports = [
        _sweep_district(engine, store, box, district, now) for district in registered.values()
    ]
    strangers = [key for key in store.districts() if key not in registered]
    return reports, strangers


def _sweep_district(
    engine: sa.Engine,
    store: SnapshotStore,
    box: SecretBox | None,
    district: District,
    now: datetime | None,
) -> SweepReport:
    report = SweepReport(district.key)
    if district.status == "purged":
        report.purged = district.key in store.districts()
        store.delete_district(district.key)
        return report
    plaintext = list(store.plaintext(district.key))
    if plaintext and box is None:
        _delete_runs(engine, store, district, plaintext)
        report.plaintext_deleted = plaintext
    elif plaintext:
        report.encrypted = store.encrypt_plaintext(snapshot_key(engine, district.key, box))
    report.expired = enforce(engine, store, district, now)
    report.kept = len(store.runs(district.key))
    return report
