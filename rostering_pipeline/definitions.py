"""The one Definitions object of the code location."""

import dagster as dg

from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.jobs import roster_sync
from rostering_pipeline.defs.reconcile import roster
from rostering_pipeline.defs.resources import RESOURCES
from rostering_pipeline.defs.webhooks import webhook_sensor

defs = dg.Definitions(
    assets=[*extract_assets, roster],
    jobs=[roster_sync],
    sensors=[webhook_sensor],
    resources=RESOURCES,
)
