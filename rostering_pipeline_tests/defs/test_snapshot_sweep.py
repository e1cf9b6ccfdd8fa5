"""The daily snapshot sweep, as its schedule runs it: retention for a district no run touches
any more, and what an interrupted purge left behind."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from rostering_pipeline import runner
from rostering_pipeline.appdb import tables
from rostering_pipeline.defs.resources import SnapshotStorage
from rostering_pipeline.privacy import purge_rows
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import register


@pytest.fixture
def app_db_url(tmp_path) -> str:
    """SQLite only: snapshots and their keys do not depend on the app database."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def test_the_daily_sweep_applies_retention_and_clears_purged_leftovers(env, provider):
    from rostering_pipeline.definitions import defs

    register(env, provider, key="idle", snapshot_retention_days=1)
    register(env, provider, key="gone")
    for key in ("idle", "gone"):
        assert sync_in_process(key).exit_code == 0
    store = SnapshotStorage().store()
    # idle's last sync was two days ago: its files and its verdicts
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    [idle_run] = store.runs("idle")
    for entry in os.scandir(f"{store.root}/idle/{idle_run}"):
        os.utime(entry.path, (two_days_ago.timestamp(), two_days_ago.timestamp()))
    with env.begin() as conn:
        conn.execute(tables.snapshot_verdicts.update().values(recorded_at=two_days_ago))
    purge_rows(env, "gone")  # its rows and key went; a crash kept the files from following

    result = defs.resolve_job_def("snapshot_sweep").execute_in_process(instance=runner.instance())

    assert result.success
    assert store.runs("idle") == [] and store.runs("gone") == []
    logged = [e.user_message for e in runner.instance().all_logs(result.run_id)]
    assert "idle: 0 run(s) kept, 1 past retention deleted" in logged
    assert "gone: purged; its leftover snapshots removed" in logged


def test_the_sweep_is_scheduled_daily_and_on_by_default():
    from rostering_pipeline.definitions import defs

    schedule = defs.resolve_schedule_def("snapshot_sweep_daily")
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "snapshot_sweep"
