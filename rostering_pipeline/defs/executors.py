"""Where a run's steps execute: the deployment chooses (`ROSTERING_EXECUTOR`, read where the code
location loads, so every process of a deployment must see the same value).

- `in_process` (default): the steps one after another in the run's own process. A district's
  seven steps are mostly a chain, and a process per step would import the project again each.
- `multiprocess`: each step in a process of its own, spawned by the run's process.
- `celery`: each step on a Celery worker (`dagster-celery worker start`, the `celery` extra),
  through the broker at `ROSTERING_CELERY_BROKER`; results come back through
  `ROSTERING_CELERY_BACKEND` (default `rpc://`, which needs an AMQP broker such as RabbitMQ).
"""

from __future__ import annotations

import os

import dagster as dg

from rostering_pipeline.config import ConfigError

EXECUTOR_ENV = "ROSTERING_EXECUTOR"
BROKER_ENV = "ROSTERING_CELERY_BROKER"
BACKEND_ENV = "ROSTERING_CELERY_BACKEND"
CHOICES = ("in_process", "multiprocess", "celery")
# How the steps' executors are named in a step's own job definition (`execute_in_process` runs
# the steps in the caller's process with an executor of its own).
STEPS_IN_RUN_PROCESS = ("in_process", "execute_in_process_executor")


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor `ROSTERING_EXECUTOR` names; ConfigError, in one line, for anything else."""
    choice = os.environ.get(EXECUTOR_ENV) or "in_process"
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor
    if choice == "celery":
        return _celery_executor()
    raise ConfigError(f"{EXECUTOR_ENV} must be one of {', '.join(CHOICES)}, not '{choice}'")


def _celery_executor() -> dg.ExecutorDefinition:
    if not os.environ.get(BROKER_ENV):
        raise ConfigError(
            f"{EXECUTOR_ENV}=celery needs {BROKER_ENV}, the broker's URL "
            "(e.g. pyamqp://guest@rabbitmq.internal:5672//)"
        )
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise ConfigError(
            f"{EXECUTOR_ENV}=celery needs dagster-celery: pip install 'rostering_pipeline[celery]'"
        ) from None
    # Read from the environment when a run starts: the broker's password is in no definition.
    backend = {"env": BACKEND_ENV} if os.environ.get(BACKEND_ENV) else "rpc://"
    return celery_executor.configured({"broker": {"env": BROKER_ENV}, "backend": backend})
