import os
import time

from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.snapshots import KEEP_RUNS, SnapshotStore


def test_round_trip_keeps_the_contract_dtypes(tmp_path):
    store = SnapshotStore(str(tmp_path))
    frame = ENTITIES["enrollments"].empty_frame()
    location = store.write("d1", "run-1", "enrollments", frame)
    assert location == f"{tmp_path}/d1/run-1/enrollments.parquet"
    back = store.read(location)
    assert back.dtypes.to_dict() == frame.dtypes.to_dict()
    assert list(store.read(location, columns=["sourced_id"]).columns) == ["sourced_id"]


def test_keeps_only_the_last_runs_of_each_district(tmp_path):
    store = SnapshotStore(str(tmp_path))
    frame = ENTITIES["orgs"].empty_frame()
    for n in range(KEEP_RUNS + 3):
        path = store.write("d1", f"run-{n}", "orgs", frame)
        stamp = time.time() - 1000 + n  # distinct, increasing modification times
        os.utime(path, (stamp, stamp))
    store.write("d2", "other", "orgs", frame)
    store.prune("d1")
    assert store.runs("d1") == [f"run-{n}" for n in range(3, KEEP_RUNS + 3)]
    assert store.runs("d2") == ["other"]
    store.delete_district("d1")
    assert store.runs("d1") == []
    assert store.runs("d2") == ["other"]
