"""The reconciliation engine on SQLite and PostgreSQL: semantics, atomicity, guard, preview."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb import stored_rows, tables
from rostering_pipeline.appdb.guard import Guard
from rostering_pipeline.appdb.locks import district_lock
from rostering_pipeline.appdb.reconcile import FAULT_POINTS, reconcile
from rostering_pipeline.errors import BadInput
from rostering_pipeline_tests.appdb.reconcile_support import (
    BACKENDS,
    MODIFIED,
    active_rows,
    add_district,
    dump,
    engine_for,
    enrollment,
    frame,
    roster,
    rows_of,
    sync_runs,
)

T0 = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
NO_GUARD = Guard(max_ratio=1.0, min_rows=10**6)


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    yield from engine_for(request, tmp_path)


@pytest.fixture
def district(engine) -> int:
    return add_district(engine)


def apply(engine, district, frames, mode="full", **options):
    options.setdefault("guard", NO_GUARD)
    return reconcile(engine, district_id=district, frames=frames, mode=mode, **options)


def row(engine, table: sa.Table, sourced_id: str) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.select(table).where(table.c.sourced_id == sourced_id)).mappings().one()
        )


def naive(value: datetime | None) -> datetime | None:
    """SQLite returns timestamps without their zone; compare on the UTC wall clock."""
    return value.replace(tzinfo=None) if value else None


def test_initial_apply_inserts_every_row_and_user_school(engine, district):
    result = apply(engine, district, roster(), now=T0)

    assert result.status == "succeeded"
    assert {name: c["inserted"] for name, c in result.counts.items()} == {
        "orgs": 3,
        "academic_sessions": 1,
        "courses": 1,
        "classes": 2,
        "users": 5,
        "user_schools": 6,
        "enrollments": 6,
    }
    assert set(active_rows(engine, tables.user_schools, district)) == {
        "t1/s1",
        "t1/s2",
        "t2/s1",
        "u1/s1",
        "u2/s1",
        "u3/s2",
    }
    stored = row(engine, tables.users, "u1")
    assert stored["email"] == "u1@example.org" and stored["enabled"] is True
    assert naive(stored["first_seen_at"]) == naive(T0) == naive(stored["updated_at"])
    assert naive(stored["source_modified_at"]) == naive(MODIFIED)
    [run] = sync_runs(engine, district)
    assert run["status"] == "succeeded" and run["id"] == result.sync_run_id
    assert run["counts"]["users"]["inserted"] == 5
    with engine.connect() as conn:
        mark = conn.execute(sa.select(tables.districts.c.delta_high_water_mark)).scalar_one()
    assert naive(mark) == naive(T0)  # no provider clock given: the run's own start


def high_water_mark(engine: sa.Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(sa.select(tables.districts.c.delta_high_water_mark)).scalar_one()


def test_the_high_water_mark_is_the_provider_clock_given_never_a_future_stamp(engine, district):
    frames = roster()
    users = rows_of(frames, "users")
    users[0]["source_modified_at"] = datetime(2099, 1, 1, tzinfo=UTC)  # a misconfigured clock
    frames["users"] = frame("users", users)
    clock = T0 - timedelta(minutes=20)  # the provider's Date when the run's first pull began
    apply(engine, district, frames, now=T0, high_water_mark=clock)
    assert naive(high_water_mark(engine)) == naive(clock)
    assert naive(row(engine, tables.users, users[0]["sourced_id"])["source_modified_at"]) == (
        datetime(2099, 1, 1)
    )


def test_a_set_pulled_before_the_one_applied_is_refused(engine, district):
    """A run that waited behind a newer one never applies its older roster over it."""
    apply(engine, district, roster(), now=T1, high_water_mark=T1, pulled_at=T1)
    renamed = rows_of(roster(), "users")
    renamed[0]["given_name"] = "Older"
    frames = {**roster(), "users": frame("users", renamed)}
    before = dump(engine)

    with pytest.raises(BadInput, match=r"^nothing applied; a roster pulled later was applied"):
        apply(engine, district, frames, now=T1, high_water_mark=T0, pulled_at=T0)

    assert dump(engine) == before
    assert naive(high_water_mark(engine)) == naive(T1)
    applied = apply(engine, district, frames, now=T1, high_water_mark=T1, pulled_at=T1)
    assert applied.counts["users"]["updated"] == 1  # the same pull time is the same set


def test_rerun_with_same_frames_changes_nothing(engine, district):
    apply(engine, district, roster(), now=T0)
    before = dump(engine)

    result = apply(engine, district, roster(), now=T1)

    for name, counts in result.counts.items():
        assert {k: v for k, v in counts.items() if k != "unchanged"} == dict.fromkeys(
            [k for k in counts if k != "unchanged"], 0
        ), name
        assert counts["unchanged"] > 0
    after = dump(engine)
    assert {k: v for k, v in after.items() if k != "districts"} == {
        k: v for k, v in before.items() if k != "districts"
    }
    assert naive(high_water_mark(engine)) == naive(T1)  # the only change: where deltas start


def test_a_full_re_sync_sends_the_database_only_what_changed_or_left(engine, district, monkeypatch):
    """Rows the change hash says are unchanged never reach the staging tables, ids with a comma,
    a quote or a line break included (read back from the database as they were stored, here in
    blocks of a few rows)."""
    monkeypatch.setattr(stored_rows, "_BLOCK_BYTES", 200)
    odd = {"sourced_id": 'u,"4"\nx', "family_name": "Odd"}
    users = [*rows_of(roster(), "users"), odd]
    apply(engine, district, roster(users=users), now=T0)

    unchanged = apply(engine, district, roster(users=users), now=T1)
    assert unchanged.staged == dict.fromkeys(unchanged.counts, 0)
    assert unchanged.counts["users"]["unchanged"] == 6

    users[2]["family_name"] = "Renamed"  # u1
    del users[3]  # u2: gone, with their enrollment e4 and school link
    enrollments = [e for e in rows_of(roster(), "enrollments") if e["user_sourced_id"] != "u2"]
    changed = apply(
        engine, district, roster(users=users, enrollments=enrollments), now=T1 + timedelta(1)
    )
    assert {name: changed.staged[name] for name in ("users", "user_schools", "enrollments")} == {
        "users": 2,  # u1 changed, u2 absent
        "user_schools": 1,  # u2/s1 absent
        "enrollments": 1,  # e4 absent
    }
    assert changed.counts["users"]["updated"] == changed.counts["users"]["deactivated"] == 1
    assert changed.counts["users"]["unchanged"] == 4
    assert changed.counts["enrollments"]["deactivated"] == 1
    assert "u2/s1" not in active_rows(engine, tables.user_schools, district)


def test_update_touches_only_changed_rows(engine, district):
    apply(engine, district, roster(), now=T0)
    users = rows_of(roster(), "users")
    users[2]["family_name"] = "Renamed"  # u1
    users[3]["source_modified_at"] = MODIFIED + timedelta(days=1)  # u2: no tracked change

    result = apply(engine, district, roster(users=users), now=T1)

    assert result.counts["users"]["updated"] == 1
    assert result.counts["users"]["unchanged"] == 4
    assert row(engine, tables.users, "u1")["family_name"] == "Renamed"
    assert naive(row(engine, tables.users, "u1")["updated_at"]) == naive(T1)
    assert naive(row(engine, tables.users, "u2")["updated_at"]) == naive(T0)
    assert naive(row(engine, tables.users, "u1")["first_seen_at"]) == naive(T0)


def test_absent_user_is_deactivated_with_enrollments_and_school_links(engine, district):
    apply(engine, district, roster(), now=T0)
    frames = roster()
    users = [u for u in rows_of(frames, "users") if u["sourced_id"] != "u1"]

    result = apply(engine, district, roster(users=users), now=T1)

    assert result.counts["users"]["deactivated"] == 1
    assert result.counts["enrollments"]["deactivated"] == 1  # e3, still sent: cascaded
    assert result.counts["user_schools"]["deactivated"] == 1
    gone = row(engine, tables.users, "u1")
    assert gone["active"] is False and naive(gone["deactivated_at"]) == naive(T1)
    assert row(engine, tables.enrollments, "e3")["active"] is False
    assert "u1/s1" not in active_rows(engine, tables.user_schools, district)
    assert row(engine, tables.enrollments, "e4")["active"] is True


def test_returning_user_is_reactivated_in_place(engine, district):
    apply(engine, district, roster(), now=T0)
    users = [u for u in rows_of(roster(), "users") if u["sourced_id"] != "u1"]
    apply(engine, district, roster(users=users), now=T1)
    first_id = row(engine, tables.users, "u1")["id"]
    later = T1 + timedelta(days=1)

    result = apply(engine, district, roster(), now=later)

    assert result.counts["users"]["reactivated"] == 1
    assert result.counts["enrollments"]["reactivated"] == 1
    assert result.counts["user_schools"]["reactivated"] == 1
    back = row(engine, tables.users, "u1")
    assert back["id"] == first_id and back["active"] is True and back["deactivated_at"] is None
    assert naive(back["updated_at"]) == naive(later)
    assert row(engine, tables.enrollments, "e3")["active"] is True


def test_removed_school_link_is_deactivated(engine, district):
    apply(engine, district, roster(), now=T0)
    users = rows_of(roster(), "users")
    users[0]["org_sourced_ids"] = '["s2"]'  # t1 leaves s1

    result = apply(engine, district, roster(users=users), now=T1)

    assert result.counts["user_schools"]["deactivated"] == 1
    assert "t1/s1" not in active_rows(engine, tables.user_schools, district)


@pytest.mark.parametrize("status", ["tobedeleted", "inactive"])
def test_tobedeleted_deactivates_in_any_mode(engine, district, status):
    apply(engine, district, roster(), now=T0)
    users = [{**u, "status": status} for u in rows_of(roster(), "users") if u["sourced_id"] == "u2"]

    result = apply(engine, district, roster(users=users), mode="delta", now=T1)

    assert result.counts["users"]["deactivated"] == 1
    assert result.counts["enrollments"]["deactivated"] == 1  # e4, by cascade
    assert row(engine, tables.users, "u2")["active"] is False
    assert row(engine, tables.enrollments, "e4")["active"] is False
    assert len(active_rows(engine, tables.users, district)) == 4


def test_delta_ignores_absence_and_upserts_what_it_carries(engine, district):
    apply(engine, district, roster(), now=T0)
    changed = {**rows_of(roster(), "classes")[0], "title": "Algebra"}

    result = apply(
        engine, district, {"classes": roster(classes=[changed])["classes"]}, mode="delta", now=T1
    )

    assert result.counts["classes"]["updated"] == 1
    assert all(c["deactivated"] == 0 for c in result.counts.values())
    assert row(engine, tables.classes, "k1")["title"] == "Algebra"
    assert len(active_rows(engine, tables.enrollments, district)) == 6


def test_full_mode_needs_every_entity(engine, district):
    frames = roster()
    del frames["enrollments"]
    with pytest.raises(ValueError, match="missing: enrollments"):
        apply(engine, district, frames)
    [run] = sync_runs(engine, district)
    assert run["status"] == "failed" and run["error"].startswith("ValueError: ")


def test_quarantined_rows_stay_as_they_were(engine, district):
    apply(engine, district, roster(), now=T0)
    before = dump(engine)
    users = rows_of(roster(), "users")
    users[2]["family_name"] = "Changed"  # u1: quarantined, change must not land
    users = [u for u in users if u["sourced_id"] != "u2"]  # u2: quarantined and absent
    enrollments = [e for e in rows_of(roster(), "enrollments") if e["sourced_id"] != "e4"]

    result = apply(
        engine,
        district,
        roster(users=users, enrollments=enrollments),
        quarantined={"users": frozenset({"u1", "u2"})},
        dependent_quarantined={"enrollments": frozenset({"e3", "e4"})},
        now=T1,
    )

    assert result.counts["users"]["quarantined"] == 2
    assert result.counts["enrollments"]["dependent_quarantined"] == 2
    assert result.counts["user_schools"]["quarantined"] == 1  # u1's link, u2 was not sent
    assert all(c["deactivated"] == 0 and c["updated"] == 0 for c in result.counts.values())
    assert dump(engine) == {**before, "districts": dump(engine)["districts"]}


def test_districts_are_isolated(engine, district):
    other = add_district(engine, "other")
    apply(engine, other, roster(), now=T0)
    other_before = active_rows(engine, tables.enrollments, other)
    apply(engine, district, roster(), now=T0)
    users = [u for u in rows_of(roster(), "users") if u["sourced_id"] != "u1"]

    apply(engine, district, roster(users=users), now=T1)

    assert active_rows(engine, tables.enrollments, other) == other_before
    assert len(active_rows(engine, tables.users, other)) == 5
    assert len(active_rows(engine, tables.users, district)) == 4


def test_teacher_of_record_prefers_primary_then_lowest_sourced_id(engine, district):
    apply(engine, district, roster(), now=T0)
    assert row(engine, tables.classes, "k1")["teacher_sourced_id"] == "t2"  # primary
    assert row(engine, tables.classes, "k2")["teacher_sourced_id"] == "t1"
    enrollments = [e for e in rows_of(roster(), "enrollments") if e["sourced_id"] != "e2"]
    for entry in enrollments:  # e2, the primary teacher of k1, left; e5 no longer teaches k2
        entry["role"] = "student" if entry["sourced_id"] == "e5" else entry["role"]

    result = apply(engine, district, roster(enrollments=enrollments), now=T1)

    assert result.counts["classes"]["teacher_changed"] == 2
    assert row(engine, tables.classes, "k1")["teacher_sourced_id"] == "t1"
    assert row(engine, tables.classes, "k2")["teacher_sourced_id"] is None
    assert naive(row(engine, tables.classes, "k2")["updated_at"]) == naive(T1)
    enrollments.append(enrollment("e0", "t2", "k2", role="teacher"))
    enrollments.append(enrollment("e9", "t1", "k2", role="teacher"))

    apply(engine, district, roster(enrollments=enrollments), now=T1)

    assert row(engine, tables.classes, "k2")["teacher_sourced_id"] == "t2"  # e0 < e9


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_fault_at_any_point_leaves_database_as_before(engine, district, point):
    apply(engine, district, roster(), now=T0)
    before = dump(engine)
    users = [u for u in rows_of(roster(), "users") if u["sourced_id"] != "u1"]
    frames = roster(users=users, classes=[{"sourced_id": "k1", "title": "New"}])

    def fault(name: str) -> None:
        if name == point:
            raise RuntimeError(f"injected at {name}")

    with pytest.raises(RuntimeError, match="injected"):
        apply(engine, district, frames, now=T1, fault_hook=fault)

    assert dump(engine) == before
    runs = sync_runs(engine, district)
    assert [r["status"] for r in runs] == ["succeeded", "failed"]
    assert runs[-1]["error"] == f"RuntimeError: injected at {point}"
    apply(engine, district, frames, now=T1)  # staging left nothing behind
    assert row(engine, tables.classes, "k1")["title"] == "New"


def test_database_error_is_recorded_without_sql_or_values(engine, district):
    apply(engine, district, roster(), now=T0)
    before = dump(engine)
    frames = roster(classes=[{"sourced_id": None, "title": "Secret title"}])

    with pytest.raises(sa.exc.IntegrityError):
        apply(engine, district, frames, now=T1)

    assert dump(engine) == before
    error = sync_runs(engine, district)[-1]["error"]
    assert error.split(":")[0] in ("IntegrityError", "NotNullViolation")
    assert "INSERT" not in error and "Secret" not in error and "\n" not in error


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_runs_of_one_district_are_serialized(engine, district):
    finished = threading.Event()

    def sync() -> None:
        apply(engine, district, roster(), now=T0)
        finished.set()

    with engine.connect() as holder:
        holder.execute(district_lock(district))
        worker = threading.Thread(target=sync)
        worker.start()
        assert not finished.wait(1.0)  # waits for the district's lock
        holder.rollback()
    worker.join(30)
    assert finished.is_set()


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_the_district_lock_shares_no_key_with_other_advisory_locks(engine, district):
    """Another application in the database locking the number that is this district's id (the
    one-number key space) must not stall its syncs."""
    with engine.connect() as other:
        other.execute(sa.select(sa.func.pg_advisory_xact_lock(district)))
        worker = threading.Thread(target=apply, args=(engine, district, roster()))
        worker.start()
        worker.join(20)
        other.rollback()
    assert not worker.is_alive()


def test_guard_holds_then_approval_applies_and_worse_pull_is_held(engine, district):
    students = [{"sourced_id": f"s{i:03}", "org_sourced_ids": '["s1"]'} for i in range(100)]
    apply(engine, district, roster(users=students), now=T0)
    before = dump(engine)
    guard = Guard(max_ratio=0.10, min_rows=25)

    held = apply(engine, district, roster(users=students[:60]), guard=guard, now=T1)

    assert held.status == "held" and held.held_total == 80  # 40 users + 40 school links
    assert held.held["users"]["would_deactivate"] == 40 and held.held["users"]["active"] == 100
    assert held.held["users"]["sample_ids"] == [f"s{i:03}" for i in range(60, 80)]
    assert dump(engine) == before
    run = sync_runs(engine, district)[-1]
    assert run["status"] == "held" and run["held"]["users"]["would_deactivate"] == 40

    approved = apply(
        engine,
        district,
        roster(users=students[:60]),
        now=T1,
        guard=Guard(max_ratio=0.10, min_rows=25, approved_max=80),
    )
    assert approved.status == "succeeded"
    assert len(active_rows(engine, tables.users, district)) == 60

    worse = apply(
        engine,
        district,
        roster(users=students[:10]),
        now=T1 + timedelta(days=1),
        guard=Guard(max_ratio=0.10, min_rows=25, approved_max=80),
    )
    assert worse.status == "held" and worse.held_total == 100  # 50 users + 50 links
    assert len(active_rows(engine, tables.users, district)) == 60


def test_guard_ignores_small_losses(engine, district):
    apply(engine, district, roster(), now=T0)
    users = [u for u in rows_of(roster(), "users") if u["sourced_id"] not in ("u1", "u2")]

    result = apply(engine, district, roster(users=users), guard=Guard(), now=T1)

    assert result.status == "succeeded"  # 40% of users, but not more than 25 rows


def test_preview_applies_nothing_and_reports_the_diff(engine, district):
    apply(engine, district, roster(), now=T0)
    before = dump(engine)
    users = [u for u in rows_of(roster(), "users") if u["sourced_id"] != "u1"]

    result = apply(
        engine,
        district,
        roster(users=users),
        mode="preview",
        now=T1,
        preview={"schools": ["Org s1"]},
    )

    assert result.status == "preview"
    assert result.counts["users"]["deactivated"] == 1
    assert dump(engine) == before
    run = sync_runs(engine, district)[-1]
    assert run["status"] == "preview" and run["counts"]["enrollments"]["deactivated"] == 1
    assert run["preview"] == '{"schools":["Org s1"]}'


def test_a_sourced_id_whose_case_changed_is_the_same_record(engine, district):
    """`ABC123` -> `abc123` between pulls: same person, same row, new spelling; their school links
    and enrollments follow; never a deactivated row and a new one."""
    apply(engine, district, roster(), now=T0)
    before = row(engine, tables.users, "u1")
    users = rows_of(roster(), "users")
    users[2]["sourced_id"] = "U1"  # u1 re-spelled
    enrollments = rows_of(roster(), "enrollments")
    enrollments[2]["user_sourced_id"] = "U1"
    frames = {**roster(), "users": frame("users", users)}
    frames["enrollments"] = frame("enrollments", enrollments)

    result = apply(engine, district, frames, now=T1)

    assert result.counts["users"]["id_case_changed"] == 1
    assert result.counts["users"]["inserted"] == result.counts["users"]["deactivated"] == 0
    after = row(engine, tables.users, "U1")
    assert after["id"] == before["id"] and after["active"]
    assert naive(after["first_seen_at"]) == naive(T0)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(tables.users.c.sourced_id)).scalars().all()
    assert "u1" not in stored
    assert "U1/s1" in active_rows(engine, tables.user_schools, district)
    assert result.counts["user_schools"]["deactivated"] == 0
    assert row(engine, tables.enrollments, "e3")["user_sourced_id"] == "U1"


def test_an_ambiguous_case_change_is_left_to_the_ordinary_diff(engine, district):
    """Two pulled ids that differ from a stored one only in case: no guessing which is it."""
    users = rows_of(roster(), "users")
    apply(engine, district, {**roster(), "users": frame("users", [*users, {"sourced_id": "ab"}])})
    respelled = [*users, {"sourced_id": "AB"}, {"sourced_id": "Ab"}]
    result = apply(engine, district, {**roster(), "users": frame("users", respelled)}, now=T1)
    assert result.counts["users"]["id_case_changed"] == 0
    assert (result.counts["users"]["inserted"], result.counts["users"]["deactivated"]) == (2, 1)


def test_a_stored_id_carried_unchanged_beside_its_other_case_is_left_alone(engine, district):
    """`ab` pulled as it was beside a new `AB`: two records (the unchanged one is never staged,
    so it must not be taken for one the pull left out)."""
    users = [*rows_of(roster(), "users"), {"sourced_id": "ab"}]
    apply(engine, district, roster(users=users), now=T0)
    result = apply(engine, district, roster(users=[*users, {"sourced_id": "AB"}]), now=T1)
    assert result.counts["users"]["id_case_changed"] == 0
    assert (result.counts["users"]["inserted"], result.counts["users"]["deactivated"]) == (1, 0)
    assert {"ab", "AB"} <= set(active_rows(engine, tables.users, district))


def test_an_inactive_stored_id_returning_in_another_case_is_the_same_record(engine, district):
    users = [*rows_of(roster(), "users"), {"sourced_id": "ab"}]
    apply(engine, district, roster(users=users), now=T0)
    apply(engine, district, roster(), now=T1)  # ab left out: deactivated
    before = row(engine, tables.users, "ab")
    result = apply(
        engine, district, roster(users=[*users[:-1], {"sourced_id": "AB"}]), now=T1 + timedelta(1)
    )
    assert result.counts["users"]["id_case_changed"] == 1
    assert result.counts["users"]["reactivated"] == 1
    assert row(engine, tables.users, "AB")["id"] == before["id"]


def test_a_delta_re_spelling_a_user_carries_into_rows_it_does_not_bring(engine, district):
    """The delta brings the user re-spelled, not their enrollments: those follow the new
    spelling instead of pointing at a user that is gone (which would deactivate them)."""
    apply(engine, district, roster(), now=T0)
    users = [u for u in rows_of(roster(), "users") if u["sourced_id"] == "u1"]
    users[0]["sourced_id"] = "U1"
    result = apply(engine, district, {"users": frame("users", users)}, mode="delta", now=T1)
    assert result.counts["users"]["id_case_changed"] == 1
    enrollment = row(engine, tables.enrollments, "e3")
    assert (enrollment["user_sourced_id"], enrollment["active"]) == ("U1", True)
    assert "U1/s1" in active_rows(engine, tables.user_schools, district)
