"""Run monitoring's check of a run's worker: failed only when it was seen here and has ended."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.launcher import WorkerStatus

from rostering_pipeline.defs.turns import HOST_TAG, PID_TAG, worker_tags
from rostering_pipeline.platform.launchers import MonitoredRunLauncher
from rostering_pipeline_tests.defs.test_turns import dead_pid


@pytest.mark.parametrize(
    ("tags", "status"),
    [
        (worker_tags(), WorkerStatus.RUNNING),  # this process: alive
        ({**worker_tags(), PID_TAG: dead_pid()}, WorkerStatus.FAILED),
        ({HOST_TAG: "another-host", PID_TAG: dead_pid()}, WorkerStatus.RUNNING),  # not seen
        ({}, WorkerStatus.RUNNING),  # no worker recorded yet: the time limits apply
        ({HOST_TAG: "", PID_TAG: ""}, WorkerStatus.RUNNING),  # emptied at submission
    ],
)
def test_a_run_s_worker_is_failed_only_when_seen_here_and_ended(tags, status):
    run = dg.DagsterRun(job_name="roster_sync", tags=tags, status=dg.DagsterRunStatus.STARTED)
    health = MonitoredRunLauncher().check_run_worker_health(run)
    assert health.status == status
    if status == WorkerStatus.FAILED:
        assert health.msg == f"the run's worker ({tags[HOST_TAG]}, pid {tags[PID_TAG]}) ended"
