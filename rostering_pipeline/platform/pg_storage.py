"""The production instance's storage: dagster-postgres, with each process's connections kept.

dagster-postgres opens a new PostgreSQL connection for every statement outside the webserver
(its engines have no pool), and asks whether the asset-check table exists before every
asset-check event, on yet another connection. Creating a scheduled run writes about twenty
planned events, so three quarters of the dispatcher's tick went to connecting and asking
(benchmarks/FLEET.md). Here the run, event-log and schedule storages of a process share one
engine whose pool keeps the connections the process used (at most POOL_SIZE idle), and a new
run's planned events go in one transaction (planned_events.py).

Questions whose true answer stays true are not asked again once answered true: whether a table or
column exists (migrations add them; Dagster asked PostgreSQL's catalog for the runs table's columns
on every run it read or created) and whether a snapshot is stored (snapshots are stored under the
hash of their content; Dagster read and decoded a run's whole execution plan to find out, for every
run it created). Wiping a storage forgets them. Tables, schema and queries are dagster-postgres's
own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

from rostering_pipeline.platform.planned_events import enable_batches, storing_planned_at_once

POOL_SIZE = 8  # idle connections a process keeps: the daemon's submit threads, one each
MAX_OVERFLOW = 8  # more at once are opened for the moment and closed afterwards
RECYCLE_S = 3600  # as the webserver's pool: reconnect hourly, before a server or proxy would
# Each storage's questions whose true answer stays true until the storage is wiped.
RUN_FACTS = (
    "has_run_stats_index_cols",
    "has_backfill_id_column",
    "has_bulk_actions_selector_cols",
    "has_bulk_action_job_name_column",
    "has_backfill_tags_table",
    "has_job_snapshot",
    "has_execution_plan_snapshot",
)
EVENT_LOG_FACTS = ("has_table",)
SCHEDULE_FACTS = ("has_instigators_table", "has_secondary_index_table")


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose storages share a pooled engine."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, **kwargs):
        super().__init__(postgres_url, should_autocreate_tables, **kwargs)
        engine = create_pg_engine(
            postgres_url,
            kwargs.get("token_provider"),
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            # No ping before each use (a third of the time left): as with the webserver's pool,
            # a connection found dead fails one statement and the pool starts afresh.
            pool_recycle=RECYCLE_S,
        )
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine.dispose()
            storage._engine = engine
        _remember_true(self._run_storage, RUN_FACTS)
        _remember_true(self._event_log_storage, EVENT_LOG_FACTS)
        _remember_true(self._schedule_storage, SCHEDULE_FACTS)
        events = self._event_log_storage
        events.store_event_batch = storing_planned_at_once(events, events.store_event_batch)
        enable_batches()

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledPostgresStorage:
        return cls(
            pg_url_from_config(config_value),
            config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )


def _remember_true(storage: object, questions: Iterable[str]) -> None:
    """The storage's `questions` (methods answering true or false) ask until their answer for
    given arguments is true, then answer true from memory; the storage's `wipe` forgets."""
    true: set[tuple] = set()
    for name in questions:
        setattr(storage, name, _remembering(name, getattr(storage, name), true))
    wipe = storage.wipe

    def wiped() -> None:
        wipe()
        true.clear()  # after: an answer remembered while the rows were going would outlive them

    storage.wipe = wiped


def _remembering(name: str, ask: Callable[..., bool], true: set[tuple]) -> Callable[..., bool]:
    def remembered(*args: object) -> bool:
        question = (name, *args)
        if question not in true and ask(*args):
            true.add(question)
        return question in true

    return remembered
