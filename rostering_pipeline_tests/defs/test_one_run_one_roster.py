"""`app_db/roster` applies the six snapshots of its own run (or of the run it re-executes), never
the newest verdict per entity: a set of snapshots is applied only as it was validated together."""

from __future__ import annotations

import dagster as dg

from rostering_pipeline.districts import get_district
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import export, use_client_settings

ROSTER = dg.AssetKey(["app_db", "roster"])
RENAMED = "Renamed After The First Sync"


def roster_sync_job() -> dg.JobDefinition:
    """Module-level, so that `dg.reconstructable` can load the job in a re-execution's process."""
    from rostering_pipeline.definitions import defs

    return defs.resolve_job_def("roster_sync")


def _failing_on_users(engine, provider, monkeypatch) -> str:
    """d1 synced once; then a school renamed at the provider and a run whose users pull fails
    after orgs, sessions, courses and classes were pulled and validated. Returns that run's id."""
    register(engine, provider)
    assert sync_in_process("d1").success
    school = next(r for r in provider.district.tables["orgs"].records if r.type == "school")
    provider.edit("orgs", school.sourcedId, name=RENAMED)
    use_client_settings(monkeypatch, max_attempts=2)
    provider.inject("503", times=2, path="/users")
    failed = sync_in_process("d1")
    assert not failed.success and failed.exit_code == 6, failed.message
    assert "oneroster/orgs" in failed.materializations  # the new orgs did pass
    return failed.run_id


def _school_names(engine) -> set[str]:
    return {row["name"] for row in export(engine, "d1").tables["schools"]}


def reexecute(run_id: str, options: dg.ReexecutionOptions) -> dg.ExecutionResult:
    """As the UI's re-execution does: the parent's tags (its partition) carry over."""
    instance = dg.DagsterInstance.get()
    return dg.execute_job(
        dg.reconstructable(roster_sync_job),
        instance,
        tags=instance.get_run_by_id(run_id).tags,
        reexecution_options=options,
        raise_on_error=False,
    )


def _reexecute_from_failure(run_id: str) -> dg.ExecutionResult:
    return reexecute(run_id, dg.ReexecutionOptions.from_failure(run_id, dg.DagsterInstance.get()))


def test_roster_alone_never_mixes_new_orgs_with_old_users(env, provider, monkeypatch):
    engine = env
    _failing_on_users(engine, provider, monkeypatch)
    before = export(engine, "d1").applied

    result = roster_sync_job().execute_in_process(
        instance=dg.DagsterInstance.get(),
        partition_key="d1",
        asset_selection=[ROSTER],
        raise_on_error=False,
    )

    assert not result.success
    assert export(engine, "d1").applied == before
    assert RENAMED not in _school_names(engine)
    with engine.connect() as conn:
        district = get_district(conn, "d1")
    assert district.last_error_kind == "bad_input"
    assert district.last_error.startswith(
        "nothing applied; this run did not pull and validate: academic_sessions, classes, "
        "courses, enrollments, orgs, users"
    ), district.last_error


def test_reexecution_from_failure_applies_the_root_runs_snapshots_with_its_own(
    env, provider, monkeypatch
):
    engine = env
    failed_run = _failing_on_users(engine, provider, monkeypatch)

    result = _reexecute_from_failure(failed_run)

    assert result.success
    assert RENAMED in _school_names(engine)
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == ROSTER]
    applied = event.step_materialization_data.materialization.metadata["snapshots_of_runs"]
    assert applied.value == f"{failed_run} (orgs, academic_sessions, courses, classes); " + (
        f"{result.run_id} (users, enrollments)"
    )


def test_an_older_set_is_never_applied_over_a_newer_one(env, provider, monkeypatch):
    engine = env
    failed_run = _failing_on_users(engine, provider, monkeypatch)
    newer = sync_in_process("d1")  # pulls everything again, after the failed run's orgs
    assert newer.success, newer.message
    with engine.connect() as conn:
        mark = get_district(conn, "d1").delta_high_water_mark
    before = export(engine, "d1").applied

    result = _reexecute_from_failure(failed_run)

    assert not result.success
    assert export(engine, "d1").applied == before
    with engine.connect() as conn:
        district = get_district(conn, "d1")
    assert district.delta_high_water_mark == mark
    assert district.last_error.startswith(
        f"nothing applied; a roster pulled later was applied by run {newer.run_id}"
    ), district.last_error
