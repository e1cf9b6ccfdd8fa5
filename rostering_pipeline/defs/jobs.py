"""The `roster_sync` job and its hooks: a failed run's outcome on its district (and an alert); a
successful roster step resolves the district's alerts."""

from datetime import UTC, datetime

import dagster as dg

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
from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.freshness import fresh
from rostering_pipeline.defs.reconcile import ROSTER_KEY, roster
from rostering_pipeline.districts import record_outcome
from rostering_pipeline.errors import ChecksFailed
from rostering_pipeline.outcomes import describe, describe_failed_checks


def _district_of(context: dg.HookContext) -> str | None:
    run = context.instance.get_run_by_id(context.run_id)
    return run.tags.get("dagster/partition") if run else None


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
    """A roster step that succeeded is the district's recovery: its alerts close."""
    if context.op.name != ROSTER_KEY.to_python_identifier():
        return
    district_key = _district_of(context)
    if district_key:
        resolve(context.resources.app_db.engine(), district_key, RESOLVED_BY_SUCCESS)


roster_sync = dg.define_asset_job(
    name="roster_sync",
    # The freshness check is the sensor's, judged between runs: not a step of every sync.
    selection=dg.AssetSelection.assets(*extract_assets, roster) - dg.AssetSelection.checks(fresh),
    hooks={record_failure, resolve_alerts},
    description=(
        "Pull, validate and apply one district's roster. Run config (resource `sync`): mode "
        "(full | delta | preview), approve_deactivations (largest count approved; 0 = none)."
    ),
)
