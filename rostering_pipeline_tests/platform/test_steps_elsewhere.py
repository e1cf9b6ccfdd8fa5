"""A district's steps spread over processes (`ROSTERING_EXECUTOR`), sharing nothing but the
databases and the snapshot store (an S3-compatible one, moto's server on loopback):

- `multiprocess`: the CLI's run spawns a process per step;
- `celery`: the daemon's run sends each step to two Celery workers started as processes of their
  own (`dagster-celery worker start`) through the local RabbitMQ broker.

Either way the district ends with the rows a district synced in one process gets, the
snapshots are in the store, and nothing is written under the data folder but logs.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import snapshot_verdicts
from rostering_pipeline.defs.executors import BROKER_ENV, EXECUTOR_ENV
from rostering_pipeline.defs.run_config import sync_run_config
from rostering_pipeline.defs.turns import HOST_TAG, PID_TAG
from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET, register
from rostering_pipeline_tests.faults.conftest import pg_env, provider  # noqa: F401 (fixtures)
from rostering_pipeline_tests.faults.support import assert_converged, cli
from rostering_pipeline_tests.platform.conftest import BUCKET
from rostering_pipeline_tests.platform.support import BIN, REPO, daemon, dagster_pg_env, running
from rostering_pipeline_tests.polling import until

pytestmark = pytest.mark.slow

STEPS = {
    *(f"oneroster__{entity}" for entity in ("orgs", "academic_sessions", "courses")),
    *(f"oneroster__{entity}" for entity in ("classes", "users", "enrollments")),
    "app_db__roster",
}
BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
WORKERS = ("w1", "w2")
TIMEOUT_S = 300


def _processes(instance: dg.DagsterInstance, run_id: str) -> tuple[int, dict[str, int]]:
    """The process that started the run, and each step's (events record their process)."""
    entries = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
    (started,) = [e.pid for e in entries if e.event_type == dg.DagsterEventType.RUN_START]
    steps = {e.step_key: e.pid for e in entries if e.event_type == dg.DagsterEventType.STEP_START}
    return started, steps


