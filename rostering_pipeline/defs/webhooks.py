"""`webhook_sync_requests`: the webhook inbox (`sync_requests`) becomes delta runs.

At most one run per district per interval (`ROSTERING_WEBHOOK_INTERVAL_S`, default 300 s). A
burst coalesces: every pending request of the district is consumed by the one run. Requests that
arrive while the district is cooling down are not dropped: they stay pending and become the
district's next run once the interval has passed, so a change announced just after a run started
is never lost. Districts that are not `active` (paused, purged, preview) have their requests
consumed and ignored: a delta run needs an active district, and a preview is an operator's
report, refreshed on demand (`sync KEY --mode preview`), not on every change at the provider.

A request is consumed only once its run exists (at least once): a tick requests the run and
remembers the batch in its cursor; a later tick finds the run by its run key and consumes the
batch, or asks for the same run key again (the daemon launches it once).
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg
import orjson
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import sync_requests
from rostering_pipeline.defs.code_references import here
from rostering_pipeline.defs.jobs import roster_sync
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_config import sync_run_config, sync_tags
from rostering_pipeline.defs.run_tags import TRIGGER_TAG
from rostering_pipeline.defs.sensor_runs import missing_partitions, run_of_key
from rostering_pipeline.districts import District, list_districts

INTERVAL_ENV = "ROSTERING_WEBHOOK_INTERVAL_S"
DEFAULT_INTERVAL_S = 300
TICK_S = 30
# Consumed requests are kept this long for inspection; a replay of one is refused by the
# timestamp window long before it is deleted.
RETENTION = timedelta(days=7)
SENSOR_NAME = "webhook_sync_requests"
# Read every tick: the partial index `ix_sync_requests_pending` keeps it to the pending rows.
PENDING_REQUESTS = sa.select(sync_requests.c.id, sync_requests.c.district_id).where(
    sync_requests.c.consumed_at.is_(None)
)


def interval_from_env() -> int:
    value = os.environ.get(INTERVAL_ENV, "")
    if not value:
        return DEFAULT_INTERVAL_S
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{INTERVAL_ENV} must be a whole number of seconds, at least 1")
    return int(value)


def build_webhook_sensor(
    interval_s: int, *, clock: Callable[[], float] = time.time
) -> dg.SensorDefinition:
    """The sensor; `clock` is injectable so tests can step through intervals."""

    @dg.sensor(
        name=SENSOR_NAME,
        metadata=here(),
        job=roster_sync,
        minimum_interval_seconds=min(TICK_S, interval_s),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Turns webhook requests (`sync_requests`) into delta runs of `roster_sync`: at most "
            f"one per district every {interval_s} s; a burst becomes one run; requests for "
            "paused, purged or preview districts are consumed and ignored."
        ),
    )
    def webhook_sync_requests(
        context: dg.SensorEvaluationContext, app_db: AppDatabase
    ) -> dg.SensorResult:
        now = clock()
        state = _Cursor.load(context.cursor)
        run_requests: list[dg.RunRequest] = []
        with app_db.engine().begin() as conn:
            pending = conn.execute(PENDING_REQUESTS).all()
            request_ids: dict[int, list[int]] = defaultdict(list)
            for request_id, district_id in pending:
                request_ids[district_id].append(request_id)
            consumed: list[int] = []
            awaiting, state.awaiting = state.awaiting, {}  # districts gone are forgotten
            for district in list_districts(conn):
                batch = awaiting.get(district.key, {"run_key": None, "ids": []})
                if batch["run_key"] is not None:
                    launched = run_of_key(context.instance, SENSOR_NAME, batch["run_key"])
                    if district.status == "active" and not launched:  # the same run, again
                        state.awaiting[district.key] = batch
                        run_requests.append(_delta_run(district, batch["run_key"]))
                        continue
                    consumed += batch["ids"]  # its run exists, or the district takes no runs
                ids = [i for i in request_ids.get(district.id, []) if i not in batch["ids"]]
                if not ids:
                    continue
                if district.status != "active":
                    context.log.info(
                        f"ignored {len(ids)} request(s): '{district.key}' is {district.status}"
                    )
                    consumed += ids
                elif now - state.last_run.get(district.key, -math.inf) < interval_s:
                    continue  # cooling down: these become the district's next run
                else:
                    run_key = f"webhook:{district.key}:{max(ids)}"  # the batch names its run
                    state.last_run[district.key] = now
                    state.awaiting[district.key] = {"run_key": run_key, "ids": sorted(ids)}
                    run_requests.append(_delta_run(district, run_key))
            _consume(conn, consumed)
        state.forget_before(now - interval_s)
        return dg.SensorResult(
            run_requests=run_requests,
            cursor=state.dump(),
            dynamic_partitions_requests=missing_partitions(context.instance, run_requests),
        )

    return webhook_sync_requests


class _Cursor:
    """The sensor's memory between ticks: when each district's last webhook run was requested
    (Unix seconds), and the batches whose run was requested but not yet seen to exist."""

    def __init__(self, last_run: dict[str, float], awaiting: dict[str, dict]) -> None:
        self.last_run = last_run
        self.awaiting = awaiting  # district key -> {"run_key": ..., "ids": [request ids]}

    @classmethod
    def load(cls, cursor: str | None) -> _Cursor:
        stored = orjson.loads(cursor) if cursor else {}
        if "last_run" not in stored:  # written before batches were remembered: key -> time
            return cls(dict(stored), {})
        return cls(stored["last_run"], stored["awaiting"])

    def forget_before(self, moment: float) -> None:
        self.last_run = {key: at for key, at in self.last_run.items() if at > moment}

    def dump(self) -> str:
        return orjson.dumps({"last_run": self.last_run, "awaiting": self.awaiting}).decode()


def _delta_run(district: District, run_key: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,  # the daemon launches one run per key, however often it is asked
        partition_key=district.key,
        run_config=sync_run_config("delta"),
        tags={**sync_tags(district, "delta"), TRIGGER_TAG: "webhook"},
    )


def expired_requests(now: datetime) -> sa.Delete:
    return sync_requests.delete().where(
        sync_requests.c.consumed_at.is_not(None),
        sync_requests.c.received_at < now - RETENTION,
    )


def _consume(conn: sa.Connection, ids: list[int]) -> None:
    now = datetime.now(UTC)
    if ids:
        conn.execute(
            sync_requests.update().where(sync_requests.c.id.in_(ids)).values(consumed_at=now)
        )
    conn.execute(expired_requests(now))


webhook_sensor = build_webhook_sensor(interval_from_env())
