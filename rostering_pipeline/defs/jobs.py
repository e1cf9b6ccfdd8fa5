"""The `roster_sync` job: every asset of one district, in one run. Outcomes and alerts hang on
the assets themselves (`outcome_hooks`), so any job that materializes them records its run."""

import dagster as dg

from rostering_pipeline.defs.code_references import here
from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.freshness import fresh
from rostering_pipeline.defs.reconcile import roster

roster_sync = dg.define_asset_job(
    name="roster_sync",
    metadata=here(),
    # The freshness check is the sensor's, judged between runs: not a step of every sync.
    selection=dg.AssetSelection.assets(*extract_assets, roster) - dg.AssetSelection.checks(fresh),
    description=(
        "Pull, validate and apply one district's roster. Run config (resource `sync`): mode "
        "(full | delta | preview), approve_deactivations (largest count approved; 0 = none)."
    ),
)
