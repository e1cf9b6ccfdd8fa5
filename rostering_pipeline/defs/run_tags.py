"""A district run's tags, completed from the registry whoever launched it.

The dispatcher, the webhook sensor and the CLI tag their runs themselves; the UI's buttons, a
partition backfill and `dagster asset materialize` give a run only `dagster/partition`. The
project's run coordinators complete the tags when a run is submitted (before the queue applies
its per-district and per-provider limits), and every step completes them too, for runs that are
executed without being submitted (`dagster asset materialize`, `execute_in_process`).
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_config import MODE_TAG, sync_tags
from rostering_pipeline.districts import get_district
from rostering_pipeline.errors import BadInput

PARTITION_TAG = "dagster/partition"
# The freshness sensor's job: it carries a district's partition but reads, never writes.
FRESH_CHECK_JOB = "fresh_check"
DISTRICT_TAGS = ("district", MODE_TAG, "rostering/provider")
# What started a sensor's run: "webhook" or "csv_inbox".
TRIGGER_TAG = "rostering/trigger"


def requested_mode(run_config: Mapping) -> str:
    """The mode a run's config asks for; the sync resource's default when it says none."""
    sync = run_config.get("resources", {}).get("sync", {}).get("config", {})
    return str(sync.get("mode") or "full")


def missing_tags(tags: Mapping[str, str], run_config: Mapping) -> dict[str, str]:
    """The district tags a run of a district partition lacks; {} for any other run, a district
    not in the registry, or a run that has them all. Tags a run has are never overwritten."""
    key = tags.get(PARTITION_TAG)
    if not key or all(name in tags for name in DISTRICT_TAGS):
        return {}
    try:
        district = get_district(AppDatabase().engine(), key)
    except BadInput:  # not registered (any more): the run fails on its own, and says why
        return {}
    complete = sync_tags(district, requested_mode(run_config))
    return {name: value for name, value in complete.items() if name not in tags}


def complete_tags(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun:
    """The run, with the district tags it lacked added to its record."""
    missing = missing_tags(run.tags, run.run_config)
    if not missing:
        return run
    instance.add_run_tags(run.run_id, missing)
    return instance.get_run_by_id(run.run_id) or run
