"""The one Definitions object of the code location."""

import dagster as dg

from rostering_pipeline.defs import code_references
from rostering_pipeline.defs.csv_inbox import csv_inbox
from rostering_pipeline.defs.executors import executor_from_env
from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.freshness import district_freshness, fresh, fresh_check
from rostering_pipeline.defs.jobs import roster_sync
from rostering_pipeline.defs.reconcile import roster
from rostering_pipeline.defs.resources import RESOURCES
from rostering_pipeline.defs.schedules import district_dispatcher
from rostering_pipeline.defs.sensors import district_partitions_sensor, record_failed_runs
from rostering_pipeline.defs.snapshot_sweep import snapshot_sweep, snapshot_sweep_daily
from rostering_pipeline.defs.webhooks import webhook_sensor
from rostering_pipeline.platform.process_exit import skip_final_collections

skip_final_collections()  # every process that loads the code location: run workers above all

defs = dg.Definitions(
    assets=code_references.for_assets([*extract_assets, roster]),
    asset_checks=[fresh],
    jobs=[roster_sync, fresh_check, snapshot_sweep],
    schedules=[district_dispatcher, snapshot_sweep_daily],
    sensors=[
        district_partitions_sensor,
        record_failed_runs,
        district_freshness,
        webhook_sensor,
        csv_inbox,
    ],
    resources=RESOURCES,
    # In the run's own process unless the deployment spreads the steps (defs/executors.py).
    executor=executor_from_env(),
)
