"""`csv_inbox`: a CSV district's files dropped in `<inbox>/<KEY>/` become runs of `roster_sync`.

One run per file, oldest first, one file of a district at a time (a day's file is applied before
the next day's, whatever the queue does). A file still being written (its size changed since
the last tick, or first seen this tick) waits for the next tick. The run key is the district,
the file's name and its checksum, so a file never makes two runs; a file already loaded once
goes to processed/ untouched. After its run the file moves to processed/ or failed/ with a
`.reason.txt` (the run's one-line error, and how to approve a held file).
"""

from __future__ import annotations

import dataclasses
import shlex
from datetime import datetime

import dagster as dg
import orjson

from rostering_pipeline import config
from rostering_pipeline.defs.code_references import here
from rostering_pipeline.defs.jobs import roster_sync
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_config import sync_run_config, sync_tags
from rostering_pipeline.defs.run_tags import TRIGGER_TAG
from rostering_pipeline.defs.sensor_runs import missing_partitions, run_of_key
from rostering_pipeline.districts import District, list_districts
from rostering_pipeline.inbox import Inbox, InboxFile

SENSOR_NAME = "csv_inbox"
TICK_S = 30
_FINISHED = {  # a run in any other state may still go on
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


@dg.sensor(
    name=SENSOR_NAME,
    metadata=here(),
    job=roster_sync,
    minimum_interval_seconds=TICK_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Loads the OneRoster CSV packages CSV districts drop in ROSTERING_CSV_INBOX/<KEY>/: one "
        "run per file, oldest first, once its size holds between two ticks; then moves the "
        "file to processed/ or failed/ (with a .reason.txt)."
    ),
)
def csv_inbox(context: dg.SensorEvaluationContext, app_db: AppDatabase) -> dg.SensorResult:
    inbox = Inbox(config.csv_inbox_url())
    cursor = _Cursor.load(context.cursor)
    sizes: dict[str, int] = {}
    run_requests: list[dg.RunRequest] = []
    for district in list_districts(app_db.engine()):
        if district.source != "csv":
            continue
        try:  # one district's trouble (a listing, a move) never stalls the others
            request = _tick_district(context, inbox, cursor, district, sizes)
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0]
            context.log.error(f"'{district.key}': {type(exc).__name__}: {first_line}")
            continue
        if request is not None:
            run_requests.append(request)
    cursor.sizes = sizes
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=cursor.dump(),
        dynamic_partitions_requests=missing_partitions(context.instance, run_requests),
    )


def _tick_district(
    context: dg.SensorEvaluationContext,
    inbox: Inbox,
    cursor: _Cursor,
    district: District,
    sizes: dict[str, int],
) -> dg.RunRequest | None:
    """The district's run to request this tick, if any; settles its last file first."""
    launched = cursor.launched.pop(district.key, None)
    if launched is not None:
        file, run_key = _file(launched["file"]), launched["run_key"]
        record = run_of_key(context.instance, SENSOR_NAME, run_key)
        if record is None or record.dagster_run.status not in _FINISHED:
            cursor.launched[district.key] = launched  # its next file waits for this run
            # not launched yet: the same run key, asked for again (the daemon launches once)
            return _load_run(district, file, run_key) if record is None else None
        _settle(context, inbox, file, run_key, record.dagster_run)
    waiting = inbox.files(district.key)
    sizes.update({file.location: file.size for file in waiting})
    if not waiting or district.status not in ("active", "preview"):
        return None  # paused or purged: its files wait
    oldest = waiting[0]
    if cursor.sizes.get(oldest.location) != oldest.size:
        context.log.info(f"'{district.key}': {oldest.name} is new or still being written")
        return None
    run_key = f"{district.key}:{oldest.name}:{inbox.checksum(oldest)}"
    earlier = run_of_key(context.instance, SENSOR_NAME, run_key)
    if earlier is not None:  # the daemon would not launch that run key again
        _redelivered(context, inbox, oldest, earlier.dagster_run)
        return None
    cursor.launched[district.key] = {"run_key": run_key, "file": _file_state(oldest)}
    context.log.info(f"'{district.key}': loading {oldest.name} ({oldest.size:,} bytes)")
    return _load_run(district, oldest, run_key)


def _redelivered(
    context: dg.SensorEvaluationContext, inbox: Inbox, file: InboxFile, earlier: dg.DagsterRun
) -> None:
    """A file (same name and checksum) that already made a run: it never makes another."""
    if earlier.status not in _FINISHED:
        return  # that run is loading it still (a cursor reset): settled when it ends
    succeeded = earlier.status == dg.DagsterRunStatus.SUCCESS
    outcome = "was loaded by" if succeeded else "failed in"
    reason = f"the same file (name and checksum) {outcome} run {earlier.run_id}; not run again"
    inbox.write_reason(inbox.settle(file, succeeded=succeeded), reason)
    context.log.info(f"'{file.district}': {file.name}: {reason}")


def _load_run(district: District, file: InboxFile, run_key: str) -> dg.RunRequest:
    mode = "preview" if district.status == "preview" else "full"  # the manifest may say delta
    return dg.RunRequest(
        run_key=run_key,
        partition_key=district.key,
        run_config=sync_run_config(mode, package=file.location),
        tags={**sync_tags(district, mode), TRIGGER_TAG: SENSOR_NAME},
    )


def _settle(
    context: dg.SensorEvaluationContext,
    inbox: Inbox,
    file: InboxFile,
    run_key: str,
    run: dg.DagsterRun,
) -> None:
    """Moves the file of an ended run to processed/ or failed/, with the run's outcome; a file
    replaced under the same name meanwhile is a new file, left for its own run."""
    from rostering_pipeline.runner import outcome_of  # Dagster's run reporting: on demand

    if not inbox.exists(file):
        return  # moved by someone else meanwhile
    if not run_key.endswith(f":{inbox.checksum(file)}"):
        context.log.info(f"'{file.district}': {file.name} was replaced during run {run.run_id}")
        return
    outcome = outcome_of(context.instance, run)
    moved = inbox.settle(file, succeeded=outcome.success)
    if outcome.success:
        reason = f"loaded by run {outcome.run_id} ({outcome.mode or 'full'})"
    else:  # a held file is approved by importing it again, from where it now is
        message = outcome.message.replace(shlex.quote(file.location), shlex.quote(moved))
        reason = f"{message}\nrun {outcome.run_id}, exit code {outcome.exit_code}"
    inbox.write_reason(moved, reason)
    context.log.info(f"'{file.district}': {file.name} moved to {moved}")


def _file_state(file: InboxFile) -> dict:
    return {**dataclasses.asdict(file), "modified_at": file.modified_at.isoformat()}


def _file(state: dict) -> InboxFile:
    return InboxFile(**{**state, "modified_at": datetime.fromisoformat(state["modified_at"])})


class _Cursor:
    """Between ticks: each waiting file's size last tick, and each district's launched file
    (with its run key) until that file is settled."""

    def __init__(self, sizes: dict[str, int], launched: dict[str, dict]) -> None:
        self.sizes = sizes  # file location -> bytes
        self.launched = launched  # district key -> {"run_key": ..., "file": _file_state(...)}

    @classmethod
    def load(cls, cursor: str | None) -> _Cursor:
        stored = orjson.loads(cursor) if cursor else {}
        return cls(stored.get("sizes", {}), stored.get("launched", {}))

    def dump(self) -> str:
        return orjson.dumps({"sizes": self.sizes, "launched": self.launched}).decode()
