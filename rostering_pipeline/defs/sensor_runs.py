"""What the sensors that launch `roster_sync` runs share: finding the run a run key made, and
the district partitions their requests need."""

from __future__ import annotations

import dagster as dg

from rostering_pipeline.defs.partitions import district_partitions


def run_of_key(instance: dg.DagsterInstance, sensor_name: str, run_key: str) -> dg.RunRecord | None:
    """The run the daemon launched for this sensor's run key (it tags the run with both)."""
    tags = {"dagster/run_key": run_key, "dagster/sensor_name": sensor_name}
    records = instance.get_run_records(dg.RunsFilter(tags=tags), limit=1)
    return records[0] if records else None


def missing_partitions(
    instance: dg.DagsterInstance, run_requests: list[dg.RunRequest]
) -> list[dg.AddDynamicPartitionsRequest]:
    """A district registered since the partitions were last synced still gets its run."""
    missing = [
        request.partition_key
        for request in run_requests
        if not instance.has_dynamic_partition(district_partitions.name, request.partition_key)
    ]
    return [district_partitions.build_add_request(missing)] if missing else []
