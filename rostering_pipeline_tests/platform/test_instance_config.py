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
