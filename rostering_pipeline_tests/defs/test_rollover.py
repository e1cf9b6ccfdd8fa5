"""School-year rollover, as the README's runbook walks it: the summer feed (classes and
enrollments emptied) is held by the guard, reviewed, approved and applied; the new year's feed
is inserted. Blackout dates keep the schedule out of the summer meanwhile."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from rostering_pipeline.appdb.tables import ROSTER_TABLES
from rostering_pipeline.devserver.records import Table
from rostering_pipeline.dispatch import due_syncs
from rostering_pipeline.districts import get_district, held_syncs, update_district
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import active, register


def summer(district):
    """The provider's feed once the school year has closed: no classes, no enrollments."""
    tables = {**district.tables, "classes": Table([]), "enrollments": Table([])}
    return dataclasses.replace(district, tables=tables, revision=district.revision + 1)


def new_year(district, closed):
    """The next year's feed: new classes (new sourcedIds) and their enrollments."""
    stamp = "2026-08-24T00:00:00.000Z"
    classes = [
        c._replace(sourcedId=f"{c.sourcedId}-y2", dateLastModified=stamp)
        for c in district.tables["classes"].records
    ]
    enrollments = [
        e._replace(sourcedId=f"{e.sourcedId}-y2", class_=f"{e.class_}-y2", dateLastModified=stamp)
        for e in district.tables["enrollments"].records
    ]
    tables = {**closed.tables, "classes": Table(classes), "enrollments": Table(enrollments)}
    return dataclasses.replace(closed, tables=tables, revision=closed.revision + 1)


def test_rollover_walk(env, provider):
    classes, enrollments = ROSTER_TABLES["classes"], ROSTER_TABLES["enrollments"]
    users = ROSTER_TABLES["users"]
    register(env, provider)
    assert sync_in_process("d1").success
    school_year = provider.district
    students = active(env, users)
    year_one_classes = active(env, classes)

    # Summer: the blackout keeps the schedule away.
    update_district(env, "d1", blackout_start=date(2026, 6, 20), blackout_end=date(2026, 8, 20))
    night = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
    due, skipped = due_syncs([get_district(env, "d1")], night.replace(minute=0, hour=1), night)
    assert due == [] and "blackout" in skipped["d1"]

    # The year's-end feed, synced by hand: held, nothing applied.
    provider.provider.district = summer(school_year)
    held = sync_in_process("d1")
    assert held.exit_code == 4
    review = held_syncs(env)["d1"].held
    total = sum(int(entity["would_deactivate"]) for entity in review.values())
    assert set(review) >= {"classes", "enrollments"}
    assert f"--approve-deactivations {total}" in held.message
    assert active(env, classes) == year_one_classes

    # Approved after review with exactly the held total: applied.
    approved = sync_in_process("d1", approve_deactivations=total)
    assert approved.success, approved.message
    assert active(env, classes) == 0 and active(env, enrollments) == 0
    assert active(env, users) == students  # people stay; only their classes closed
    assert "d1" not in held_syncs(env)

    # The new year's feed: inserted by an ordinary full sync, nothing to hold.
    update_district(env, "d1", blackout_start=None, blackout_end=None)
    provider.provider.district = new_year(school_year, provider.district)
    fresh_year = sync_in_process("d1")
    assert fresh_year.success, fresh_year.message
    assert fresh_year.changes["classes"]["inserted"] == year_one_classes
    assert fresh_year.changes["classes"]["deactivated"] == 0
    assert active(env, classes) == year_one_classes
    assert active(env, enrollments) > 0
