"""Two runs of one district launched at the same moment from two places, the Dagster UI (through
the webserver's GraphQL API, as its Materialize button does, dequeued by the daemon as under
`make ui`) and `rostering-pipeline sync`: they take turns, one after the other, and both
succeed."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from rostering_pipeline import runner
from rostering_pipeline.defs.turns import GOES_ON
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import (
    CLI_TIMEOUT_S,
    assert_converged,
    cli_background,
    run_events,
)
from rostering_pipeline_tests.platform.support import LAUNCH, daemon, webserver
from rostering_pipeline_tests.polling import until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LOCATION = """
{ workspaceOrError { ... on Workspace { locationEntries { name } } } }
"""
STEP_EVENTS = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE"}


def launch_as_the_ui(query, district: str) -> str:
    """What the asset page's Materialize button sends: the job, the partition tag, no config."""
    [location] = query(LOCATION)["workspaceOrError"]["locationEntries"]
    params = {
        "selector": {
            "repositoryLocationName": location["name"],
            "repositoryName": "__repository__",
            "jobName": "roster_sync",
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": district}]},
        "runConfigData": {},
    }
    launched = query(LAUNCH, params=params)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def working_span(run_id: str) -> tuple[float, float]:
    """From the run's first step starting (or, if it waited, its turn coming) to its last step
    ending."""
    events = run_events(run_id)
    stamps = [e.timestamp for e in events if e.dagster_event_type in STEP_EVENTS]
    turn = [e.timestamp for e in events if (e.user_message or "").startswith(GOES_ON)]
    return max([min(stamps), *turn]), max(stamps)


def wait_started(run_id: str) -> None:
    """Until the run's first step has started."""
    until(
        f"run {run_id} starting a step",
        lambda: any(e.dagster_event_type == "STEP_START" for e in run_events(run_id)),
        CLI_TIMEOUT_S,
    )


def wait_finished(run_id: str, timeout_s: float) -> dg.DagsterRun:
    instance = dg.DagsterInstance.get()

    def finished() -> dg.DagsterRun | None:
        run = instance.get_run_by_id(run_id)
        return run if run is not None and run.is_finished else None

    return until(f"run {run_id} finishing", finished, timeout_s)


def test_a_ui_launch_and_a_cli_sync_of_one_district_take_turns(pg_env, provider, tmp_path):
    register(pg_env, provider, "d1")
    register(pg_env, provider, "ref")
    # The embedded home exists before two processes open it; the UI shows d1's partition.
    runner.instance().add_dynamic_partitions("district", ["d1"])
    with (
        webserver(os.environ, tmp_path / "webserver.log") as query,
        daemon(os.environ, tmp_path / "daemon.log"),
    ):
        # The first run to pull enrollments stalls there: the other is sure to start meanwhile.
        provider.inject("slow", times=1, path="/enrollments", seconds=10)
        ui_run = launch_as_the_ui(query, "d1")
        wait_started(ui_run)
        cli_sync = cli_background("sync", "d1")
        _, stderr = cli_sync.communicate(timeout=CLI_TIMEOUT_S)
        assert cli_sync.returncode == 0, stderr
        assert f"'d1': run {ui_run} is in progress; this sync waits its turn" in stderr
        assert wait_finished(ui_run, CLI_TIMEOUT_S).status == dg.DagsterRunStatus.SUCCESS

    [cli_run] = [
        r.run_id
        for r in dg.DagsterInstance.get().get_runs(
            # the syncs of d1, not the freshness sensor's check runs
            dg.RunsFilter(job_name="roster_sync", tags={"dagster/partition": "d1"})
        )
        if r.run_id != ui_run
    ]
    first, second = sorted([working_span(ui_run), working_span(cli_run)])
    assert first[1] <= second[0], "the two runs of d1 ran steps at the same time"
    waited = [
        e.user_message
        for run_id in (ui_run, cli_run)
        for e in run_events(run_id)
        if "waiting for run" in (e.user_message or "")
    ]
    assert len(waited) == 1, waited  # the later run, once
    assert_converged(pg_env, "d1", "ref")
