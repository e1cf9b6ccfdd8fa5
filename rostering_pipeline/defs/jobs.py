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
from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.freshness import fresh
from rostering_pipeline.defs.reconcile import ROSTER_KEY, roster
from rostering_pipeline.districts import record_outcome, set_credentials_ok
from rostering_pipeline.errors import ChecksFailed
from rostering_pipeline.outcomes import describe


@dg.failure_hook(required_resource_keys={"app_db"})
def record_failure(context: dg.HookContext) -> None:
    """Whatever launched the run, its failure lands on the district's record."""
    run = context.instance.get_run_by_id(context.run_id)
    district_key = run.tags.get("dagster/partition") if run else None
    if not district_key or context.op_exception is None:
        return
    exc = context.op_exception
    if isinstance(exc, DagsterAssetCheckFailedError):
        exc = ChecksFailed(f"validation failed in {context.op.name}: {exc}")
    outcome = describe(exc)
    engine = context.resources.app_db.engine()
    with engine.begin() as conn:
        record_outcome(
            conn,
            district_key,
            succeeded=False,
            error=outcome.message,
            error_kind=outcome.kind,
            at=datetime.now(UTC),
        )
        if outcome.kind == "credentials":
            set_credentials_ok(conn, district_key, False)
    alert = Alert(district_key, kind_of_failure(outcome.kind), outcome.message, context.run_id)
    raise_alert(engine, alert)


@dg.success_hook(required_resource_keys={"app_db"})
def resolve_alerts(context: dg.HookContext) -> None:
    """A roster step that succeeded is the district's recovery: its alerts close."""
    if context.op.name != ROSTER_KEY.to_python_identifier():
        return
    run = context.instance.get_run_by_id(context.run_id)
    district_key = run.tags.get("dagster/partition") if run else None
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
