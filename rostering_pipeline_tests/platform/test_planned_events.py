"""A new run's planned events on the production storage: written in one transaction of three
statements, and stored exactly as dagster-postgres stores them one by one."""

from __future__ import annotations

import uuid

import dagster as dg
import sqlalchemy as sa

from rostering_pipeline.platform.planned_events import BATCH_SIZE_ENV
from rostering_pipeline_tests.platform.support import dagster_pg_env

PARTS = dg.StaticPartitionsDefinition(["north", "south"])


@dg.asset(
    partitions_def=PARTS,
    check_specs=[
        dg.AssetCheckSpec("complete", asset="first"),
        dg.AssetCheckSpec("fresh", asset="first"),
    ],
)
def first():
    raise NotImplementedError  # planned, never run


@dg.asset(
    partitions_def=PARTS, deps=[first], check_specs=[dg.AssetCheckSpec("sane", asset="second")]
)
def second():
    raise NotImplementedError


@dg.asset(deps=[second])
def summary():
    raise NotImplementedError


JOB = dg.Definitions(
    assets=[first, second, summary],
    jobs=[dg.define_asset_job("planned", selection=[first, second])],
).resolve_job_def("planned")
# What was planned, by whom; whether each row points at its own planned event.
PLANNED_EVENTS = sa.text(
    "SELECT dagster_event_type, asset_key, step_key FROM event_logs "
    "WHERE run_id = :run ORDER BY dagster_event_type, asset_key"
)
ASSETS = sa.text(
    "SELECT asset_key, last_run_id, last_materialization_timestamp IS NOT NULL FROM asset_keys "
    "ORDER BY asset_key"
)
CHECKS = sa.text(
    "SELECT c.asset_key, c.check_name, c.partition, c.run_id, c.execution_status, "
    "e.dagster_event_type, e.run_id = c.run_id "
    "FROM asset_check_executions c JOIN event_logs e ON e.id = c.evaluation_event_storage_id "
    "ORDER BY c.asset_key, c.check_name"
)


def _create_run(home, url: str, run_id: str, monkeypatch) -> tuple[dict[str, list], list[str]]:
    """The stored rows after creating the run, and the statements its creation sent."""
    for name, value in dagster_pg_env(url).items():
        monkeypatch.setenv(name, value)
    sent: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        engine = instance.event_log_storage._engine
        sa.event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
        instance.create_run_for_job(JOB, run_id=run_id, tags={"dagster/partition": "south"})
    stored = {}
    reader = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with reader.connect() as conn:
        for name, query in (("events", PLANNED_EVENTS), ("assets", ASSETS), ("checks", CHECKS)):
            stored[name] = [tuple(row) for row in conn.execute(query, {"run": run_id})]
    reader.dispose()
    return stored, sent


def _inserts(sent: list[str], table: str) -> int:
    return sum(1 for statement in sent if statement.startswith(f"INSERT INTO {table} "))


def test_planned_events_go_in_one_transaction_as_dagster_would_store_them(
    production_home, new_database, monkeypatch
):
    run_id = str(uuid.uuid4())
    monkeypatch.setenv(BATCH_SIZE_ENV, "0")  # Dagster's own way: each event on its own
    one_by_one, sent_apart = _create_run(production_home, new_database(), run_id, monkeypatch)
    monkeypatch.delenv(BATCH_SIZE_ENV)  # the production storage's way
    at_once, sent_together = _create_run(production_home, new_database(), run_id, monkeypatch)

    assert at_once == one_by_one
    planned = {row[0] for row in at_once["events"]}
    assert planned == {"ASSET_MATERIALIZATION_PLANNED", "ASSET_CHECK_EVALUATION_PLANNED"}
    assert [row[:2] for row in at_once["assets"]] == [('["first"]', run_id), ('["second"]', run_id)]
    assert [row[:2] for row in at_once["checks"]] == [
        ('["first"]', "complete"),
        ('["first"]', "fresh"),
        ('["second"]', "sane"),
    ]
    assert all(
        row[4:] == ("PLANNED", "ASSET_CHECK_EVALUATION_PLANNED", True) for row in at_once["checks"]
    )
    # five planned events: one statement each table, where Dagster alone sends one per event
    assert len(at_once["events"]) == 5
    assert _inserts(sent_apart, "event_logs") == 5
    assert _inserts(sent_together, "event_logs") == 1
    assert _inserts(sent_together, "asset_keys") == 1
    assert _inserts(sent_together, "asset_check_executions") == 1