def _celery_workers_of(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """The Celery worker that took each step, from the workers' own engine events."""
    return {
        entry.step_key: data["Celery worker"].value
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        if "Celery worker" in (data := entry.dagster_event.engine_event_data.metadata)
    }


def _nothing_local_but_logs(data: Path) -> None:
    assert not data.exists() or not [p for p in data.rglob("*") if "logs" not in p.parts]


def _snapshots_in_the_store(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        locations = conn.execute(sa.select(snapshot_verdicts.c.snapshot_location)).scalars().all()
    assert locations and all(loc.startswith(f"s3://{BUCKET}/rostering/") for loc in locations)


def test_a_district_syncs_with_each_step_in_a_process_of_its_own(
    pg_env,  # noqa: F811
    provider,  # noqa: F811
    object_store,
):
    register(pg_env, provider, "d1")
    register(pg_env, provider, "ref")

    done = cli("sync", "d1", **{EXECUTOR_ENV: "multiprocess"})

    assert done.returncode == 0, done.stderr[-2000:]
    instance = dg.DagsterInstance.get()
    (run,) = instance.get_runs()
    worker, steps = _processes(instance, run.run_id)
    assert set(steps) == STEPS
    assert len(set(steps.values())) == len(STEPS) and worker not in steps.values()
    # The run's worker is the process that spawned the steps, not the last step's.
    assert run.tags[PID_TAG] == str(worker) and run.tags[HOST_TAG] == socket.gethostname()
    assert_converged(pg_env, "d1", "ref")
    _snapshots_in_the_store(pg_env)


def _broker_up() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=5).close()
    except OSError:
        pytest.fail("no RabbitMQ at 127.0.0.1:5672: start it (`rabbitmq-server -detached`)")


@contextmanager
def _celery_workers(env: dict[str, str], folder: Path) -> Iterator[list[str]]:
    """Two Celery workers, one step at a time each, listening to the broker; yields their names
    once both answer a ping."""
    config = folder / "celery.yaml"
    config.write_text(f"execution:\n  config:\n    broker: {{env: {BROKER_ENV}}}\n")
    host = socket.gethostname()
    names = [f"{name}-{os.getpid()}@{host}" for name in WORKERS]
    with ExitStack() as stack:
        for name in names:
            argv = [BIN / "dagster-celery", "worker", "start", "-A", "dagster_celery.app"]
            argv += ["-y", config, "-n", name.split("@")[0], "--", "--concurrency=1"]
            stack.enter_context(running(argv, env, folder / f"{name.split('@')[0]}.log"))
        ping = [BIN / "celery", "-A", "dagster_celery.app", "-b", BROKER, "inspect", "ping"]
        deadline = time.monotonic() + 120
        while True:
            answered = subprocess.run(ping, env=env, capture_output=True, text=True, check=False)
            if all(name in answered.stdout for name in names):
                break
            assert time.monotonic() < deadline, f"workers did not answer: {answered.stdout}"
            time.sleep(2)
        yield names


def _logs_tail(folder: Path) -> str:
    """The end of the daemon's and the Celery workers' logs, to say why a run failed."""
    logs = sorted(folder.glob("*.log"))
    return "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in logs)


def _wait_for(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    def finished() -> dg.DagsterRun | None:
        runs = instance.get_runs(dg.RunsFilter(tags=tags))
        return runs[0] if runs and runs[0].is_finished else None

    return until("the run finishing", finished, TIMEOUT_S, every_s=1)


def test_a_district_syncs_with_its_steps_on_celery_workers(
    new_database, production_home, object_store, tmp_path, monkeypatch
):
    _broker_up()
    storage, app_db = new_database(), new_database()
    data = tmp_path / "data"
    env = {
        **dagster_pg_env(storage),
        "DAGSTER_HOME": str(production_home),
        "ROSTERING_DATABASE_URL": app_db,
        "ROSTERING_DATA_DIR": str(data),
        "ROSTERING_SECRET_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    upgrade(app_db)
    engine = make_engine(app_db)
    dg.DagsterInstance.get()  # its storage made once here: two workers at once would race
    # `dagster-celery worker start` runs `celery` from the PATH: this environment's.
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    spread = {**os.environ, "PATH": path, EXECUTOR_ENV: "celery", BROKER_ENV: BROKER}
    settings = ProviderSettings(
        district=DistrictSpec.sized(students=150), client_id=CLIENT_ID, client_secret=SECRET
    )
    here = {"rostering/test": "celery"}
    with (
        ProviderServer(settings) as local_provider,
        _celery_workers(spread, tmp_path) as workers,
        daemon(spread, tmp_path / "daemon.log"),
    ):
        register(engine, local_provider, "d1", schedule="0 0 1 1 *")  # never due in the test
        register(engine, local_provider, "ref", schedule="0 0 1 1 *")
        # As the partitions sensor would at its next tick: the daemon, up before the district
        # was registered, would add it only after the run had stored its first output.
        dg.DagsterInstance.get().add_dynamic_partitions("district", ["d1"])
        launch = [BIN / "dagster", "job", "launch", "-w", "workspace.yaml", "-j", "roster_sync"]
        launch += ["--tags", json.dumps({**here, "dagster/partition": "d1"})]
        launch += ["--config-json", json.dumps(sync_run_config("full"))]
        subprocess.run(launch, cwd=REPO, env=spread, check=True, capture_output=True)
        run = _wait_for(dg.DagsterInstance.get(), here)
        # A failed run says why (the daemon's log) before its district is compared.
        assert run.status == dg.DagsterRunStatus.SUCCESS, _logs_tail(tmp_path)
        assert_converged(engine, "d1", "ref")  # the same roster synced in one process

    instance = dg.DagsterInstance.get()
    worker, steps = _processes(instance, run.run_id)
    ran_on = _celery_workers_of(instance, run.run_id)
    assert set(ran_on) == STEPS
    assert set(ran_on.values()) == set(workers)  # both took steps
    assert set(steps) == STEPS and worker not in steps.values()
    # No step process is the run's worker: none recorded itself as it.
    assert not instance.get_run_by_id(run.run_id).tags.get(PID_TAG)
    _snapshots_in_the_store(engine)
    _nothing_local_but_logs(data)
    engine.dispose()
