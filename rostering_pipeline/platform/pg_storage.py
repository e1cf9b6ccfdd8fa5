"""The production instance's storage: dagster-postgres, with each process's connections kept.

dagster-postgres opens a new PostgreSQL connection for every statement outside the webserver
(its engines have no pool), and asks whether the asset-check table exists before every
asset-check event, on yet another connection. Creating a scheduled run writes about twenty
planned events, so three quarters of the dispatcher's tick went to connecting and asking
(benchmarks/FLEET.md). Here the run, event-log and schedule storages of a process share one
engine whose pool keeps the connections the process used (at most POOL_SIZE idle), and a table
found once is not asked for again, and a new run's planned events go in one transaction
(planned_events.py). Tables, schema and queries are dagster-postgres's own.
"""

from __future__ import annotations

from collections.abc import Callable

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
        events = self._event_log_storage
        events.has_table = _remembering_found(events.has_table)
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


def _remembering_found(has_table: Callable[[str], bool]) -> Callable[[str], bool]:
    """`has_table` that asks PostgreSQL until a table is found, then remembers it: Dagster
    creates tables and never drops them."""
    found: set[str] = set()

    def remembered(name: str) -> bool:
        if name not in found and has_table(name):
            found.add(name)
        return name in found

    return remembered
