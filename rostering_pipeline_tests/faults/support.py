"""Shared pieces of the fault suite: the small district, exports compared, CLI runs, overrides.

"Exactly as before" compares the export (privacy.export_district) of the roster tables and the
delta high-water mark: what a sync applies. The ledger, `sync_runs` and the district's last error
rightly record a failed attempt. "Converged" compares the active rows' content with a reference
district synced fault-free from the same provider state (ids and timestamps aside).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from rostering_pipeline import runner
from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings, Quirks
from rostering_pipeline.privacy import export_district
from rostering_pipeline.runner import SyncOutcome, sync_in_process
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET

SMALL_DISTRICT = DistrictSpec(seed=7, schools=2, students=300)
ROSTER_EXPORTS = (
    "schools",
    "academic_sessions",
    "courses",
    "classes",
    "users",
    "user_schools",
    "enrollments",
)
# Differ between two districts holding the same roster, or between two runs applying it.
_VOLATILE = frozenset({"id", "district_id", "first_seen_at", "updated_at", "deactivated_at"})
# A school link keeps the user's stamp from when the link itself last changed: history, not state.
_HISTORY = {"user_schools": frozenset({"source_modified_at"})}
# The corpus stores a 1 MB name; the csv module refuses fields over 128 kB by default.
_LARGEST_FIELD = 16 * 2**20
CLI = Path(sys.executable).with_name("rostering-pipeline")
CLI_TIMEOUT_S = 300


@contextmanager
def serve(
    spec: DistrictSpec = SMALL_DISTRICT,
    secret: str = SECRET,
    quirks: Quirks | None = None,
    version: str = "1.1",
) -> Iterator[ProviderServer]:
    settings = ProviderSettings(
        district=spec,
        client_id=CLIENT_ID,
        client_secret=secret,
        quirks=quirks or Quirks(),
        version=version,
    )
    with ProviderServer(settings) as server:
        yield server


@dataclass(frozen=True)
class Export:
    """A district's export: table name -> rows (CSV text values, in id order)."""

    tables: dict[str, list[dict[str, str]]]

    @property
    def applied(self) -> dict[str, object]:
        """Everything a sync applies; a failed or killed sync must leave it untouched."""
        [district] = self.tables["districts"]
        return {
            "delta_high_water_mark": district["delta_high_water_mark"],
            **{name: self.tables[name] for name in ROSTER_EXPORTS},
        }

    def active_content(self) -> dict[str, list[tuple[tuple[str, str], ...]]]:
        """Active rows without ids and timestamps: comparable with a reference district."""
        return self.content(active_only=True)

    def content(self, *, active_only: bool = False) -> dict[str, list[tuple[tuple[str, str], ...]]]:
        """Rows without ids and timestamps: comparable with a district of the same history."""
        content = {}
        for name in ROSTER_EXPORTS:
            left_out = _VOLATILE | _HISTORY.get(name, frozenset())
            content[name] = sorted(
                tuple((k, v) for k, v in row.items() if k not in left_out)
                for row in self.tables[name]
                if row["active"] == "true" or not active_only
            )
        return content

    def row(self, table: str, sourced_id: str) -> dict[str, str] | None:
        return next((r for r in self.tables[table] if r["sourced_id"] == sourced_id), None)


def export(engine: sa.Engine, key: str) -> Export:
    csv.field_size_limit(max(csv.field_size_limit(), _LARGEST_FIELD))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "export"
        counts = export_district(engine, key, out)
        tables = {}
        for name in counts:
            with (out / f"{name}.csv").open(newline="", encoding="utf-8") as file:
                tables[name] = list(csv.DictReader(file))
    return Export(tables)


def synced(key: str, **options) -> SyncOutcome:
    outcome = sync_in_process(key, **options)
    assert outcome.success, outcome.message
    return outcome


def assert_converged(engine: sa.Engine, key: str, reference_key: str) -> None:
    """`key` now holds what a fault-free sync of the same provider state gives."""
    synced(reference_key)
    assert export(engine, key).active_content() == export(engine, reference_key).active_content()


def use_client_settings(monkeypatch: pytest.MonkeyPatch, **settings: object) -> None:
    """Later in-process syncs configure the `oneroster` resource (e.g. a short read timeout)."""
    plain = runner.sync_run_config

    def with_client(mode: str, approve_deactivations: int = 0, package: str | None = None) -> dict:
        config = plain(mode, approve_deactivations, package)
        config["resources"]["oneroster"] = {"config": settings}
        return config

    monkeypatch.setattr(runner, "sync_run_config", with_client)


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`rostering-pipeline ARGS` in a child process with this environment plus `env`."""
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def cli_background(*args: str, **env: str) -> subprocess.Popen[str]:
    """`rostering-pipeline ARGS` started in a child process with this environment plus `env`."""
    return subprocess.Popen(
        [str(CLI), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def run_events(run_id: str) -> list[dg.EventLogEntry]:
    return list(dg.DagsterInstance.get().all_logs(run_id))
