"""A run waits for an earlier run of its district, and gives up with that run named."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
from dagster._core.utils import make_new_run_id

from rostering_pipeline import runner
from rostering_pipeline.defs.run_config import sync_run_config
from rostering_pipeline.defs.run_tags import FRESH_CHECK_JOB
from rostering_pipeline.defs.turns import HOST_TAG, PID_TAG, runs_in_progress, worker_tags
from rostering_pipeline.districts import get_district
from rostering_pipeline_tests.e2e import register


def in_progress(
    instance: dg.DagsterInstance, job_name: str = "roster_sync", **tags: str
) -> dg.DagsterRun:
    """A run of d1 recorded as started elsewhere, with these tags besides its partition."""
    run = dg.DagsterRun(
        job_name=job_name,
        run_id=make_new_run_id(),
        tags={"dagster/partition": "d1", **tags},
        status=dg.DagsterRunStatus.STARTED,
    )
    instance.add_run(run)
    return run


def dead_pid() -> str:
    """The process id of a process that has ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return ended.stdout.strip()


def test_a_run_gives_up_waiting_for_an_earlier_run_and_names_it(env, provider):
    from rostering_pipeline.definitions import defs

    register(env, provider)
    instance = runner.instance()
    instance.add_dynamic_partitions("district", ["d1"])
    # A run of d1 launched elsewhere that never ends (no host or pid to prove it dead).
    stuck = in_progress(instance)
    config = sync_run_config("full")
    config["resources"]["sync"]["config"]["wait_for_earlier_run_s"] = 2

    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=instance, partition_key="d1", run_config=config, raise_on_error=False
    )

    assert not result.success
    assert provider.stats.data_requests == 0  # nothing pulled while the other run held d1
    with env.connect() as conn:
        district = get_district(conn, "d1")
    assert district.last_error_kind == "busy"
    assert district.last_error.startswith(
        f"run {stuck.run_id} of district 'd1' was still in progress after 2 s; nothing done"
    )
    waiting = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if "waiting for run" in e.user_message
    ]
    assert waiting and all(stuck.run_id in line for line in waiting)


def test_a_freshness_check_of_the_district_is_not_a_run_to_wait_for(env, provider):
    """The freshness sensor's check job carries the district's partition but writes nothing: a
    sync started while it runs goes on at once, and the CLI does not announce it as in the way."""
    from rostering_pipeline.definitions import defs

    register(env, provider)
    instance = runner.instance()
    instance.add_dynamic_partitions("district", ["d1"])
    check = in_progress(instance, job_name=FRESH_CHECK_JOB)

    assert runs_in_progress(instance, "d1") == []
    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=instance, partition_key="d1", run_config=sync_run_config("full")
    )

    assert result.success
    assert not [e for e in instance.all_logs(result.run_id) if check.run_id in e.user_message]


def test_a_run_whose_worker_is_gone_is_marked_failed_not_waited_for(env, provider):
    """A run whose worker died with everything around it (nothing recorded its end) carries its
    worker's host and pid, so the next run of the district finds it dead instead of waiting."""
    from rostering_pipeline.definitions import defs

    register(env, provider)
    instance = runner.instance()
    instance.add_dynamic_partitions("district", ["d1"])
    dead = in_progress(instance, **{**worker_tags(), PID_TAG: dead_pid()})

    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=instance, partition_key="d1", run_config=sync_run_config("full")
    )

    assert result.success
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    own = instance.get_run_by_id(result.run_id).tags
    assert (own[HOST_TAG], own[PID_TAG]) == (worker_tags()[HOST_TAG], worker_tags()[PID_TAG])
    assert own["district"] == "d1" and own["rostering/mode"] == "full"  # completed by its steps


def test_a_re_execution_records_its_own_worker_not_its_parent_s(env, provider):
    """The UI copies a run's tags to its re-execution: the parent's dead worker must not follow."""
    from rostering_pipeline.definitions import defs

    register(env, provider)
    instance = runner.instance()
    instance.add_dynamic_partitions("district", ["d1"])
    parents = {"dagster/partition": "d1", **worker_tags(), PID_TAG: dead_pid()}

    result = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=instance, partition_key="d1", run_config=sync_run_config("full"), tags=parents
    )

    assert result.success
    assert instance.get_run_by_id(result.run_id).tags[PID_TAG] == worker_tags()[PID_TAG]
