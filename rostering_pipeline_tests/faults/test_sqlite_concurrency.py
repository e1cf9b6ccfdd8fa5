"""The embedded SQLite app DB with several districts syncing at once, as every district's default
02:00 schedule makes them: four `rostering-pipeline sync` processes started at the same moment,
one of them holding its reconciliation's write lock for seconds (as a large district does). Every
sync succeeds, and each district ends as a solo sync of the same provider leaves it."""

from __future__ import annotations

import dagster as dg

from rostering_pipeline import runner
from rostering_pipeline.defs.fault_hooks import STALL_AT_VARIABLE
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import (
    CLI_TIMEOUT_S,
    cli_background,
    export,
    serve,
    synced,
)

DISTRICTS = ("d1", "d2", "d3", "d4")
# Longer than Python's default busy timeout (5 s), which is what used to fail the others.
STALL = "before_commit:20"


def test_four_districts_synced_at_once_on_sqlite(sqlite_env):
    with serve() as provider:
        register(sqlite_env, provider, "d1")
        for key in (*DISTRICTS[1:], "solo"):  # small pages: still pulling while d1 applies
            register(sqlite_env, provider, key, page_size=25)
        runner.instance()  # the embedded Dagster home exists before four processes open it

        processes = {
            key: cli_background("sync", key, **({STALL_AT_VARIABLE: STALL} if key == "d1" else {}))
            for key in DISTRICTS
        }
        for key, process in processes.items():
            _, stderr = process.communicate(timeout=CLI_TIMEOUT_S)
            assert process.returncode == 0, (key, stderr[-2000:])

        synced("solo")
    instance = dg.DagsterInstance.get()
    runs = [
        instance.get_run_records(dg.RunsFilter(tags={"district": key}), limit=1)[0]
        for key in DISTRICTS
    ]
    assert max(r.start_time for r in runs) < min(r.end_time for r in runs)  # all at once
    solo = export(sqlite_env, "solo").content()
    for key in DISTRICTS:
        assert export(sqlite_env, key).content() == solo, key
