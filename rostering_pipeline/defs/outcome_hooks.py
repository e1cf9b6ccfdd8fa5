"""A run's outcome on its district. Hooks on the district's assets, so they fire in whichever job
materializes them (roster_sync, the asset page's implicit job, a backfill): a failed step's
outcome lands on its district (and raises an alert); a roster step that succeeded resolves the
district's alerts. A run that ended outside its steps (killed, failed to start) is recorded by
the `record_failed_runs` sensor, or at once by the CLI that waits for it."""

from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

# Not re-exported at the top level; it is how a blocking check failure reaches a hook.
from dagster._core.errors import DagsterAssetCheckFailedError

from rostering_pipeline.alerts import (
    RESOLVED_BY_SUCCESS,
    Alert,
    kind_of_failure,
    raise_alert,
    resolve,
)
from rostering_pipeline.appdb.ledger import failed_in_run
from rostering_pipeline.defs.run_tags import PARTITION_TAG
from rostering_pipeline.districts import get_district, record_outcome
from rostering_pipeline.errors import BadInput, ChecksFailed
from rostering_pipeline.outcomes import describe, describe_failed_checks


def _district_of(context: dg.HookContext) -> str | None:
    run = context.instance.get_run_by_id(context.run_id)
    return run.tags.get(PARTITION_TAG) if run else None


@dg.failure_hook(required_resource_keys={"app_db"})
def record_failure(context: dg.HookContext) -> None:
    """Whatever launched the run, its failure lands on the district's record (a `credentials`
    failure also marks the credentials rejected)."""
    district_key = _district_of(context)
    if not district_key or context.op_exception is None:
        return
    exc = context.op_exception
    engine = context.resources.app_db.engine()
    if isinstance(exc, DagsterAssetCheckFailedError):
        with engine.connect() as conn:
            failed = failed_in_run(conn, context.run_id)
        exc = ChecksFailed(
            f"validation failed, nothing applied: {describe_failed_checks(failed)}"
            if failed
            else f"validation failed in {context.op.name}: {exc}"
        )
    outcome = describe(exc)
    record_outcome(
        engine,
        district_key,
        succeeded=False,
        error=outcome.message,
        error_kind=outcome.kind,
        at=datetime.now(UTC),
    )
    alert = Alert(district_key, kind_of_failure(outcome.kind), outcome.message, context.run_id)
    raise_alert(engine, alert)


@dg.success_hook(required_resource_keys={"app_db"})
def resolve_alerts(context: dg.HookContext) -> None:
    """On the roster asset only: its success is the district's recovery, so its alerts close."""
    district_key = _district_of(context)
    if district_key:
        resolve(context.resources.app_db.engine(), district_key, RESOLVED_BY_SUCCESS)


def reason_outside_steps(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why a run that did not succeed ended, when no step failed (so no hook recorded it):
    killed, failed to start, canceled. None when a step failed: its hook recorded that.
    A canceled run is "canceled" even when its interrupted step failed (no hook runs then)."""
    if run.status == dg.DagsterRunStatus.CANCELED:
        return "canceled"
    if instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        return None
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        failure = entry.dagster_event.job_failure_data if entry.dagster_event else None
        if failure and failure.failure_reason:
            return failure.failure_reason.value.lower()
    return "unknown reason"


def record_failure_outside_steps(
    engine: sa.Engine, instance: dg.DagsterInstance, run: dg.DagsterRun, reason: str
) -> str:
    """Records on the run's district a run that ended outside its steps, and raises its alert,
    unless the district has a later outcome on record (the CLI that waited for the run recorded
    it first; a later run succeeded). Returns the line recorded."""
    message = (
        f"run {run.run_id} was canceled before it finished; see it in the Dagster UI"
        if reason == "canceled"
        else f"run {run.run_id} failed outside its steps ({reason}): its worker stopped before "
        "the run could record why; see it in the Dagster UI"
    )
    record = instance.get_run_record_by_id(run.run_id)
    ended = (
        datetime.fromtimestamp(record.end_time, UTC)
        if record and record.end_time
        else datetime.now(UTC)
    )
    try:
        district = get_district(engine, run.tags.get(PARTITION_TAG, ""))
    except BadInput:  # removed since the run started: nothing to record it on
        return message
    if any(at and at >= ended for at in (district.last_success_at, district.last_error_at)):
        return message
    record_outcome(
        engine, district.key, succeeded=False, error=message, error_kind="unexpected", at=ended
    )
    raise_alert(engine, Alert(district.key, "failed", message, run.run_id))
    return message
