from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.dispatch import (
    DueSync,
    cadence,
    due_syncs,
    fire_times,
    freshness,
    next_runs,
    serving_mode,
)
from rostering_pipeline.districts import District, add_district
from rostering_pipeline.secrets import SecretBox, new_key_entry


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> District:
    """One registered district (defaults of `districts add`); tests vary it with replace()."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dispatch') / 'app.db'}"
    upgrade(url)
    engine = make_engine(url)
    district = add_district(
        engine,
        key="d1",
        name="D1",
        base_url="https://d1.example.org",
        client_id="c",
        token_url="https://d1.example.org/token",
        client_secret="s",
        box=SecretBox.from_env({"ROSTERING_SECRET_KEYS": new_key_entry("k1")}),
    )
    engine.dispose()
    return district


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(end: str, minutes: int = 5) -> tuple[datetime, datetime]:
    return at(end) - timedelta(minutes=minutes), at(end)


@pytest.mark.parametrize("day", ["2026-03-08", "2026-11-01", "2026-07-01"])
def test_a_daily_new_york_schedule_fires_once_on_each_local_day(day):
    midnight = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=4)
    times = list(
        fire_times("0 2 * * *", "America/New_York", midnight, midnight + timedelta(days=1))
    )
    assert len(times) == 1


def test_daylight_saving_fire_times_follow_the_wall_clock():
    def fires(cron: str, day: str) -> list[str]:
        start = at(f"{day}T04:00:00")  # midnight in New York either side of the change
        times = fire_times(cron, "America/New_York", start, start + timedelta(hours=24))
        return [t.strftime("%H:%M") for t in times]

    assert fires("0 2 * * *", "2026-03-08") == ["07:00"]  # 02:00 does not exist: 03:00 EDT
    assert fires("0 2 * * *", "2026-11-01") == ["07:00"]  # 02:00 EST
    assert fires("30 1 * * *", "2026-11-01") == ["05:30"]  # 01:30 twice: the first one only
    assert fires("0 2 * * *", "2026-03-09") == ["06:00"]  # summer time from then on


@pytest.mark.parametrize(
    ("timezone", "due_utc"),
    [
        ("UTC", "2026-05-04T02:00:00"),
        ("America/Los_Angeles", "2026-05-04T09:00:00"),
        ("Europe/Berlin", "2026-05-04T00:00:00"),
        ("Asia/Kolkata", "2026-05-03T20:30:00"),
    ],
)
def test_a_district_is_due_at_02_00_in_its_own_time_zone(base, timezone, due_utc):
    district = dataclasses.replace(base, timezone=timezone)
    due, skipped = due_syncs([district], *window(due_utc))
    assert [(d.district_key, d.mode, d.due_at) for d in due] == [("d1", "full", at(due_utc))]
    assert skipped == {}
    # the ticks before and after see nothing: windows are (previous tick, tick]
    for tick in (at(due_utc) - timedelta(minutes=5), at(due_utc) + timedelta(minutes=5)):
        assert due_syncs([district], tick - timedelta(minutes=5), tick)[0] == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"status": "paused"}, "status paused"),
        ({"status": "purged"}, "status purged"),
        ({"credentials_ok": False}, "credentials rejected"),
        ({"blackout_start": date(2026, 5, 4), "blackout_end": date(2026, 5, 4)}, "blackout"),
    ],
)
def test_districts_that_must_not_run_are_skipped_with_a_reason(base, changes, reason):
    district = dataclasses.replace(base, **changes)
    due, skipped = due_syncs([district], *window("2026-05-04T02:00:00"))
    assert due == []
    assert reason in skipped["d1"]


def test_blackout_is_judged_on_the_district_s_local_day(base):
    # 02:00 in Tokyo on 5 May is 17:00 UTC on 4 May: a blackout of 5 May (local) skips it.
    district = dataclasses.replace(
        base,
        timezone="Asia/Tokyo",
        blackout_start=date(2026, 5, 5),
        blackout_end=date(2026, 5, 5),
    )
    assert due_syncs([district], *window("2026-05-04T17:00:00"))[0] == []
    assert len(due_syncs([district], *window("2026-05-05T17:00:00"))[0]) == 1


def test_untried_credentials_still_run(base):
    district = dataclasses.replace(base, credentials_ok=None)
    assert len(due_syncs([district], *window("2026-05-04T02:00:00"))[0]) == 1


def test_delta_schedule_between_nightly_fulls_and_full_wins_a_shared_tick(base):
    district = dataclasses.replace(base, delta_schedule="0 * * * *")
    (at_two,) = due_syncs([district], *window("2026-05-04T02:00:00"))[0]
    (at_three,) = due_syncs([district], *window("2026-05-04T03:00:00"))[0]
    assert at_two.mode == "full"
    assert at_three.mode == "delta"
    assert at_two.run_key != at_three.run_key


def test_preview_districts_get_preview_runs_and_no_deltas(base):
    district = dataclasses.replace(base, status="preview", delta_schedule="0 * * * *")
    (nightly,) = due_syncs([district], *window("2026-05-04T02:00:00"))[0]
    assert nightly.mode == "preview"
    assert due_syncs([district], *window("2026-05-04T03:00:00"))[0] == []


def test_missed_fire_times_in_a_window_give_one_run_for_the_latest(base):
    district = dataclasses.replace(base, schedule="* * * * *")
    due, _ = due_syncs([district], *window("2026-05-04T02:00:00", minutes=60))
    assert [d.due_at for d in due] == [at("2026-05-04T02:00:00")]
    assert due[0].run_key == "d1/full/2026-05-04T02:00Z"


def test_cadence_is_the_interval_the_schedule_promises():
    now = at("2026-05-06T12:00:00")  # a Wednesday
    assert cadence("0 2 * * *", "UTC", now) == timedelta(days=1)
    assert cadence("0 */4 * * *", "UTC", now) == timedelta(hours=4)
    assert cadence("0 2 * * 1-5", "UTC", at("2026-05-09T12:00:00")) == timedelta(days=3)
    assert cadence("0 2 * * *", "UTC", at("2026-05-06T02:00:00")) == timedelta(days=1)


def test_a_daily_district_is_stale_after_36_hours_without_success(base):
    now = at("2026-05-06T12:00:00")
    fresh = dataclasses.replace(base, last_success_at=now - timedelta(hours=35))
    stale = dataclasses.replace(base, last_success_at=now - timedelta(hours=37))
    assert freshness(fresh, now).stale is False
    verdict = freshness(stale, now)
    assert verdict.stale is True
    assert verdict.allowed == timedelta(hours=36)
    assert verdict.age(now) == timedelta(hours=37)


def test_never_synced_districts_count_from_their_creation(base):
    created = base.created_at
    assert freshness(base, created + timedelta(hours=30)).stale is False
    assert freshness(base, created + timedelta(hours=40)).stale is True


def test_no_freshness_expected_when_paused_preview_or_blacked_out(base):
    now = at("2026-07-06T12:00:00")
    old = now - timedelta(days=30)
    for changes in (
        {"status": "paused"},
        {"status": "preview"},
        {"blackout_start": date(2026, 6, 20), "blackout_end": date(2026, 8, 20)},
    ):
        assert freshness(dataclasses.replace(base, last_success_at=old, **changes), now) is None


def test_the_freshness_clock_restarts_when_a_blackout_ends(base):
    district = dataclasses.replace(
        base,
        last_success_at=at("2026-06-19T02:00:00"),
        blackout_start=date(2026, 6, 20),
        blackout_end=date(2026, 8, 20),
    )
    assert freshness(district, at("2026-08-21T06:00:00")).stale is False
    assert freshness(district, at("2026-08-22T13:00:00")).stale is True


def test_next_runs_are_given_on_the_district_s_clock_past_its_blackout(base):
    chicago = dataclasses.replace(base, timezone="America/Chicago", delta_schedule="0 */4 * * *")
    upcoming = next_runs(chicago, at("2026-12-01T09:00:00"))  # 03:00 in Chicago
    assert upcoming.full.isoformat() == "2026-12-02T02:00:00-06:00"
    assert upcoming.delta.isoformat() == "2026-12-01T04:00:00-06:00"

    winter_break = dataclasses.replace(
        chicago, blackout_start=date(2026, 12, 2), blackout_end=date(2026, 12, 4)
    )
    assert next_runs(winter_break, at("2026-12-01T09:00:00")).full.isoformat() == (
        "2026-12-05T02:00:00-06:00"  # the dispatcher skips the blacked-out days
    )


@pytest.mark.parametrize(
    "changes",
    [{"status": "paused"}, {"status": "purged"}, {"credentials_ok": False}],
)
def test_no_next_run_until_an_operator_acts(base, changes):
    upcoming = next_runs(dataclasses.replace(base, **changes), at("2026-12-01T09:00:00"))
    assert (upcoming.full, upcoming.delta) == (None, None)


def test_a_preview_district_has_a_next_full_run_and_no_delta(base):
    preview = dataclasses.replace(base, status="preview", delta_schedule="0 * * * *")
    upcoming = next_runs(preview, at("2026-12-01T09:00:00"))
    assert upcoming.full is not None and upcoming.delta is None


@pytest.mark.parametrize(
    ("due", "waiting", "serving"),
    [
        ("full", ["full"], "full"),
        ("full", ["delta"], None),  # a delta finds no deactivations
        ("delta", ["delta"], "delta"),
        ("delta", ["delta", "full"], "full"),  # the full pull serves it best
        ("preview", ["full"], None),
        ("preview", ["preview"], "preview"),
        ("full", [], None),
    ],
)
def test_a_queued_run_serves_a_due_run_it_covers(due, waiting, serving):
    sync = DueSync("d1", due, datetime(2026, 5, 4, 6, 0, tzinfo=UTC))
    assert serving_mode(sync, waiting) == serving


def test_a_delta_that_fired_after_the_full_in_the_window_is_due_beside_it(base):
    """A window reaching back over carried-over ticks: the full first, then the later delta."""
    district = dataclasses.replace(base, delta_schedule="0 * * * *")
    due, _ = due_syncs([district], *window("2026-05-04T03:00:00", minutes=90))
    assert [(d.mode, d.due_at) for d in due] == [
        ("full", at("2026-05-04T02:00:00")),
        ("delta", at("2026-05-04T03:00:00")),
    ]
