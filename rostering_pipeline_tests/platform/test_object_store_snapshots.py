"""Runs share nothing but the databases and the snapshot store: with snapshots in an
S3-compatible object store (moto's server on loopback), a district's run pulls in one process
(the CLI's forked worker), `app_db/roster` is re-executed in another and applies the root run's
snapshots read back from the store, and nothing is written under the data folder's snapshots.
ROSTERING_SNAPSHOT_URL carries the store's keys and options (`s3://KEY:SECRET@bucket/…?endpoint…`):
they configure the store and never reach the ledger, the event log or the terminal."""

from __future__ import annotations

import base64
import os

import dagster as dg
import pyarrow.fs as pafs
import pytest
import sqlalchemy as sa

from rostering_pipeline import config
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import snapshot_verdicts
from rostering_pipeline.defs.fault_hooks import KILL_AT_VARIABLE
from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline.snapshots import ENCRYPTED_MAGIC
from rostering_pipeline_tests.defs.test_one_run_one_roster import reexecute
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET, register
from rostering_pipeline_tests.faults.conftest import pg_env, provider  # noqa: F401 (fixtures)
from rostering_pipeline_tests.faults.support import assert_converged, cli, export, synced
from rostering_pipeline_tests.platform.conftest import BUCKET, SECRET_KEY
from rostering_pipeline_tests.platform.support import (
    REPO,
    code_server,
    daemon,
    dagster_pg_env,
    webserver,
)
from rostering_pipeline_tests.platform.test_ui_console import REPOSITORY, finished, launch

ROSTER_KEY = dg.AssetKey(["app_db", "roster"])
ENTITIES = {"academic_sessions", "orgs", "courses", "users", "classes", "enrollments"}


def test_roster_reexecuted_elsewhere_applies_the_snapshots_read_back_from_the_store(
    pg_env,  # noqa: F811
    provider,  # noqa: F811
    object_store,
):
    register(pg_env, provider, "d1")
    register(pg_env, provider, "ref")
    # The CLI's run pulls and validates everything, then its worker dies before the roster step.
    killed = cli("sync", "d1", **{KILL_AT_VARIABLE: "before_roster"})
    assert killed.returncode == 1, killed.stderr[-2000:]
    (run,) = dg.DagsterInstance.get().get_runs()
    assert export(pg_env, "d1").tables["users"] == []

    files = object_store.get_file_info(pafs.FileSelector(f"{BUCKET}/rostering", recursive=True))
    pulled = {f.path.rsplit("/", 1)[1] for f in files if f.type == pafs.FileType.File}
    assert pulled == {f"{entity}.parquet" for entity in ENTITIES}
    for info in files:
        if info.type == pafs.FileType.File:
            assert f"rostering/d1/{run.run_id}/" in info.path
            with object_store.open_input_file(info.path) as snapshot:
                snapshot.seek(info.size - 4)
                assert snapshot.read() == ENCRYPTED_MAGIC

    # Another process (this test's) re-executes the roster step alone: it reads the root run's
    # snapshots from the store, as a run pod elsewhere would.
    again = reexecute(run.run_id, dg.ReexecutionOptions(run.run_id, ["app_db__roster"]))

    assert again.success
    synced("ref")  # the same roster synced in one go
    assert_converged(pg_env, "d1", "ref")
    assert not (config.data_dir() / "snapshots").exists()
    with pg_env.connect() as conn:
        locations = conn.execute(sa.select(snapshot_verdicts.c.snapshot_location)).scalars().all()
    assert locations and all(loc.startswith(f"s3://{BUCKET}/rostering/") for loc in locations)
    assert not any("?" in loc for loc in locations)  # no option, no key
    events = [
        repr(entry)
        for r in dg.DagsterInstance.get().get_runs()
        for entry in dg.DagsterInstance.get().all_logs(r.run_id)
    ]
    assert not any(SECRET_KEY in text for text in [*events, killed.stdout, killed.stderr])


REEXECUTE = """
mutation ($params: ExecutionParams!) {
  launchPipelineReexecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


@pytest.mark.postgres
@pytest.mark.slow
def test_the_multi_host_layout_on_one_machine(new_database, object_store, tmp_path, monkeypatch):
    """The code location served by `dagster code-server start` (gRPC), the daemon and the
    webserver as processes of their own pointing at it, runs launched by the daemon as their own
    processes, snapshots in the object store: the Launchpad's run of a district succeeds, a
    re-execution of `app_db/roster` in another worker applies that run's snapshots read back from
    the store, and the data folder holds nothing."""
    storage, app_db = new_database(), new_database()
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    inbox = os.environ["ROSTERING_SNAPSHOT_URL"].replace("/rostering?", "/inbox?")
    env = {
        **dagster_pg_env(storage),
        "DAGSTER_HOME": str(home),
        "ROSTERING_DATABASE_URL": app_db,
        "ROSTERING_DATA_DIR": str(data),
        "ROSTERING_CSV_INBOX": inbox,
        "ROSTERING_SECRET_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    upgrade(app_db)
    engine = make_engine(app_db)
    settings = ProviderSettings(
        district=DistrictSpec.sized(students=150), client_id=CLIENT_ID, client_secret=SECRET
    )
    processes = dict(os.environ)
    with (
        ProviderServer(settings) as local_provider,
        code_server(processes, tmp_path) as workspace,
        webserver(processes, tmp_path / "webserver.log", workspace) as query,
        daemon(processes, tmp_path / "daemon.log", workspace),
    ):
        register(engine, local_provider, "d1", schedule="0 0 1 1 *")  # never due in the test
        dg.DagsterInstance.get().add_dynamic_partitions("district", ["d1"])

        synced = launch(query, "roster_sync")
        assert finished(query, synced)["status"] == "SUCCESS"
        again = query(
            REEXECUTE,
            params={
                "selector": {**REPOSITORY, "pipelineName": "roster_sync"},
                "runConfigData": {},
                "stepKeys": ["app_db__roster"],
                "executionMetadata": {
                    "rootRunId": synced,
                    "parentRunId": synced,
                    "tags": [{"key": "dagster/partition", "value": "d1"}],
                },
            },
        )["launchPipelineReexecution"]
        assert again["__typename"] == "LaunchRunSuccess", again
        reexecuted = again["run"]["runId"]
        assert finished(query, reexecuted)["status"] == "SUCCESS"

    instance = dg.DagsterInstance.get()
    workers = {
        run_id: {
            entry.dagster_event.engine_event_data.metadata["pid"].value
            for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if "pid" in entry.dagster_event.engine_event_data.metadata
        }
        for run_id in (synced, reexecuted)
    }
    (first,), (second,) = workers.values()
    assert first != second  # each run in a worker process of its own
    roster = instance.fetch_materializations(ROSTER_KEY, limit=1).records[0]
    assert roster.run_id == reexecuted
    applied = roster.event_log_entry.asset_materialization.metadata["snapshots_of_runs"].value
    assert applied.startswith(f"{synced} (") and ";" not in applied  # the root run's six
    assert export(engine, "d1").tables["users"]
    assert not data.exists() or not [p for p in data.rglob("*") if "logs" not in p.parts]
    engine.dispose()
