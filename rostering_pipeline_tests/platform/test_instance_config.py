"""The repo's dagster.yaml loads on PostgreSQL with the queue and its limits."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)

from rostering_pipeline.platform.launchers import MonitoredRunLauncher
from rostering_pipeline.platform.pg_storage import POOL_SIZE
from rostering_pipeline_tests.platform.support import dagster_pg_env


def test_production_instance_on_postgres(production_home, new_database, monkeypatch):
    for name, value in dagster_pg_env(new_database()).items():
        monkeypatch.setenv(name, value)

    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds == 7200
        assert isinstance(instance.run_launcher, MonitoredRunLauncher)
        assert instance.run_launcher.supports_check_run_worker_health

        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 16
        limits = {limit["key"]: limit for limit in queue.tag_concurrency_limits}
        assert limits["district"]["limit"] == 1
        assert limits["district"]["value"] == {"applyLimitPerUniqueValue": True}
        assert limits["rostering/provider"]["limit"] == 4
        assert limits["rostering/provider"]["value"] == {"applyLimitPerUniqueValue": True}

        # the storage really is there: a run written is a run read back
        run = instance.create_run_for_job(dg.GraphDefinition("probe").to_job(), tags={"k": "v"})
        assert instance.get_run_by_id(run.run_id).tags["k"] == "v"


@dg.asset(check_specs=[dg.AssetCheckSpec("complete", asset="checked")])
def checked() -> dg.MaterializeResult:
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])


def test_the_production_storage_keeps_its_connections(production_home, new_database, monkeypatch):
    """dagster-postgres alone opens a connection per statement and closes it: runs of an asset
    with a check (planned events, check events) leave the instance's process holding a few
    connections it reuses, no more than the pool keeps."""
    url = new_database()
    for name, value in dagster_pg_env(url).items():
        monkeypatch.setenv(name, value)
    watcher = sa.create_engine(url, poolclass=sa.pool.NullPool)
    others = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        results = [dg.materialize([checked], instance=instance) for _ in range(3)]
        with watcher.connect() as conn:
            kept = conn.execute(others).scalar_one()
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(checked.key, "complete"), limit=5
        )

    assert all(result.success for result in results)
    assert len(checks) == 3
    assert 1 <= kept <= POOL_SIZE
    watcher.dispose()


def _asks_catalog_or_snapshot(statement: str) -> bool:
    return any(
        asked in statement for asked in ("pg_catalog", "information_schema", "FROM snapshots")
    )


def test_the_production_storage_asks_once_what_stays_true(
    production_home, new_database, monkeypatch
):
    """Dagster asked PostgreSQL's catalog for the runs table's columns, and read a run's whole
    execution plan back to see whether it was stored, for every run it created or read: the
    production storage asks until the answer is true, then no more. A wiped storage forgets:
    its next run stores its snapshots again."""
    url = new_database()
    for name, value in dagster_pg_env(url).items():
        monkeypatch.setenv(name, value)
    job = dg.Definitions(assets=[checked]).resolve_implicit_global_asset_job_def()
    sent: list[str] = []
    stored = sa.text("SELECT count(*) FROM snapshots WHERE snapshot_id = :id")

    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        # The first run stores its snapshots; the second finds them stored.
        first, _ = instance.create_run_for_job(job), instance.create_run_for_job(job)
        instance.get_run_by_id(first.run_id)
        sa.event.listen(
            instance.run_storage._engine, "before_cursor_execute", lambda *a: sent.append(a[2])
        )
        second = instance.create_run_for_job(job)
        read_back = instance.get_run_by_id(second.run_id)
        asked_again = [statement for statement in sent if _asks_catalog_or_snapshot(statement)]
        instance.wipe()
        after_wipe = instance.create_run_for_job(job)
        with instance.run_storage._engine.connect() as conn:
            snapshots = [
                conn.execute(stored, {"id": snapshot_id}).scalar_one()
                for snapshot_id in (
                    after_wipe.job_snapshot_id,
                    after_wipe.execution_plan_snapshot_id,
                )
            ]

    assert read_back.job_snapshot_id == first.job_snapshot_id
    assert any(statement.startswith("INSERT INTO runs ") for statement in sent)
    assert asked_again == []
    assert snapshots == [1, 1]
