"""A small fleet through the daemon (`make bench-fleet` runs 200 districts): twenty districts on
two providers with two client ids each, in four time zones, all due at the same minute. The
dispatcher launches every district once; the run queue keeps one run per district and at most
the provider limit per client; every run succeeds; the schedule and sensors keep ticking."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.fleet import PROVIDER_LIMIT, Fleet, FleetPlan

pytestmark = pytest.mark.slow


def test_a_fleet_due_at_once_runs_every_district_once_within_the_limits(tmp_path):
    plan = FleetPlan(districts=20, providers=2, clients=2, students=(60, 240), timeout_s=600)
    with Fleet(plan, tmp_path) as fleet:
        fleet.onboard()
        result = fleet.run()

    assert not result.failed(), f"runs failed; see {tmp_path / 'daemon.log'}"
    assert result.runs_by_district() == Counter({member.key: 1 for member in result.members})
    assert result.unscheduled() == []
    assert {member.timezone for member in result.members} == {
        "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
    }  # fmt: skip
    assert result.districts_overlapping() == []
    assert not result.samples.overlapping_districts
    # Runs did share the machine, and no client ever had more than its limit.
    assert result.samples.peak_in_progress > 1
    assert result.peak_per_provider() <= PROVIDER_LIMIT
    assert result.samples.peak_per_provider <= PROVIDER_LIMIT
    assert result.ticks["district_dispatcher"], "the dispatcher never ticked"
    assert result.samples.peak_connections > 0
