"""The `roster_sync` job and the hook that records a failed run's outcome on its district."""

from datetime import UTC, datetime

import dagster as dg

# Not re-exported at the top level; it is how a blocking check failure reaches a hook.
from dagster._core.errors import DagsterAssetCheckFailedError

from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.reconcile import roster
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
    with context.resources.app_db.engine().begin() as conn:
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


roster_sync = dg.define_asset_job(
    name="roster_sync",
    selection=dg.AssetSelection.assets(*extract_assets, roster),
    hooks={record_failure},
    description=(
        "Pull, validate and apply one district's roster. Run config (resource `sync`): mode "
        "(full | delta | preview), approve_deactivations (largest count approved; 0 = none)."
    ),
)
