"""The Dagster UI's view, through the webserver's GraphQL API, of a home where the demo synced.

The home is built the way `make demo` builds it (SQLite app DB and Dagster storage under the data
folder, the demo's key file), then `dagster-webserver` is started on it as `make ui` does.
"""

from __future__ import annotations

import json
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
query ($path: [String!]!, $partition: String!) {
  assetOrError(assetKey: {path: $path}) { ... on Asset {
    assetMaterializations(partitions: [$partition]) {
      partition
      runOrError { ... on Run { status } }
      metadataEntries {
        label
        ... on IntMetadataEntry { intValue }
        ... on TableMetadataEntry { table { records schema { columns { name } } } }
      }
    }
  } }
}
"""
FRESH_QUERY = """
query ($partition: String!) {
  assetCheckExecutions(
    assetKey: {path: ["app_db", "roster"]}, checkName: "fresh", partition: $partition, limit: 5
  ) { status partition }
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


def materialization(graphql, path: list[str]) -> dict[str, dict]:
    """The demo partition's one materialization of the asset: its metadata entries by label."""
    asset = graphql(MATERIALIZATIONS_QUERY, path=path, partition=demo.DEMO_KEY)["assetOrError"]
    (event,) = asset["assetMaterializations"]
    assert event["partition"] == demo.DEMO_KEY
    assert event["runOrError"]["status"] == "SUCCESS"
    return {entry["label"]: entry for entry in event["metadataEntries"]}


def test_a_successful_materialization_of_the_demo_district(graphql):
    metadata = materialization(graphql, ["app_db", "roster"])
    # Totals as numbers, plotted by the UI; every count per entity in one table.
    assert metadata["changes"]["intValue"] > 0
    assert metadata["active_users"]["intValue"] > 0
    assert metadata["active_enrollments"]["intValue"] > 0
    table = metadata["changes_by_entity"]["table"]
    columns = [column["name"] for column in table["schema"]["columns"]]
    assert columns[:3] == ["entity", "inserted", "updated"]
    rows = {row["entity"]: row for row in map(json.loads, table["records"])}
    assert rows["users"]["inserted"] == metadata["active_users"]["intValue"]  # a first sync
    assert len(metadata) < 20  # the Events table shows each key: no 57 mostly-zero numbers


def test_extract_materializations_carry_the_catalog_row_count_and_its_split(graphql):
    metadata = materialization(graphql, ["oneroster", "users"])
    count = {label: entry.get("intValue") for label, entry in metadata.items()}
    assert count["dagster/row_count"] > 0
    assert count["dagster/row_count"] == count["rows_active"] + count["rows_tobedeleted"]
    assert (
        count["rows_from_provider"]
        == count["dagster/row_count"]
        + count["rows_guardians_dropped"]
        + count["rows_outside_schools"]
    )


def test_the_fresh_check_shows_a_passed_verdict_after_the_sync(graphql):
    executions = graphql(FRESH_QUERY, partition=demo.DEMO_KEY)["assetCheckExecutions"]
    assert executions and executions[0]["partition"] == demo.DEMO_KEY
    assert executions[0]["status"] == "SUCCEEDED"
