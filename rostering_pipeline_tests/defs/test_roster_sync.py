"""End to end: the local provider over loopback HTTP → Dagster → the app DB, on both databases."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import httpx
import sqlalchemy as sa

from rostering_pipeline.appdb.ledger import latest_verdicts
from rostering_pipeline.appdb.tables import ROSTER_TABLES, sync_runs, user_schools
from rostering_pipeline.devserver import ProviderServer
from rostering_pipeline.districts import get_district
from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import SECRET, active, register


def provider_users(server: ProviderServer) -> list[dict]:
    """The provider's users, read independently of the project's client."""
    token = httpx.post(
        server.token_url, data={"grant_type": "client_credentials"}, auth=("e2e", SECRET)
    ).json()["access_token"]
    response = httpx.get(
        f"{server.base_url}/ims/oneroster/v1p1/users",
        params={"limit": 100000},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.json()["users"]


def test_full_sync_then_next_day(env, provider):
    engine = env
    register(engine, provider)

    first = sync_in_process("d1")
    assert first.success, first.message
    expected_users = [
        u for u in provider_users(provider) if u["role"] not in {"guardian", "parent", "relative"}
    ]
    assert active(engine, ROSTER_TABLES["users"]) == len(expected_users)
    for table in (*ROSTER_TABLES.values(), user_schools):
        assert active(engine, table) > 0, table.name
    assert first.changes["users"]["inserted"] == len(expected_users)
    for name in ENTITIES:
        meta = first.materializations[f"oneroster/{name}"]
        rows = meta["dagster/row_count"]  # the catalog's row count
        assert rows > 0 and meta["pages"] >= 1 and meta["requests"] >= meta["pages"]
        # The split adds up: what the provider sent is what was left out plus what is kept.
        assert meta["rows_from_provider"] == (
            meta["rows_guardians_dropped"] + meta["rows_outside_schools"] + rows
        )
        assert rows == meta["rows_active"] + meta["rows_tobedeleted"]
    users = first.materializations["oneroster/users"]
    assert users["rows_guardians_dropped"] > 0  # the synthetic district has guardians

    with engine.connect() as conn:
        district = get_district(conn, "d1")
        ledger = latest_verdicts(conn, district.id)
        assert district.last_success_at is not None and district.last_error is None
    assert {e.dagster_run_id for e in ledger.values()} == {first.run_id}
    assert all(e.passed for e in ledger.values())
    for entry in ledger.values():
        assert Path(entry.snapshot_location).exists()

    provider.advance_day()
    second = sync_in_process("d1")
    assert second.success, second.message
    changes = second.changes
    assert changes["users"]["inserted"] > 0
    assert changes["users"]["deactivated"] > 0
    assert changes["users"]["updated"] > 0
    roster = second.materializations["app_db/roster"]
    assert roster["changes"] == sum(
        counts[action]
        for counts in changes.values()
        for action in ("inserted", "updated", "deactivated", "reactivated", "teacher_changed")
    )
    assert roster["active_users"] == active(engine, ROSTER_TABLES["users"])
    assert roster["active_enrollments"] == active(engine, ROSTER_TABLES["enrollments"])
    assert roster["active_user_schools"] == active(engine, user_schools)

    with engine.connect() as conn:
        statuses = conn.execute(sa.select(sync_runs.c.status).order_by(sync_runs.c.id)).scalars()
        assert list(statuses) == ["succeeded", "succeeded"]

    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey(["app_db", "roster"]))
    assert event is not None and event.dagster_event.partition == "d1"
    run = instance.get_run_by_id(second.run_id)
    assert run.tags["district"] == "d1"
    assert run.tags["rostering/mode"] == "full"
    assert run.tags["rostering/provider"].endswith("/e2e")


def test_rejected_credentials_fail_with_exit_5_and_flag_the_district(env, provider):
    engine = env
    register(engine, provider)
    provider.set_credentials(client_id="e2e", client_secret="rotated-at-the-provider")

    outcome = sync_in_process("d1")
    assert not outcome.success
    assert outcome.exit_code == 5
    assert SECRET not in outcome.message
    with engine.connect() as conn:
        district = get_district(conn, "d1")
    assert district.credentials_ok is False
    assert district.last_error_kind == "credentials"
    assert active(engine, ROSTER_TABLES["users"]) == 0


def test_roster_reexecuted_over_a_failed_check_applies_nothing(env, provider):
    """The UI's "re-execute app_db/roster" of a run whose users then failed their checks."""
    from rostering_pipeline.appdb.ledger import record_verdict
    from rostering_pipeline_tests.defs.test_one_run_one_roster import reexecute

    engine = env
    register(engine, provider)
    first = sync_in_process("d1")
    assert first.success
    with engine.connect() as conn:
        district = get_district(conn, "d1")
        users = latest_verdicts(conn, district.id)["users"]
    with engine.begin() as conn:  # the run's users verdict, now failed
        record_verdict(
            conn,
            district_id=district.id,
            dagster_run_id=first.run_id,
            entity="users",
            snapshot_location=users.snapshot_location,
            mode="full",
            passed=False,
            quarantined_ids=frozenset(),
            failure_counts={("unique", "sourced_id"): 2},
        )
    before = active(engine, ROSTER_TABLES["users"])
    result = reexecute(first.run_id, dg.ReexecutionOptions(first.run_id, ["app_db__roster"]))
    assert not result.success
    with engine.connect() as conn:
        district = get_district(conn, "d1")
        runs = conn.execute(sa.select(sync_runs.c.status)).scalars().all()
    assert district.last_error_kind == "validation"
    assert district.last_error.startswith("nothing applied; failed checks: users (unique")
    assert runs == ["succeeded"]  # refused before the reconciliation began
    assert active(engine, ROSTER_TABLES["users"]) == before
