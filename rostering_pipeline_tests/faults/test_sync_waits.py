"""`rostering-pipeline sync` launches its run through the instance and waits for it: never forever.
A run queued where no daemon serves the queue is reported at once (exit 1) and canceled; with
`--timeout`, the wait ends (exit 1) and the run goes on; a run terminated from another process
(the UI's Terminate) is canceled and the sync says so."""

from __future__ import annotations

import time

import dagster as dg

from rostering_pipeline import config
from rostering_pipeline.platform.launchers import FORKED_TAG
from rostering_pipeline.runner import instance
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import CLI_TIMEOUT_S, cli, cli_background
from rostering_pipeline_tests.polling import until

QUEUED_HOME = """\
run_coordinator:
  module: rostering_pipeline.platform.coordinators
  class: QueuedDistrictRunCoordinator
telemetry:
  enabled: false
"""


def runs_of(district: str) -> list[dg.DagsterRun]:
    return dg.DagsterInstance.get().get_runs(dg.RunsFilter(tags={"district": district}))


def finished(run_id: str) -> dg.DagsterRun | None:
    run = dg.DagsterInstance.get().get_run_by_id(run_id)
    return run if run.is_finished else None


def started_run_of(district: str) -> dg.DagsterRun:
    def started() -> dg.DagsterRun | None:
        runs = runs_of(district)
        return runs[0] if runs and runs[0].status == dg.DagsterRunStatus.STARTED else None

    return until("the sync's run starting", started, CLI_TIMEOUT_S, every_s=0.2)


def test_a_sync_queued_with_no_daemon_says_so_at_once_and_cancels_its_run(sqlite_env, provider):
    register(sqlite_env, provider, "d1")
    home = config.dagster_home()
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(QUEUED_HOME)  # the run queue, and no dagster-daemon

    refused = cli("sync", "d1")

    assert refused.returncode == 1, refused.stderr
    assert "queued and no dagster-daemon serves this instance's run queue" in refused.stderr
    (run,) = runs_of("d1")
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert run.run_id in refused.stderr
    assert provider.stats.data_requests == 0


def test_sync_timeout_ends_the_wait_and_the_run_goes_on(sqlite_env, provider):
    register(sqlite_env, provider, "d1")
    provider.inject("slow", times=1, path="/enrollments", seconds=15)

    waited = cli("sync", "d1", "--timeout", "3")

    assert waited.returncode == 1, waited.stderr
    assert "after 3 s; it goes on: follow it in the Dagster UI" in waited.stderr
    (run,) = runs_of("d1")
    run = until("the run finishing", lambda: finished(run.run_id), CLI_TIMEOUT_S)
    assert run.status == dg.DagsterRunStatus.SUCCESS  # its code server outlived the CLI


def test_a_sync_terminated_from_another_process_is_canceled_and_says_so(sqlite_env, provider):
    register(sqlite_env, provider, "d1")
    provider.inject("slow", times=1, path="/enrollments", seconds=30)
    dagster = instance()  # the embedded home, as the CLI makes it
    sync = cli_background("sync", "d1")
    run = started_run_of("d1")
    assert run.tags[FORKED_TAG] == "true"  # the embedded instance forks the CLI's runs

    started = time.monotonic()
    dagster.run_coordinator.cancel_run(run.run_id)  # what the UI's Terminate calls
    _, err = sync.communicate(timeout=CLI_TIMEOUT_S)

    assert time.monotonic() - started < 25  # interrupted, not left to finish its slow page
    assert sync.returncode == 1, err
    assert f"run {run.run_id} was canceled before it finished" in err
    assert dagster.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED
