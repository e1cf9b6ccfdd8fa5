"""The embedded instance's storage: Dagster's SQLite run and event-log storage, with one
SQLAlchemy engine per database file instead of one per statement.

Dagster's SQLite storages build an engine (and initialize its dialect) for every statement they
run; a small district's run writes about 170 events and reads its run a hundred times, so that
was about a second of a 1,000-student sync. The files, tables and locking are Dagster's: an
engine here still holds no connection between statements (NullPool), so other processes and a
forked run worker see exactly what they saw before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster._core.instance.ref import (
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.schedules import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from sqlalchemy.pool import NullPool


@functools.lru_cache(maxsize=256)  # an event file per run: bounded for a webserver reading many
def _engine(conn_string: str, busy_timeout_s: float | None) -> sa.Engine:
    connect_args = {} if busy_timeout_s is None else {"timeout": busy_timeout_s}
    return sa.create_engine(conn_string, poolclass=NullPool, connect_args=connect_args)


class EngineReusingSqliteRunStorage(SqliteRunStorage):
    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with _engine(self._conn_string, None).connect() as conn, conn.begin():
            yield conn


class EngineReusingSqliteEventLogStorage(SqliteEventLogStorage):
    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock:
            engine = _engine(self.conn_string_for_shard(shard), SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn


class EngineReusingSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite` (the same files under `base_dir`) with the two storages above."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self.base_dir = base_dir
        self._run_storage = EngineReusingSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = EngineReusingSqliteEventLogStorage(
            _event_logs_directory(base_dir)
        )
        self._schedule_storage = SqliteScheduleStorage.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)  # not DagsterSqliteStorage's: it builds its own storages

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(inst_data=inst_data, **config_value)
