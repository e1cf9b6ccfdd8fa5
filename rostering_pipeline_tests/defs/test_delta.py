"""Delta runs: only records changed since the high-water mark (minus the overlap) are pulled,
and nothing is deactivated because it is absent; the nightly full run does that."""

from __future__ import annotations

from datetime import datetime

from rostering_pipeline.appdb.tables import ROSTER_TABLES
from rostering_pipeline.districts import get_district
from rostering_pipeline.oneroster.profile import DEFAULT_DELTA_OVERLAP as DELTA_OVERLAP
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline_tests.e2e import active, register


def test_delta_pulls_changes_since_the_mark_and_never_deactivates_by_absence(env, provider):
    register(env, provider)
    assert sync_in_process("d1").success
    mark = get_district(env, "d1").delta_high_water_mark
    assert mark is not None

    changes = provider.advance_day()
    users = provider.district.tables["users"].records
    since = mark - DELTA_OVERLAP
    changed = [u for u in users if datetime.fromisoformat(u.dateLastModified) > since]
    removed = sorted(changes.removed["users"])
    assert removed  # leavers taken out of the feed outright, not marked tobedeleted
    assert changed  # the mark is the provider's clock, before the day's changes

    delta = sync_in_process("d1", mode="delta")
    assert delta.success, delta.message
    pulled = delta.materializations["oneroster/users"]
    assert pulled["mode"] == "delta"
    assert pulled["rows_from_provider"] == len(changed) < len(users) // 2
    # the new mark is the provider's clock when the delta's first response arrived
    assert get_district(env, "d1").delta_high_water_mark == provider.provider.clock() > mark
    users_table = ROSTER_TABLES["users"]
    for sourced_id in removed:  # absent from a delta: left as they were
        assert active(env, users_table, sourced_id=sourced_id) == 1

    full = sync_in_process("d1")
    assert full.success, full.message
    for sourced_id in removed:  # the nightly full run deactivates by absence
        assert active(env, users_table, sourced_id=sourced_id) == 0
