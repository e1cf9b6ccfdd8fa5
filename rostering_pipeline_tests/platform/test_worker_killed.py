"""A run's worker killed outright under the daemon with the code server that started it (a node
lost): run monitoring marks the run failed at its next look, and the district's next run, queued
behind it by the one-run-per-district limit, starts and succeeds instead of waiting for the
2-hour limit. The runs, launched with the partition tag only, get their district's tags and
never overlap."""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import yaml

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.defs.run_config import sync_run_config
from rostering_pipeline.defs.turns import PID_TAG
from rostering_pipeline.devserver import DistrictSpec, Faults, ProviderServer, ProviderSettings
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET, register
from rostering_pipeline_tests.platform.support import BIN, REPO, dagster_pg_env, running
from rostering_pipeline_tests.polling import until

pytestmark = pytest.mark.slow

HERE = {"rostering/test": "worker-killed"}
POLL_S = 5  # run monitoring's interval here (60 s in the repo's dagster.yaml)
TIMEOUT_S = 240


def _launch(env: dict[str, str]) -> None:
    argv = [BIN / "dagster", "job", "launch", "-w", "workspace.yaml", "-j", "roster_sync"]
    argv += ["--tags", json.dumps({**HERE, "dagster/partition": "d1"})]
    argv += ["--config-json", json.dumps(sync_run_config("full"))]
    subprocess.run(argv, cwd=REPO, env=env, check=True, capture_output=True, timeout=120)


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_a_killed_worker_s_run_is_failed_by_run_monitoring_and_frees_the_district(
    production_home, new_database, tmp_path, monkeypatch
):
    settings = yaml.safe_load((production_home / "dagster.yaml").read_text())
    settings["run_monitoring"]["poll_interval_seconds"] = POLL_S
    # 5 tries 15 s apart (30 s in the repo's) outlast the daemon's restart of the code server.
    settings["run_coordinator"]["config"]["user_code_failure_retry_delay"] = 15
    (production_home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    app_db = new_database()
    for name, value in dagster_pg_env(new_database()).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(production_home))
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", "k1:" + base64.b64encode(os.urandom(32)).decode())
    env = {**os.environ, "ROSTERING_DATABASE_URL": app_db, "ROSTERING_DATA_DIR": str(tmp_path)}
    env.pop("ROSTERING_SNAPSHOT_URL", None)
    provider_settings = ProviderSettings(
        district=DistrictSpec.sized(students=120),
        client_id=CLIENT_ID,
        client_secret=SECRET,
        faults=Faults(latency_s=0.3),  # the first run is still pulling when its worker is killed
    )
    upgrade(app_db)
    engine = make_engine(app_db)
    with (
        ProviderServer(provider_settings) as provider,
        dg.DagsterInstance.get() as instance,
    ):
        register(engine, provider, key="d1", schedule="0 0 1 1 *")  # never due in the test
        instance.add_dynamic_partitions("district", ["d1"])
        argv = [BIN / "dagster-daemon", "run", "-w", "workspace.yaml"]
        with running(argv, env, tmp_path / "daemon.log", cwd=REPO):
            _launch(env)
            _launch(env)  # queued behind the first: one run per district

            def worker_recorded() -> dg.DagsterRun | None:
                started = instance.get_runs(
                    dg.RunsFilter(tags=HERE, statuses=[dg.DagsterRunStatus.STARTED])
                )
                return started[0] if started and started[0].tags.get(PID_TAG) else None

            doomed = until("a run recording its worker", worker_recorded, TIMEOUT_S)
            # The code server that started the worker would notice its child die, if it lived:
            # both go, as with a lost node, and only run monitoring is left to notice.
            worker = int(doomed.tags[PID_TAG])
            os.kill(_parent_of(worker), signal.SIGKILL)
            os.kill(worker, signal.SIGKILL)

            def all_finished() -> list[dg.RunRecord] | None:
                records = instance.get_run_records(dg.RunsFilter(tags=HERE))
                done = len(records) >= 2 and all(r.dagster_run.is_finished for r in records)
                return records if done else None

            records = until("both runs finishing", all_finished, TIMEOUT_S)
    engine.dispose()

    runs = {record.dagster_run.run_id: record.dagster_run for record in records}
    assert runs.pop(doomed.run_id).status == dg.DagsterRunStatus.FAILURE
    failure = [
        entry.message
        for entry in instance.all_logs(doomed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    ]
    assert failure and "Detected run worker status FAILED" in failure[0], failure
    # The queued run succeeded. Dagster tries a retry (run_retries) at once, which needs the
    # code server: here it is still down, so there is none, or else it is the doomed run's.
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values())
    assert all(run.parent_run_id in (None, doomed.run_id) for run in runs.values())
    assert len(runs) in (1, 2)
    # Launched with the partition only, each was tagged for the queue's limits, and the
    # district's runs never overlapped.
    for run in (doomed, *runs.values()):
        tags = instance.get_run_by_id(run.run_id).tags
        assert tags["district"] == "d1" and tags["rostering/mode"] == "full"
        assert tags["rostering/provider"].endswith(CLIENT_ID)
    spans = sorted((r.start_time or 0, r.end_time or 0) for r in records)
    assert all(start >= end for (_, end), (start, _) in itertools.pairwise(spans))
