"""One run of a district at a time, however it was launched: the UI, a backfill, the CLI, a
schedule or a sensor. The run queue's per-district limit covers only runs that pass through the
queue; this covers every run, because every step waits for the district's earlier runs first.

A run's place in line is when it started (the instance's run records): the earliest run of the
district still in progress goes on, the others wait. A run records the host and process id of its
worker, the process that runs or spawns its steps, so that one killed outright (nothing ever
records its end) is marked failed instead of being waited for. A step on a Celery worker cannot
see the run's worker: such a run carries the worker its launcher recorded, or none (run
monitoring then watches it).
"""

import os
import socket
import time

import dagster as dg

from rostering_pipeline.defs.executors import STEPS_IN_RUN_PROCESS
from rostering_pipeline.defs.run_tags import FRESH_CHECK_JOB, PARTITION_TAG, complete_tags
from rostering_pipeline.errors import DistrictBusy

IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
HOST_TAG = "rostering/host"
PID_TAG = "rostering/pid"
POLL_S = 1.0
GOES_ON = "this run goes on"


def worker_tags(pid: int | None = None) -> dict[str, str]:
    """Where a run's worker lives (this process unless `pid` says): where to check it is alive."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid or os.getpid())}


def claim_run(context: dg.AssetExecutionContext) -> None:
    """The run's district tags (however it was launched) and its worker's. A re-execution
    arrives with its parent's worker tags: they are replaced, or the parent's dead process
    would get this run marked failed. The run is read from the instance: `context.run` is the run
    as it started, so each step would repeat the registry lookup and the tag writes."""
    stored = context.instance.get_run_by_id(context.run.run_id) or context.run
    run = complete_tags(context.instance, stored)
    worker = _run_worker(context.job_def.executor_def.name)
    if worker and any(run.tags.get(name) != value for name, value in worker.items()):
        context.instance.add_run_tags(run.run_id, worker)


def _run_worker(executor: str) -> dict[str, str] | None:
    """The run's worker as a step sees it: this process, or the one that spawned this step;
    None where the steps run on other hosts."""
    if executor in STEPS_IN_RUN_PROCESS:
        return worker_tags()
    if executor == "multiprocess":
        return worker_tags(os.getppid())
    return None


def wait_for_turn(context: dg.AssetExecutionContext, timeout_s: float) -> None:
    """Return once no earlier run of this district is in progress; DistrictBusy after
    `timeout_s`, naming the run still in the way."""
    claim_run(context)
    district = context.partition_key
    deadline = time.monotonic() + timeout_s
    announced: set[str] = set()
    while True:
        ahead = runs_ahead(context.instance, context.run.run_id, district)
        if not ahead:
            if announced:
                context.log.info(f"{GOES_ON}: district '{district}' is free")
            return
        for run in ahead:
            if run.run_id not in announced:
                context.log.info(f"waiting for run {run.run_id} of district '{district}' to finish")
                announced.add(run.run_id)
        if time.monotonic() >= deadline:
            raise DistrictBusy(
                f"run {ahead[0].run_id} of district '{district}' was still in progress after "
                f"{timeout_s:.0f} s; nothing done. If that run is dead, mark it failed in the UI "
                "(Runs, Terminate) and launch again"
            )
        time.sleep(POLL_S)


def runs_in_progress(instance: dg.DagsterInstance, district: str) -> list[dg.DagsterRun]:
    """The district's runs in progress, but for CLI runs found dead (and marked failed)."""
    return [record.dagster_run for record in _live_records(instance, district)]


def runs_ahead(instance: dg.DagsterInstance, run_id: str, district: str) -> list[dg.DagsterRun]:
    """The district's runs in progress that started before `run_id`, oldest first."""
    own = instance.get_run_record_by_id(run_id)
    if own is None:
        return []

    def place(record: dg.RunRecord) -> tuple[float, str]:
        started = record.start_time or record.create_timestamp.timestamp()
        return started, record.dagster_run.run_id

    ahead = (r for r in _live_records(instance, district) if place(r) < place(own))
    return [r.dagster_run for r in sorted(ahead, key=place)]


def _live_records(instance: dg.DagsterInstance, district: str) -> list[dg.RunRecord]:
    """The district's runs in progress that write to it: not the freshness check's."""
    records = instance.get_run_records(
        dg.RunsFilter(tags={PARTITION_TAG: district}, statuses=IN_PROGRESS)
    )
    writing = [r for r in records if r.dagster_run.job_name != FRESH_CHECK_JOB]
    return [r for r in writing if not _abandoned(instance, r.dagster_run)]


def _abandoned(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """A run on this host whose worker process is gone: marked failed, as nothing else will."""
    if not worker_gone(run):
        return False
    instance.report_run_failed(run, "its process ended without recording the run's end")
    return True


def worker_gone(run: dg.DagsterRun) -> bool:
    """Whether the run's recorded worker was a process of this host that has ended (False for a
    worker that cannot be seen from here: another host's, or none recorded yet)."""
    if run.tags.get(HOST_TAG) != socket.gethostname() or not run.tags.get(PID_TAG):
        return False
    return not _alive(int(run.tags[PID_TAG]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
