"""Two districts synced at the same time by two `rostering-pipeline sync` processes, on one
PostgreSQL app DB: each ends exactly as a solo sync of its provider leaves it.

Both providers serve the same synthetic district, so the two hold the same sourced_ids: a
statement missing its district filter would show up as a row of one changed by the other."""

from __future__ import annotations

import dagster as dg
import pytest

from rostering_pipeline import runner
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import (
    CLI_TIMEOUT_S,
    cli_background,
    export,
    serve,
    synced,
)

pytestmark = pytest.mark.postgres


def sync_at_once(*keys: str) -> None:
    processes = [cli_background("sync", key) for key in keys]
    for key, process in zip(keys, processes, strict=True):
        _, stderr = process.communicate(timeout=CLI_TIMEOUT_S)
        assert process.returncode == 0, (key, stderr)
    instance = runner.instance()
    spans = [
        instance.get_run_records(dg.RunsFilter(tags={"district": key}), limit=1)[0] for key in keys
    ]
    # The runs did overlap: each started before the other ended.
    assert max(r.start_time for r in spans) < min(r.end_time for r in spans)


def test_two_districts_synced_at_once_never_touch_each_others_rows(pg_env):
    with serve() as steady, serve() as changing:
        register(pg_env, steady, "d1")
        register(pg_env, changing, "d2")
        register(pg_env, steady, "solo1")
        register(pg_env, changing, "solo2")

        # Dagster's SQLite storage made by two processes at once ends with two Alembic heads and
        # every later run fails: create it first (see the fault suite's report).
        runner.instance()
        sync_at_once("d1", "d2")
        synced("solo1")
        synced("solo2")
        assert export(pg_env, "d1").content() == export(pg_env, "solo1").content()
        assert export(pg_env, "d2").content() == export(pg_env, "solo2").content()

        # d1's provider stays put while d2's changes the same sourced_ids.
        d1_before = export(pg_env, "d1").applied
        changes = changing.advance_day()
        assert changes.changed["users"] and changes.removed["users"]
        sync_at_once("d1", "d2")
        synced("solo2")
        # the mark too: it is the provider's clock, and d1's provider stayed on its day
        assert export(pg_env, "d1").applied == d1_before
        assert export(pg_env, "d2").content() == export(pg_env, "solo2").content()
        assert export(pg_env, "d2").content() != export(pg_env, "d1").content()
