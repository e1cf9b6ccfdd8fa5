"""Preview before go-live, cutover, and the deactivation guard, end to end on both databases."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import ROSTER_TABLES, sync_runs
from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline.districts import get_district, set_status, update_district
from rostering_pipeline.errors import BadInput
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET, active, register

USERS = ROSTER_TABLES["users"]


@pytest.fixture
def three_schools():
    spec = DistrictSpec(seed=3, schools=3, students=300)
    with ProviderServer(
        ProviderSettings(district=spec, client_id=CLIENT_ID, client_secret=SECRET)
    ) as server:
        yield server


def sync_runs_of(engine: sa.Engine) -> list[sa.RowMapping]:
    with engine.connect() as conn:
        return conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id)).mappings().all()


def test_preview_applies_nothing_then_activate_applies(env, provider):
    engine = env
    register(engine, provider, status="preview")
    with pytest.raises(BadInput, match="preview"):
        sync_in_process("d1", mode="full")

    outcome = sync_in_process("d1", mode="preview")
    assert outcome.success, outcome.message
    assert active(engine, USERS) == 0
    [run] = sync_runs_of(engine)
    assert run["status"] == "preview"
    report = orjson.loads(run["preview"])
    # users pulled, guardians left out
    teachers = outcome.materializations["oneroster/users"]["dagster/row_count"]
    assert report["schools"] and all(school["name"] for school in report["schools"])
    assert report["teachers"] and all("@" in (t["email"] or "@") for t in report["teachers"])
    students = sum(
        sum(by_grade.values()) for by_grade in report["students_by_school_and_grade"].values()
    )
    assert students > 0
    assert report["changes"]["users"]["inserted"] == teachers
    assert "email" not in str(outcome.materializations)  # no personal data in Dagster metadata

    set_status(engine, "d1", "active")
    applied = sync_in_process("d1", mode="full")
    assert applied.success, applied.message
    assert active(engine, USERS) == report["changes"]["users"]["inserted"]


def test_guard_holds_then_an_approval_applies(env, three_schools):
    engine = env
    register(engine, three_schools)
    assert sync_in_process("d1").success
    users_before = active(engine, USERS)
    with engine.connect() as conn:
        schools = (
            conn.execute(
                sa.select(ROSTER_TABLES["orgs"].c.sourced_id).where(
                    ROSTER_TABLES["orgs"].c.org_type == "school"
                )
            )
            .scalars()
            .all()
        )
    update_district(engine, "d1", school_allow_list=tuple(sorted(schools)[:1]))

    held = sync_in_process("d1")
    assert not held.success
    assert held.exit_code == 4
    assert "--approve-deactivations" in held.message
    assert active(engine, USERS) == users_before
    last = sync_runs_of(engine)[-1]
    assert last["status"] == "held"
    details = orjson.loads(last["held"])
    total = sum(entry["would_deactivate"] for entry in details.values())
    assert details["users"]["sample_ids"]
    with engine.connect() as conn:
        assert get_district(conn, "d1").last_error_kind == "held"

    again = sync_in_process("d1", approve_deactivations=total - 1)
    assert again.exit_code == 4
    assert active(engine, USERS) == users_before

    approved = sync_in_process("d1", approve_deactivations=total)
    assert approved.success, approved.message
    assert active(engine, USERS) == users_before - details["users"]["would_deactivate"]
    assert sync_runs_of(engine)[-1]["approved_max"] == total


def test_a_preview_of_an_active_district_is_no_success_on_it(env, provider):
    """Its roster was not refreshed: last_success_at must keep telling how stale it is."""
    register(env, provider)
    assert sync_in_process("d1").success
    synced_at = get_district(env, "d1").last_success_at
    preview = sync_in_process("d1", mode="preview")
    assert preview.success, preview.message
    district = get_district(env, "d1")
    assert district.last_success_at == synced_at
    assert district.credentials_ok is True
