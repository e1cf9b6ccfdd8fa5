"""A purge that lands while a run is pulling: the run keeps nothing, not even a snapshot."""

from __future__ import annotations

import dagster as dg

from rostering_pipeline import runner
from rostering_pipeline.config import snapshot_url
from rostering_pipeline.privacy import purge_rows
from rostering_pipeline.snapshots import SnapshotStore
from rostering_pipeline_tests.e2e import register


def test_a_snapshot_written_after_the_purge_is_not_kept(env, provider, monkeypatch):
    from rostering_pipeline.definitions import defs

    register(env, provider)
    store = SnapshotStore(snapshot_url())
    writer = SnapshotStore.writer

    def purged_just_before(self, key, run_id, entity):
        """The whole purge (rows and data key, then files) completes between the pull and its
        snapshot: the run still holds the key it unwrapped."""
        purge_rows(env, key.district)
        self.delete_district(key.district)
        return writer(self, key, run_id, entity)

    monkeypatch.setattr(SnapshotStore, "writer", purged_just_before)
    instance = runner.instance()
    instance.add_dynamic_partitions("district", ["d1"])
    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=instance,
        partition_key="d1",
        asset_selection=[dg.AssetKey(["oneroster", "orgs"])],
        raise_on_error=False,
    )

    assert not result.success
    assert store.runs("d1") == []  # no snapshot of the purged district left on disk
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    cause = failure.event_specific_data.error.cause
    assert cause.cls_name == "DistrictPurged"
    assert "purged while this run was under way; nothing kept" in cause.message
