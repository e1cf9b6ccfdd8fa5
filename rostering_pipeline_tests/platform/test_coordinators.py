"""The run coordinators submit a run without the worker tags its parent left on it."""

from __future__ import annotations

import dagster as dg
from dagster._core.utils import make_new_run_id

from rostering_pipeline.defs.turns import HOST_TAG, PID_TAG, runs_in_progress, worker_tags
from rostering_pipeline.platform.coordinators import without_inherited_worker
from rostering_pipeline.platform.launchers import FORKED_TAG


def test_a_re_execution_is_submitted_without_its_parent_s_worker():
    """The UI copies the parent's tags, among them the host and pid of a worker that has ended:
    submitted with them, the run would be taken for dead by the district's next run (and marked
    failed), and the UI's Terminate sent to that old pid."""
    parents = {**worker_tags(pid=2**22 + 1), FORKED_TAG: "true"}  # beyond any pid in use here
    with dg.instance_for_test() as instance:
        run = instance.add_run(
            dg.DagsterRun(
                job_name="roster_sync",
                run_id=make_new_run_id(),
                tags={"dagster/partition": "d1", "owner": "kept", **parents},
                status=dg.DagsterRunStatus.NOT_STARTED,
            )
        )

        submitted = without_inherited_worker(instance, run)

        tags = instance.get_run_by_id(run.run_id).tags
        assert submitted.tags == tags
        assert [tags[name] for name in (HOST_TAG, PID_TAG, FORKED_TAG)] == ["", "", ""]
        assert tags["owner"] == "kept" and tags["dagster/partition"] == "d1"
        # Started with those tags, the run is waited for, not taken for dead.
        started = dg.DagsterRun(
            job_name="roster_sync",
            run_id=make_new_run_id(),
            tags=tags,
            status=dg.DagsterRunStatus.STARTED,
        )
        instance.add_run(started)
        assert [r.run_id for r in runs_in_progress(instance, "d1")] == [started.run_id]
