"""The `roster_sync` job and the hook that records a failed run's outcome on its district."""


from datetime import UTC, datetime

import dagster as dg

from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.reconcile import roster
from rostering_pipeline.defs.run_config import job_config_mapping
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
    if isinstance(exc, dg.DagsterAssetCheckFailedError):
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


SYNC_STEPS = [asset.op.name for asset in (*extract_assets, roster)]

roster_sync = dg.define_asset_job(
    name="roster_sync",
    selection=dg.AssetSelection.assets(*extract_assets, roster),
    partitions_def=district_partitions,
    config=job_config_mapping(SYNC_STEPS),
    hooks={record_failure},
    description=(
        "Pull, validate and apply one district's roster. Config: mode (full | delta | preview), "
        "approve_deactivations (largest deactivation count approved; 0 = none)."
    ),
)
