"""The embedded instance (the CLI's, the demo's, `make ui`'s): Dagster's SQLite files, read and
written through one engine per file; a home an earlier version wrote is upgraded in place and
keeps its runs."""

from __future__ import annotations

import dagster as dg

from rostering_pipeline import runner
from rostering_pipeline.platform import storage
from rostering_pipeline.platform.launchers import LocalRunLauncher
from rostering_pipeline.platform.storage import (
    EngineReusingSqliteEventLogStorage,
    EngineReusingSqliteRunStorage,
)

EARLIER_HOME = """\
run_coordinator:
  module: rostering_pipeline.platform.coordinators
  class: ImmediateDistrictRunCoordinator
telemetry:
  enabled: false
"""


@dg.asset
def probe() -> int:
    return 1


def test_an_earlier_home_is_upgraded_in_place_and_keeps_its_runs(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    (home / "dagster.yaml").write_text(EARLIER_HOME)
    with dg.DagsterInstance.get() as earlier:  # Dagster's own SQLite storage
        before = dg.materialize([probe], instance=earlier).run_id

    upgraded = runner.instance()

    assert (home / "dagster.yaml").read_text() == runner.EMBEDDED_SETTINGS
    assert isinstance(upgraded.run_storage, EngineReusingSqliteRunStorage)
    assert isinstance(upgraded.event_log_storage, EngineReusingSqliteEventLogStorage)
    assert isinstance(upgraded.run_launcher, LocalRunLauncher)
    # the same files: the earlier run and its events are read back, and a new run is written
    assert upgraded.get_run_by_id(before).status == dg.DagsterRunStatus.SUCCESS
    assert upgraded.fetch_materializations(probe.key, limit=5).records[0].run_id == before
    engines_before = storage._engine.cache_info()
    after = dg.materialize([probe], instance=upgraded).run_id
    records = upgraded.fetch_materializations(probe.key, limit=5).records
    assert [record.run_id for record in records] == [after, before]
    # every statement of that run went through an engine already made for its file
    engines_after = storage._engine.cache_info()
    assert engines_after.misses - engines_before.misses <= 2  # the new run's file, at most
    assert engines_after.hits - engines_before.hits > 20
