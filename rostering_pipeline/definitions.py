"""The one Definitions object of the code location."""

import dagster as dg

from rostering_pipeline.defs import code_references
from rostering_pipeline.defs.csv_inbox import csv_inbox
from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.freshness import district_freshness, fresh, fresh_check
from rostering_pipeline.defs.jobs import roster_sync
from rostering_pipeline.defs.reconcile import roster
from rostering_pipeline.defs.resources import RESOURCES
from rostering_pipeline.defs.schedules import district_dispatcher
from rostering_pipeline.defs.sensors import district_partitions_sensor, record_failed_runs
from rostering_pipeline.defs.snapshot_sweep import snapshot_sweep, snapshot_sweep_daily
from rostering_pipeline.defs.webhooks import webhook_sensor

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
    # A district's steps run one after another in the run's own process: no process per step
    # (each would import the project again), and the worker's pid is the run's (defs/turns.py).
    executor=dg.in_process_executor,
)
