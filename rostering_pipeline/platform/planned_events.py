"""A new run's planned asset and check events, written in one transaction of three statements.

Creating a run writes a planned event for each asset and each check the run will execute (about
twenty for a district's sync). dagster-postgres writes each on a connection of its own, with two
or three statements and commits apiece; with 200 districts due at once, nine tenths of the
dispatcher's tick went there (benchmarks/FLEET.md; upstream, dagster-io/dagster#33831). Dagster
hands them to the storage as one batch when DAGSTER_EVENT_BATCH_SIZE is set, and dagster-postgres
then still writes them one by one. Here such a batch is one transaction: the event rows in one
INSERT, the assets' rows in one upsert, the checks' planned executions in one INSERT; rows and
values are dagster-postgres's own. Any other batch goes to dagster-postgres as before, and a batch
that fails is rolled back whole (Dagster then writes its events one by one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from dagster import DagsterEventType, EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.migration import ASSET_KEY_INDEX_COLS
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._serdes import serialize_value
from dagster_postgres import PostgresEventLogStorage
from sqlalchemy.dialects import postgresql

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
BATCH_SIZE = 1024  # events Dagster gathers before it hands a batch over: more than a run plans
PLANNED = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    }
)

StoreBatch = Callable[[Sequence[EventLogEntry]], None]


def enable_batches() -> None:
    """Dagster's batching of a run's planned events, unless the environment sets its size."""
    os.environ.setdefault(BATCH_SIZE_ENV, str(BATCH_SIZE))


def storing_planned_at_once(
    storage: PostgresEventLogStorage, store_batch: StoreBatch
) -> StoreBatch:
    """`store_batch` for any batch but one of planned events, which goes in one transaction."""

    def store(events: Sequence[EventLogEntry]) -> None:
        if events and all(event.dagster_event_type in PLANNED for event in events):
            _store_planned(storage, events)
        else:
            store_batch(events)

    return store


def _store_planned(storage: PostgresEventLogStorage, events: Sequence[EventLogEntry]) -> None:
    with storage.index_transaction() as conn:
        inserted = conn.execute(
            storage.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id)
        )
        # PostgreSQL returns a multi-row VALUES insert's ids in its rows' order, as
        # dagster-postgres's own batch of materializations relies on.
        stored = list(zip(events, inserted.scalars().all(), strict=True))
        assets = _asset_rows(storage, stored)
        if assets:
            conn.execute(_upsert_assets(assets))
        checks = [row for event, id_ in stored for row in _check_rows(storage, event, id_)]
        if checks:
            conn.execute(AssetCheckExecutionsTable.insert().values(checks))


def _asset_rows(
    storage: PostgresEventLogStorage, stored: list[tuple[EventLogEntry, int]]
) -> list[dict[str, object]]:
    """One row per asset, from its last planned event (as writing them in turn would leave it)."""
    index_columns = storage.has_secondary_index(ASSET_KEY_INDEX_COLS)
    rows: dict[str, dict[str, object]] = {}
    for event, event_id in stored:
        if event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            key = event.get_dagster_event().asset_key.to_string()
            values = storage._get_asset_entry_values(event, event_id, index_columns)
            rows[key] = {"asset_key": key, **values}
    return list(rows.values())


def _upsert_assets(rows: list[dict[str, object]]) -> postgresql.Insert:
    insert = postgresql.insert(AssetKeyTable).values(rows)
    updated = [name for name in rows[0] if name != "asset_key"]
    if not updated:
        return insert.on_conflict_do_nothing()
    return insert.on_conflict_do_update(
        index_elements=[AssetKeyTable.c.asset_key],
        set_={name: insert.excluded[name] for name in updated},
    )


def _check_rows(
    storage: PostgresEventLogStorage, event: EventLogEntry, event_id: int
) -> list[dict[str, object]]:
    """A planned check's execution rows: one per partition it covers (one if unpartitioned)."""
    if event.dagster_event_type != DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
        return []
    planned = event.get_dagster_event().event_specific_data
    subset = planned.partitions_subset
    return [
        {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "partition": partition,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": storage._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        for partition in (subset.get_partition_keys() if subset else [None])
    ]
