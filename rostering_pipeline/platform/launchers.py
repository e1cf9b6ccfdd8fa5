"""Run launchers: the production instance's (Dagster's default, with its run workers checked by
run monitoring), and the embedded instance's, which also forks the CLI's runs.

A run the UI, a schedule or a sensor launches comes from a code server, and is launched the
default way (the code server starts a run worker process). A run `rostering-pipeline sync`
creates comes from the code location loaded in the CLI's own process: it is launched by forking
that process, so the worker starts with the definitions already imported instead of paying for
a code server and a fresh interpreter (seconds, most of a small district's run). The worker is
still a process of its own: the CLI that forked it sees it die, as a code server would, and
records the run failed; the UI's Terminate interrupts it as it interrupts any run worker.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.execution.api import execute_run
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._core.remote_representation.code_location import InProcessCodeLocation
from dagster._utils import get_run_crash_explanation
from dagster._utils.hosted_user_process import recon_job_from_origin
from dagster._utils.interrupts import capture_interrupts

from rostering_pipeline.defs.turns import HOST_TAG, PID_TAG, worker_gone, worker_tags

# Marks a run whose worker was forked from the CLI (its pid is PID_TAG).
FORKED_TAG = "rostering/forked_worker"


class MonitoredRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher (a run worker process per run), whose workers run monitoring
    can check: a run whose recorded worker (defs/turns.py) was a process of the daemon's host
    and has ended is marked failed at the monitoring daemon's next look, instead of holding its
    district's place in the queue until the run's time limit. A worker it cannot see (another
    host's, or not recorded yet) is taken for running, and the time limits still apply."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if worker_gone(run):
            where = f"{run.tags[HOST_TAG]}, pid {run.tags[PID_TAG]}"
            return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's worker ({where}) ended")
        return CheckRunHealthResult(WorkerStatus.RUNNING)


class LocalRunLauncher(MonitoredRunLauncher):
    """Dagster's default launcher; a run of a code location loaded in this process is forked."""

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.remote_job_origin
        location = context.workspace.get_code_location(origin.location_name) if origin else None
        if not isinstance(location, InProcessCodeLocation):
            super().launch_run(context)
            return
        for stream in (sys.stdout, sys.stderr):  # or the child would write what they hold again
            stream.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(_execute_in_child(self._instance, run))
        self._instance.add_run_tags(run.run_id, {**worker_tags(pid), FORKED_TAG: "true"})
        threading.Thread(
            target=self._watch_worker, args=(run.run_id, pid), name="run-worker-watch", daemon=True
        ).start()

    def _watch_worker(self, run_id: str, pid: int) -> None:
        """Records the run failed if its worker ended without finishing it (killed, crashed)."""
        _, status = os.waitpid(pid, 0)
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return
        self._instance.report_engine_event(
            get_run_crash_explanation(
                f"Run worker {pid} of run {run_id}", os.waitstatus_to_exitcode(status)
            ),
            run,
            cls=type(self),
        )
        self._instance.report_run_failed(
            run,
            job_failure_data=JobFailureData(
                error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION
            ),
        )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished or run.tags.get(FORKED_TAG) != "true":
            return super().terminate(run_id)
        if run.tags.get(HOST_TAG) != socket.gethostname():
            return False  # another machine's worker: nothing here can reach it
        self._instance.report_run_canceling(run)
        try:
            os.kill(int(run.tags[PID_TAG]), signal.SIGINT)  # the worker stops between steps
        except ProcessLookupError:
            return False
        return True


def _execute_in_child(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int:
    """The forked worker: executes the run as `dagster api execute_run` would; its exit code."""
    try:
        with capture_interrupts():
            instance.report_engine_event(f"Started process for run (pid: {os.getpid()}).", run)
            job = recon_job_from_origin(run.job_code_origin)
            return 0 if execute_run(job, run, instance).success else 1
    except BaseException:  # recorded by the run's own events; the exit code says it failed
        return 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
