"""A small fleet through the daemon (`make bench-fleet` runs 200 districts): twenty districts on
three providers with two client ids each, in four time zones, all due at the same minute. The
dispatcher launches every district once; the run queue keeps one run per district and at most
the provider limit per client; the schedule and sensors keep ticking.

With faults: one provider is down (its districts fail cleanly and alert once each, the others
finish), one district's secret is refused (its run fails, and ticks after that skip it, though it
is due every minute, until its credentials are fixed; then it runs), and the daemon is killed
outright while the fleet runs and started again (no run lost or doubled: a run it left starting
is failed by run monitoring and retried once)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from benchmarks.fleet import PROVIDER_LIMIT, Fleet, FleetPlan
from benchmarks.process_cpu import POSTGRES, RUN_WORKERS
from rostering_pipeline.alerts import RESOLVED_BY_SUCCESS, open_alerts
from rostering_pipeline.districts import get_district

pytestmark = pytest.mark.slow


def test_a_fleet_due_at_once_runs_every_district_once_within_the_limits_despite_faults(tmp_path):
    plan = FleetPlan(
        districts=20,
        providers=3,
        clients=2,
        students=(60, 240),
        timeout_s=600,
        providers_down=1,
        rejected=1,
        kill_daemon_after_s=8,
        start_timeout_s=60,  # a run the killed daemon left starting is failed, then retried
    )
    with Fleet(plan, tmp_path) as fleet:
        fleet.onboard()
        result = fleet.run()
        (rejected,) = result.rejected
        after_fix = fleet.fix_credentials(result.rejected)
        with fleet.engine.connect() as conn:
            districts = {m.key: get_district(conn, m.key) for m in result.members}
        alerts = {m.key: open_alerts(fleet.engine, m.key) for m in result.members}

    assert not result.failed(), f"runs failed; see {tmp_path / 'daemon.log'}"
    healthy = [m.key for m in result.members if m.key not in {*result.down, rejected}]
    assert result.successes() == Counter(healthy)  # exactly once each: none lost or doubled
    # Any other run is a retry of a run that failed outside its steps (left starting by the
    # killed daemon), once.
    retried = Counter(span.district for span in result.retries())
    assert result.runs_by_district() == Counter(m.key for m in result.members) + retried
    assert max(retried.values(), default=1) == 1
    assert result.unscheduled() == []
    assert {member.timezone for member in result.members} == {
        "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"
    }  # fmt: skip
    assert result.districts_overlapping() == []
    assert not result.samples.overlapping_districts
    # Runs did share the machine, and no client ever had more than its limit.
    assert result.peak_in_progress() > 1
    assert result.peak_per_provider() <= PROVIDER_LIMIT
    assert result.samples.peak_per_provider <= PROVIDER_LIMIT
    assert result.ticks["district_dispatcher"], "the dispatcher never ticked"
    assert result.samples.peak_connections > 0
    assert 0 < result.samples.busy_core_seconds <= result.makespan * (os.cpu_count() or 1)
    # Where the CPU went: every successful run's worker was seen (other tests' may be too; a run
    # the killed daemon left starting had none) and charged, and the processes together were
    # charged no more than the machine was busy.
    assert len(result.samples.workers) >= result.successes().total()
    assert all(life.cpu_s > 0 for life in result.samples.workers)
    assert result.samples.by_kind[RUN_WORKERS] > 0
    assert result.samples.by_kind[POSTGRES] > 0
    assert sum(result.samples.by_kind.values()) <= result.samples.busy_core_seconds * 1.05 + 1

    # The provider down: each of its districts failed once, cleanly, with one alert. The refused
    # district failed in every run queued before its first refusal was known (one, unless the
    # queue was long enough for the next minute's tick to queue another).
    refused = result.runs_by_district()[rejected]
    assert 5 <= len(result.down) < len(result.members) - 1
    assert result.doomed_failed() == Counter({**dict.fromkeys(result.down, 1), rejected: refused})
    for key in result.down:
        assert districts[key].last_error_kind == "provider", districts[key].last_error
        assert set(alerts[key]) == {"failed"}
    # The refused secret: skipped by every later tick until fixed, then run once.
    assert 1 <= refused <= 2
    assert result.launched_after_refusal() == []
    assert districts[rejected].credentials_ok is True  # tried again once fixed, and accepted
    statuses = [span.status for span in sorted(after_fix, key=lambda s: s.start)]
    assert statuses == ["FAILURE"] * refused + ["SUCCESS"]
    # Its failure's alerts are closed by the success. A "stale" alert may stay: on a slow machine
    # the freshness sensor can find the district 1.5 minutes (its cadence) without a success
    # while it waits for its fix, and only that sensor's next tick closes it.
    assert set(alerts[rejected]) <= {"stale"} and "stale" not in RESOLVED_BY_SUCCESS
    assert all(alerts[key] == {} for key in healthy)
