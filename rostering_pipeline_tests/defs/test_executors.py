"""The deployment chooses where a run's steps execute (`ROSTERING_EXECUTOR`); a step records the
run's worker only where it can see it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rostering_pipeline.config import ConfigError
from rostering_pipeline.defs.executors import BACKEND_ENV, BROKER_ENV, EXECUTOR_ENV
from rostering_pipeline.defs.executors import executor_from_env as chosen
from rostering_pipeline.defs.turns import PID_TAG, _run_worker

BROKER = "pyamqp://guest:guest@rabbitmq.internal:5672//"


@pytest.mark.parametrize(
    ("value", "name"),
    [("", "in_process"), ("in_process", "in_process"), ("multiprocess", "multiprocess")],
)
def test_the_executor_comes_from_the_environment(monkeypatch, value, name):
    monkeypatch.setenv(EXECUTOR_ENV, value)
    assert chosen().name == name


def test_celery_reads_its_broker_from_the_environment_when_a_run_starts(monkeypatch):
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    monkeypatch.setenv(BROKER_ENV, BROKER)
    executor = chosen()
    assert executor.name == "celery"
    assert BROKER not in repr(executor.__dict__)  # the broker's password is in no definition
    monkeypatch.setenv(BACKEND_ENV, "redis://127.0.0.1:6379/1")
    assert chosen().name == "celery"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {EXECUTOR_ENV: "k8s"},
            "ROSTERING_EXECUTOR must be one of in_process, multiprocess, celery, not 'k8s'",
        ),
        ({EXECUTOR_ENV: "celery"}, "ROSTERING_EXECUTOR=celery needs ROSTERING_CELERY_BROKER"),
    ],
)
def test_an_unknown_executor_or_a_celery_without_broker_is_refused_in_one_line(
    monkeypatch, settings, message
):
    monkeypatch.delenv(BROKER_ENV, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        chosen()
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_the_code_location_loads_with_its_steps_on_celery():
    """Where the code location loads (a code server, a run, a worker), the chosen executor is the
    job's."""
    env = {**os.environ, EXECUTOR_ENV: "celery", BROKER_ENV: BROKER}
    probe = "from rostering_pipeline.definitions import defs;"
    probe += "print(defs.resolve_job_def('roster_sync').executor_def.name)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "celery"


def test_a_step_sees_the_run_s_worker_in_its_own_process_or_its_parent_only():
    assert _run_worker("in_process")[PID_TAG] == str(os.getpid())
    assert _run_worker("execute_in_process_executor")[PID_TAG] == str(os.getpid())
    assert _run_worker("multiprocess")[PID_TAG] == str(os.getppid())  # spawned by the run's
    assert _run_worker("celery") is None  # another host's process
