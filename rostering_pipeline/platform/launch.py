"""A run of the code location, launched through the instance the way the UI launches one.

The run is created from the code location's own snapshot (so the UI lists it under its job and
re-executes it without a "different version" warning) and submitted to the instance's run
coordinator (so the run queue and its limits apply); the run itself executes in a worker process
of the run launcher's choosing. The code location is loaded in this process when whoever
launches the run can start it from there: the queue's daemon (from its own workspace) or the
embedded instance's launcher (which forks this process); otherwise it is served by a code server
process, as `dagster job launch` does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import dagster as dg
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import (
    InProcessWorkspaceLoadTarget,
    ModuleTarget,
    WorkspaceLoadTarget,
)

from rostering_pipeline.defs.run_tags import PARTITION_TAG
from rostering_pipeline.errors import RosteringError
from rostering_pipeline.platform.launchers import LocalRunLauncher

# The name `workspace.yaml` gives the code location: runs are listed under it in the UI.
LOCATION_NAME = "rostering_pipeline"
DEFINITIONS_MODULE = "rostering_pipeline.definitions"
QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"
FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}
POLL_S = 0.1


class RunNotFinished(RosteringError):
    """The run was launched but the wait for it ended first (no daemon, or `--timeout`)."""


@contextmanager
def code_location(instance: dg.DagsterInstance) -> Iterator[WorkspaceRequestContext]:
    """The code location as `workspace.yaml` names it: loaded here, or served by a code server of
    its own when the instance could not start a run from here."""
    target: WorkspaceLoadTarget
    if _starts_runs_of_this_process(instance):
        target = InProcessWorkspaceLoadTarget(
            InProcessCodeLocationOrigin(
                LoadableTargetOrigin(
                    executable_path=sys.executable, module_name=DEFINITIONS_MODULE
                ),
                location_name=LOCATION_NAME,
            )
        )
    else:
        target = ModuleTarget(
            module_name=DEFINITIONS_MODULE,
            attribute=None,
            working_directory=None,
            location_name=LOCATION_NAME,
        )
    with WorkspaceProcessContext(
        instance,
        target,
        version=dg.__version__,
        read_only=False,
        code_server_log_level="WARNING",  # its start and stop are not the CLI's news
    ) as process:
        workspace = process.create_request_context()
        errors = workspace.get_code_location_error(LOCATION_NAME)
        if errors is not None:
            raise RosteringError(f"the code location did not load: {errors.message.strip()}")
        yield workspace


def _starts_runs_of_this_process(instance: dg.DagsterInstance) -> bool:
    return isinstance(instance.run_coordinator, QueuedRunCoordinator) or isinstance(
        instance.run_launcher, LocalRunLauncher
    )


def submit_partition_run(
    instance: dg.DagsterInstance,
    workspace: WorkspaceRequestContext,
    job_name: str,
    partition_key: str,
    run_config: Mapping,
    tags: Mapping[str, str],
) -> dg.DagsterRun:
    """Create the job's run of one partition from the code location's snapshot, and submit it."""
    location = workspace.get_code_location(LOCATION_NAME)
    (repository,) = location.get_repositories().values()
    job = location.get_job(
        JobSubsetSelector(
            location_name=LOCATION_NAME,
            repository_name=repository.name,
            job_name=job_name,
            op_selection=None,
        )
    )
    plan = location.get_execution_plan(
        job, run_config, step_keys_to_execute=None, known_state=None, instance=instance
    )
    run = instance.create_run(
        job_name=job_name,
        run_id=None,
        run_config=run_config,
        resolved_op_selection=None,
        step_keys_to_execute=None,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**job.tags, **tags, PARTITION_TAG: partition_key},
        job_snapshot=job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=job.parent_job_snapshot,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
        asset_selection=None,
        asset_check_selection=None,
        asset_graph=repository.asset_graph,
    )
    return instance.submit_run(run.run_id, workspace)


def wait_for_run(
    instance: dg.DagsterInstance,
    run_id: str,
    timeout_s: float | None,
    notify: Callable[[str], None] | None = None,
) -> dg.DagsterRun:
    """The run once it has finished. RunNotFinished at once if it is queued and no daemon serves
    the queue (the queued run is canceled: nothing would ever start it), or after `timeout_s`
    (the run is left to go on)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    told_queued = False
    while True:
        run = instance.get_run_by_id(run_id)
        assert run is not None, run_id
        if run.status in FINISHED:
            return run
        if run.status == dg.DagsterRunStatus.QUEUED:
            if not _queue_is_served(instance):
                instance.run_coordinator.cancel_run(run_id)
                raise RunNotFinished(
                    f"run {run_id} is queued and no dagster-daemon serves this instance's run "
                    "queue; the run was canceled. Start `dagster-daemon run` (or `make ui`) "
                    "and sync again"
                )
            if notify and not told_queued:
                notify(f"run {run_id} is queued; it starts when the instance's limits allow")
                told_queued = True
        if deadline is not None and time.monotonic() > deadline:
            raise RunNotFinished(
                f"run {run_id} was still {run.status.value.lower()} after {timeout_s:g} s; "
                "it goes on: follow it in the Dagster UI"
            )
        time.sleep(POLL_S)


def _queue_is_served(instance: dg.DagsterInstance) -> bool:
    return bool(instance.get_daemon_statuses([QUEUE_DAEMON])[QUEUE_DAEMON].healthy)
