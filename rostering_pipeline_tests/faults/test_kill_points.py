"""A sync's run worker killed with SIGKILL inside the reconciliation, at named points: the app DB is
exactly as before (one transaction per district), `rostering-pipeline sync` says what happened
(exit 1) and the next run converges."""

from __future__ import annotations

import dagster as dg

from rostering_pipeline.appdb.reconcile import FAULT_POINTS
from rostering_pipeline.defs.fault_hooks import KILL_AT_VARIABLE
from rostering_pipeline.districts import get_district
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import assert_converged, cli, export, synced

KILL_POINTS = (
    "after_staging",
    "after_users",
    "after_enrollments",
    "after_teacher_of_record",
    "before_commit",
)


def test_kill_points_are_named_points_of_the_reconciliation():
    assert set(KILL_POINTS) <= set(FAULT_POINTS)


def test_a_sync_killed_anywhere_in_the_reconciliation_applies_nothing(env, provider):
    register(env, provider, "d1")
    register(env, provider, "ref")
    synced("d1")
    provider.advance_day()  # every entity has inserts, updates or deactivations to apply
    before = export(env, "d1").applied

    for point in KILL_POINTS:
        killed = cli("sync", "d1", **{KILL_AT_VARIABLE: point})
        assert killed.returncode == 1, (point, killed.stderr[-2000:])
        assert "failed outside its steps" in killed.stderr, killed.stderr
        assert export(env, "d1").applied == before, f"killed {point}: the app DB changed"
        assert "failed outside its steps" in get_district(env, "d1").last_error

    # The code server saw each worker die and marked its run failed: none is left in progress.
    instance = dg.DagsterInstance.get()
    killed_runs = [r for r in instance.get_runs() if r.status != dg.DagsterRunStatus.SUCCESS]
    assert len(killed_runs) == len(KILL_POINTS)
    assert {run.status for run in killed_runs} == {dg.DagsterRunStatus.FAILURE}
    synced("d1")
    assert_converged(env, "d1", "ref")


def test_a_sync_killed_between_extract_and_roster_then_roster_alone(env, provider):
    """Every extract of the killed run passed, but no run of `app_db/roster` alone may apply
    them: its own run pulled nothing. The next full sync converges."""
    from rostering_pipeline.definitions import defs

    register(env, provider, "d1")
    register(env, provider, "ref")
    synced("d1")
    provider.advance_day()
    before = export(env, "d1").applied

    killed = cli("sync", "d1", **{KILL_AT_VARIABLE: "before_roster"})
    assert killed.returncode == 1, killed.stderr[-2000:]
    alone = defs.resolve_job_def("roster_sync").execute_in_process(
        instance=dg.DagsterInstance.get(),
        partition_key="d1",
        asset_selection=[dg.AssetKey(["app_db", "roster"])],
        raise_on_error=False,
    )

    assert not alone.success
    assert export(env, "d1").applied == before
    with env.connect() as conn:
        district = get_district(conn, "d1")
    assert district.last_error.startswith("nothing applied; this run did not pull and validate")
    synced("d1")
    assert_converged(env, "d1", "ref")
