"""The Dagster UI's view, through the webserver's GraphQL API, of a home where the demo synced.

The home is built the way `make demo` builds it (SQLite app DB and Dagster storage under the data
folder, the demo's key file), then `dagster-webserver` is started on it as `make ui` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rostering_pipeline import demo
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline.runner import run_sync
from rostering_pipeline_tests.platform.support import webserver

pytestmark = pytest.mark.slow

ASSETS = {
    "oneroster/orgs",
    "oneroster/academic_sessions",
    "oneroster/courses",
    "oneroster/classes",
    "oneroster/users",
    "oneroster/enrollments",
    "app_db/roster",
}

ASSETS_QUERY = """
{ assetNodes {
    assetKey { path } groupName kinds description isPartitioned
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    assetChecksOrError { ... on AssetChecks { checks { name blocking description } } }
} }
"""
WORKSPACE_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
    __typename
    ... on PythonError { message }
    ... on RepositoryLocation { repositories {
        jobs { name description }
        sensors { name description sensorState { status } }
        schedules { name description scheduleState { status } }
    } }
} } } } }
"""
MATERIALIZATIONS_QUERY = """
query ($partition: String!) {
  assetOrError(assetKey: {path: ["app_db", "roster"]}) { ... on Asset {
    assetMaterializations(partitions: [$partition]) {
      partition
      runOrError { ... on Run { status } }
      metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
  } }
}
"""


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Iterator[Path]:
    """A data folder where the demo district has synced, as `make demo` leaves it."""
    data = tmp_path_factory.mktemp("demo") / "data"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ROSTERING_DATA_DIR", str(data))
        env.setenv("DAGSTER_HOME", str(data / "dagster_home"))
        env.setenv("ROSTERING_SECRET_KEYS", "")  # the demo writes its key file, as in `make demo`
        for name in ("ROSTERING_DATABASE_URL", "ROSTERING_SNAPSHOT_URL"):
            env.delenv(name, raising=False)
        demo.ensure_secret_keys()
        upgrade()
        engine = make_engine()
        settings = ProviderSettings(district=DistrictSpec.sized(students=200))
        with ProviderServer(settings) as server:
            demo.register(engine, server)
            outcome = run_sync(demo.DEMO_KEY)
        engine.dispose()
    assert outcome.success, outcome.message
    assert (data / "secret_keys").exists()
    yield data


@pytest.fixture(scope="module")
def graphql(demo_home, tmp_path_factory) -> Iterator[Callable[..., dict]]:
    env = {
        **os.environ,
        "ROSTERING_DATA_DIR": str(demo_home),
        "DAGSTER_HOME": str(demo_home / "dagster_home"),
    }
    with webserver(env, tmp_path_factory.mktemp("webserver") / "webserver.log") as query:
        yield query


def test_the_seven_assets_with_groups_kinds_owners_descriptions_and_checks(graphql):
    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(ASSETS_QUERY)["assetNodes"]}
    assert set(nodes) >= ASSETS
    for key in ASSETS:
        node = nodes[key]
        assert node["isPartitioned"], key
        assert node["description"], key
        assert node["kinds"], key
        assert node["owners"], key
        assert node["groupName"] == key.split("/")[0], key
    for key in ASSETS - {"app_db/roster"}:
        checks = {c["name"]: c for c in nodes[key]["assetChecksOrError"]["checks"]}
        assert checks["structure"]["blocking"], key
        assert all(check["description"] for check in checks.values()), key
    users_checks = {c["name"] for c in nodes["oneroster/users"]["assetChecksOrError"]["checks"]}
    assert "volume_change" in users_checks


def test_the_job_schedules_and_sensors_are_described_and_running(graphql):
    (entry,) = graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    (repository,) = location["repositories"]
    jobs = {job["name"]: job for job in repository["jobs"]}
    assert jobs["roster_sync"]["description"]
    sensors = {s["name"]: s for s in repository["sensors"]}
    assert "webhook_sync_requests" in sensors
    instigators = [
        *((s["name"], s["description"], s["sensorState"]["status"]) for s in sensors.values()),
        *(
            (s["name"], s["description"], s["scheduleState"]["status"])
            for s in repository["schedules"]
        ),
    ]
    for name, description, status in instigators:
        assert description, f"{name} has no description"
        assert status == "RUNNING", f"{name} is {status} by default"


def test_a_successful_materialization_of_the_demo_district(graphql):
    asset = graphql(MATERIALIZATIONS_QUERY, partition=demo.DEMO_KEY)["assetOrError"]
    (event,) = asset["assetMaterializations"]
    assert event["partition"] == demo.DEMO_KEY
    assert event["runOrError"]["status"] == "SUCCESS"
    counts = {entry["label"]: entry.get("intValue") for entry in event["metadataEntries"]}
    assert counts["users/inserted"] > 0  # numeric metadata: plotted by the UI
    assert counts["enrollments/inserted"] > 0
