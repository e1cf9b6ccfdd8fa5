"""The Dagster UI as the console, through the webserver's GraphQL API the way the UI calls it, on
the repo's production `dagster.yaml` (PostgreSQL, the run queue) with the daemon running.

However a district's run is launched (the job's Launchpad, the asset page's Materialize button,
a partition backfill, `rostering-pipeline sync`), it carries the district's tags, is a run of the
code location, and records its outcome on the district.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import districts
from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline.districts import get_district
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET, register
from rostering_pipeline_tests.platform.support import (
    BIN,
    LAUNCH,
    REPO,
    daemon,
    dagster_pg_env,
    webserver,
)
from rostering_pipeline_tests.polling import until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROSTER_ASSETS = [
    ["oneroster", "orgs"],
    ["oneroster", "academic_sessions"],
    ["oneroster", "courses"],
    ["oneroster", "classes"],
    ["oneroster", "users"],
    ["oneroster", "enrollments"],
    ["app_db", "roster"],
]
REPOSITORY = {"repositoryLocationName": "rostering_pipeline", "repositoryName": "__repository__"}
RUN_TIMEOUT_S = 180

BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
RUN = """
query ($runId: ID!) { runOrError(runId: $runId) { ... on Run {
  status pipelineName pipelineSnapshotId tags { key value }
} } }
"""
RUNS = """
query ($filter: RunsFilter!) { runsOrError(filter: $filter) { ... on Runs {
  results { runId status pipelineName tags { key value } }
} } }
"""
JOB = """
query ($selector: PipelineSelector!) { pipelineOrError(params: $selector) {
  ... on Pipeline { pipelineSnapshotId }
} }
"""


@pytest.fixture(scope="module")
def console(pg_url, tmp_path_factory) -> Iterator[tuple[Callable[..., dict], sa.Engine, dict]]:
    """One district, `d1`, registered and its partition added; the webserver's GraphQL query
    function, the app DB's engine and the environment of the CLI."""
    folder = tmp_path_factory.mktemp("console")
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    names = [f"rostering_console_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    storage, app_db = (
        sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        for name in names
    )
    env = {
        **os.environ,
        **dagster_pg_env(storage),
        "DAGSTER_HOME": str(home),
        "ROSTERING_DATABASE_URL": app_db,
        "ROSTERING_DATA_DIR": str(folder / "data"),
        "ROSTERING_SECRET_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
    }
    env.pop("ROSTERING_SNAPSHOT_URL", None)
    settings = ProviderSettings(
        district=DistrictSpec.sized(students=150), client_id=CLIENT_ID, client_secret=SECRET
    )
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        upgrade(app_db)
        engine = make_engine(app_db)
        with (
            ProviderServer(settings) as provider,
            dg.DagsterInstance.get() as instance,
            webserver(env, folder / "webserver.log") as query,
            daemon(env, folder / "daemon.log"),
        ):
            register(engine, provider, "d1", schedule="0 0 1 1 *")  # never due in the test
            instance.add_dynamic_partitions("district", ["d1"])
            yield query, engine, env
        engine.dispose()
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def launch(query, job: str, *, assets: list[list[str]] | None = None) -> str:
    """What the UI sends: the job's Launchpad (`roster_sync`), or the asset page's Materialize
    button (the implicit `__ASSET_JOB` with the selected assets); the partition tag, no config."""
    selector = {**REPOSITORY, "pipelineName": job}
    if assets is not None:
        selector["assetSelection"] = [{"path": path} for path in assets]
    params = {
        "selector": selector,
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "d1"}]},
        "runConfigData": {},
    }
    launched = query(LAUNCH, params=params)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def run_of(query, run_id: str) -> dict:
    run = query(RUN, runId=run_id)["runOrError"]
    run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
    return run


def finished(query, run_id: str) -> dict:
    def ended() -> dict | None:
        run = run_of(query, run_id)
        return run if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    return until(f"run {run_id} finishing", ended, RUN_TIMEOUT_S, every_s=1)


def roster_pulled_at(engine: sa.Engine):
    """When the roster the district holds was pulled: moves whenever a roster is applied."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(districts.c.roster_pulled_at).where(districts.c.key == "d1")
        ).scalar_one()


def assert_district_tags(tags: dict[str, str]) -> None:
    assert tags["district"] == "d1"
    assert tags["rostering/mode"] == "full"
    assert tags["rostering/provider"].startswith("127.0.0.1:")
    assert tags["rostering/provider"].endswith(f"/{CLIENT_ID}")


def test_a_launchpad_run_with_only_the_partition_is_queued_with_the_district_tags(console):
    query, _, _ = console
    run_id = launch(query, "roster_sync")

    # Already on submission, before the daemon dequeues it: the queue's limits key on them.
    assert_district_tags(run_of(query, run_id)["tags"])
    assert finished(query, run_id)["status"] == "SUCCESS"


def test_the_asset_page_run_of_the_roster_alone_applies_nothing_and_is_recorded(console):
    query, engine, _ = console
    before = roster_pulled_at(engine)
    run_id = launch(query, "__ASSET_JOB", assets=[["app_db", "roster"]])
    assert_district_tags(run_of(query, run_id)["tags"])

    assert finished(query, run_id)["status"] == "FAILURE"
    district = get_district(engine, "d1")
    assert district.last_error.startswith("nothing applied; this run did not pull and validate")
    assert district.last_error_kind == "bad_input"
    assert roster_pulled_at(engine) == before  # the last sync's snapshots were not re-applied


def test_a_backfill_run_carries_the_district_tags(console):
    query, _, _ = console
    params = {"partitionNames": ["d1"], "assetSelection": [{"path": p} for p in ROSTER_ASSETS]}
    launched = query(BACKFILL, params=params)["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = [{"key": "dagster/backfill", "value": launched["backfillId"]}]

    def submitted() -> list[dict]:
        """The backfill's runs once submitted (the daemon creates a run, then submits it)."""
        runs = query(RUNS, filter={"tags": backfill})["runsOrError"]["results"]
        return [run for run in runs if run["status"] != "NOT_STARTED"]

    (run,) = until("the backfill submitting its run", submitted, RUN_TIMEOUT_S, every_s=1)
    assert_district_tags({tag["key"]: tag["value"] for tag in run["tags"]})
    assert finished(query, run["runId"])["status"] == "SUCCESS"


def test_a_cli_sync_is_a_run_of_the_job_in_the_code_location(console):
    query, _, env = console
    synced = subprocess.run(
        [BIN / "rostering-pipeline", "sync", "d1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert synced.returncode == 0, synced.stderr
    run_id = synced.stdout.split("run ")[1].split()[0]

    # What the job's page lists under Runs: the job's runs of this repository.
    repository = [{"key": ".dagster/repository", "value": "__repository__@rostering_pipeline"}]
    listed = query(RUNS, filter={"pipelineName": "roster_sync", "tags": repository})
    assert run_id in {run["runId"] for run in listed["runsOrError"]["results"]}
    # Re-executable without a "different version" warning: the job's snapshot is the run's.
    job = query(JOB, selector={**REPOSITORY, "pipelineName": "roster_sync"})["pipelineOrError"]
    run = run_of(query, run_id)
    assert run["pipelineSnapshotId"] == job["pipelineSnapshotId"]
    assert_district_tags(run["tags"])
