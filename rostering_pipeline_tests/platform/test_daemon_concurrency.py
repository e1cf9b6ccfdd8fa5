"""The Dagster daemon on the repo's dagster.yaml and PostgreSQL keeps one run per district.

Five runs go through the run queue (three for one district, two for another) while the daemon
dequeues them against a local provider slowed down enough for runs to overlap. They are launched
as `dagster job launch` and the UI launch them, with the partition tag only: the project's run
coordinator gives them their district tags before the queue applies its limits. Afterwards the
runs' start and end times show that no district ever had two runs in progress, that the two
districts did run side by side, and that all five succeeded.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import time

import dagster as dg
import pytest

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.defs.run_config import sync_run_config
from rostering_pipeline.devserver import DistrictSpec, Faults, ProviderServer, ProviderSettings
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET, register
from rostering_pipeline_tests.platform.support import BIN, REPO, dagster_pg_env, running

RUNS = {"east": 3, "west": 2}
# Marks this test's runs apart from any a schedule or sensor of the code location might start.
LAUNCHED_HERE = {"rostering/test": "daemon-concurrency"}
TIMEOUT_S = 240  # typically 80-120 s on 2 busy cores

pytestmark = pytest.mark.slow


def _launch(env: dict[str, str], district_key: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            BIN / "dagster", "job", "launch", "-w", "workspace.yaml", "-j", "roster_sync",
            "--tags", json.dumps({**LAUNCHED_HERE, "dagster/partition": district_key}),
            "--config-json", json.dumps(sync_run_config("full")),
        ],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_for_runs(instance: dg.DagsterInstance, count: int) -> list[dg.RunRecord]:
    """Polls until this test's `count` runs have finished; checks the limit on every run."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        started = [
            r.dagster_run.tags.get("district")
            for r in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        ]
        assert len(started) == len(set(started)), f"two runs of one district at once: {started}"
        records = instance.get_run_records(dg.RunsFilter(tags=LAUNCHED_HERE))
        finished = [r for r in records if r.dagster_run.is_finished]
        if len(records) == count and len(finished) == count:
            return records
        time.sleep(0.5)
    statuses = [(r.dagster_run.tags.get("district"), r.dagster_run.status) for r in records]
    raise AssertionError(f"runs did not finish in {TIMEOUT_S} s: {statuses}")


def test_daemon_runs_one_run_per_district_at_a_time(
    production_home, new_database, tmp_path, monkeypatch
):
    keys = "k1:" + base64.b64encode(os.urandom(32)).decode()
    app_db = new_database()
    instance_env = {**dagster_pg_env(new_database()), "DAGSTER_HOME": str(production_home)}
    for name, value in {**instance_env, "ROSTERING_SECRET_KEYS": keys}.items():
        monkeypatch.setenv(name, value)  # this process reads the instance and registers
    env = {
        **os.environ,
        "ROSTERING_DATABASE_URL": app_db,
        "ROSTERING_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("ROSTERING_SNAPSHOT_URL", None)

    settings = ProviderSettings(
        district=DistrictSpec.sized(students=120),
        client_id=CLIENT_ID,
        client_secret=SECRET,
        faults=Faults(latency_s=0.3),  # each run waits on the provider: runs overlap
    )
    upgrade(app_db)
    engine = make_engine(app_db)
    with (
        ProviderServer(settings) as provider,
        dg.DagsterInstance.from_config(str(production_home)) as instance,
    ):
        for key in RUNS:
            register(engine, provider, key=key, schedule="0 0 1 1 *")  # never due during the test
        instance.add_dynamic_partitions("district", list(RUNS))
        argv = [BIN / "dagster-daemon", "run", "-w", "workspace.yaml"]
        with running(argv, env, tmp_path / "daemon.log", cwd=REPO):
            launches = [_launch(env, key) for key, count in RUNS.items() for _ in range(count)]
            for launch in launches:
                output, _ = launch.communicate(timeout=120)
                assert launch.returncode == 0, output
            records = _wait_for_runs(instance, sum(RUNS.values()))
    engine.dispose()

    failed = [r.dagster_run.run_id for r in records if not r.dagster_run.is_success]
    assert not failed, f"runs failed: {failed}; see {tmp_path / 'daemon.log'}"
    spans: dict[str, list[tuple[float, float]]] = {key: [] for key in RUNS}
    for record in records:
        tags = record.dagster_run.tags
        assert tags["rostering/mode"] == "full" and tags["rostering/provider"].endswith(CLIENT_ID)
        spans[tags["district"]].append((record.start_time, record.end_time))
    assert {key: len(runs) for key, runs in spans.items()} == RUNS
    for key, runs in spans.items():
        runs.sort()
        for (_, previous_end), (start, _) in itertools.pairwise(runs):
            assert start >= previous_end, f"two runs of {key} overlapped"
    overlapping = any(
        e_start < w_end and w_start < e_end
        for e_start, e_end in spans["east"]
        for w_start, w_end in spans["west"]
    )
    assert overlapping, "the districts never ran side by side: the limit is not per district"
