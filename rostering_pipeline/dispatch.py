"""When districts are due and when they are stale: cron fire times in each district's time zone.

Plain Python (croniter, zoneinfo); the dispatcher schedule and the freshness sensor are thin glue.
Daylight saving: a wall-clock time skipped by spring-forward fires at the first instant after the
gap (croniter's rule); a wall-clock time repeated by fall-back fires once, at its first instant.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from croniter import croniter

from rostering_pipeline.districts import District

# A district is stale after this many cadences without a successful sync (daily: 36 hours).
STALE_AFTER_CADENCES = 1.5
# The modes of a queued run that serve a due run of each mode: it pulls after the fire time, so
# a second run would fetch the same roster again. A full run serves a delta (it pulls
# everything); a delta never serves a full (it finds no deactivations).
SERVED_BY = {"full": ("full",), "delta": ("full", "delta"), "preview": ("preview",)}


@dataclass(frozen=True)
class DueSync:
    district_key: str
    mode: str  # full | delta | preview
    due_at: datetime  # UTC

    @property
    def run_key(self) -> str:
        """One run per district, mode and due time, however often the window is evaluated."""
        return f"{self.district_key}/{self.mode}/{self.due_at:%Y-%m-%dT%H:%MZ}"


def fire_times(cron: str, timezone: str, start: datetime, end: datetime) -> Iterator[datetime]:
    """The cron's fire times in the half-open window (start, end], in UTC."""
    zone = zoneinfo.ZoneInfo(timezone)
    times = croniter(cron, start.astimezone(zone))
    while (moment := times.get_next(datetime)) <= end:
        if not _second_occurrence(moment, zone):
            yield moment.astimezone(UTC)


def latest_fire_time(cron: str, timezone: str, start: datetime, end: datetime) -> datetime | None:
    """The last fire time in (start, end]: missed fire times inside a window never pile up."""
    latest = None
    for latest in fire_times(cron, timezone, start, end):  # noqa: B007 - the last one is kept
        pass
    return latest


def due_syncs(
    districts: Iterable[District],
    start: datetime,
    end: datetime,
    reported_after: datetime | None = None,
) -> tuple[list[DueSync], dict[str, str]]:
    """Runs due in (start, end], and why districts due in it get none (key -> reason; only
    for those due after `reported_after`, when given).

    A district's full sync comes first; its delta sync is due beside it only if the delta
    schedule fired later in the window (a full run pulls everything: when both fire at once,
    the full wins). Preview districts get preview runs on their full schedule and no deltas.
    """
    due: list[DueSync] = []
    skipped: dict[str, str] = {}
    for district in districts:
        for sync in _due(district, start, end):
            reason = why_not_run(district, local_date(sync.due_at, district.timezone))
            if reason is None:
                due.append(sync)
            elif reported_after is None or sync.due_at > reported_after:
                skipped[district.key] = reason
    return due, skipped


def serving_mode(sync: DueSync, waiting_modes: Iterable[str]) -> str | None:
    """The mode of the district's queued run that will pull for this due run too, if one is
    waiting (`waiting_modes`: the modes of the district's queued runs)."""
    waiting = set(waiting_modes)
    return next((mode for mode in SERVED_BY[sync.mode] if mode in waiting), None)


def why_not_run(district: District, day: date) -> str | None:
    """Why a scheduled run of the district on `day` (its own time zone) is skipped, if it is."""
    reason = why_not_scheduled(district)
    if reason is None and district.in_blackout(day):
        reason = f"blackout {district.blackout_start}..{district.blackout_end}"
    return reason


def why_not_scheduled(district: District) -> str | None:
    """Why the district gets no scheduled run at all until an operator acts, if it does not."""
    if district.status not in ("active", "preview"):
        return f"status {district.status}"
    if district.source == "csv":
        return "CSV district: its runs come from the files it sends"
    if district.credentials_ok is False:
        return "credentials rejected; fix them with `districts set-credentials`"
    return None


def cadence(cron: str, timezone: str, at: datetime) -> timedelta:
    """The interval the schedule promises at `at`: from its latest fire time to the next one."""
    zone = zoneinfo.ZoneInfo(timezone)
    # One second on: a fire time exactly at `at` is the latest one, not the next.
    latest = croniter(cron, (at + timedelta(seconds=1)).astimezone(zone)).get_prev(datetime)
    following = croniter(cron, latest).get_next(datetime)
    return following.astimezone(UTC) - latest.astimezone(UTC)


@dataclass(frozen=True)
class Freshness:
    stale: bool
    since: datetime  # the last success (or what stands in for it: creation, end of blackout)
    allowed: timedelta  # 1.5 cadences

    def age(self, now: datetime) -> timedelta:
        return now - self.since


def freshness(district: District, now: datetime) -> Freshness | None:
    """Whether an active district went 1.5 cadences of its full schedule without a successful
    sync; None when no sync is expected (not active, or in a blackout today)."""
    today = local_date(now, district.timezone)
    if district.status != "active" or district.in_blackout(today):
        return None
    since = district.last_success_at or district.created_at
    if district.blackout_end is not None and district.blackout_end < today:
        # Runs start again the day after a blackout: the clock starts there, not at the last run.
        resumed = datetime.combine(
            district.blackout_end + timedelta(days=1),
            time(),
            tzinfo=zoneinfo.ZoneInfo(district.timezone),
        )
        since = max(since, resumed.astimezone(UTC))
    allowed = STALE_AFTER_CADENCES * cadence(district.schedule, district.timezone, now)
    return Freshness(stale=now - since > allowed, since=since, allowed=allowed)


@dataclass(frozen=True)
class NextRuns:
    """When the dispatcher will next start the district's runs, in its own time zone."""

    full: datetime | None  # None: no scheduled run (status, rejected credentials)
    delta: datetime | None  # None: no delta schedule, or none applies (preview)


def next_runs(district: District, now: datetime, horizon_days: int = 400) -> NextRuns:
    """The next fire times after `now` on which the district really gets a run: days in its
    blackout are passed over (a fire time skipped by the dispatcher is not a next run)."""
    if why_not_scheduled(district) is not None:
        return NextRuns(None, None)  # until an operator acts
    full = _next_run(district, district.schedule, now, horizon_days)
    delta = (
        _next_run(district, district.delta_schedule, now, horizon_days)
        if district.delta_schedule is not None and district.status != "preview"
        else None
    )
    return NextRuns(full, delta)


def _next_run(district: District, cron: str, now: datetime, horizon_days: int) -> datetime | None:
    zone = zoneinfo.ZoneInfo(district.timezone)
    for moment in fire_times(cron, district.timezone, now, now + timedelta(days=horizon_days)):
        if not district.in_blackout(local_date(moment, district.timezone)):
            return moment.astimezone(zone)
    return None


def local_date(moment: datetime, timezone: str) -> date:
    return moment.astimezone(zoneinfo.ZoneInfo(timezone)).date()


def _due(district: District, start: datetime, end: datetime) -> list[DueSync]:
    due = []
    full = latest_fire_time(district.schedule, district.timezone, start, end)
    if full is not None:
        mode = "preview" if district.status == "preview" else "full"
        due.append(DueSync(district.key, mode, full))
    if district.delta_schedule is None or district.status == "preview":
        return due
    delta = latest_fire_time(district.delta_schedule, district.timezone, start, end)
    if delta is not None and (full is None or delta > full):
        due.append(DueSync(district.key, "delta", delta))
    return due


def _second_occurrence(moment: datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """True for the second instant of a wall-clock time that fall-back repeats."""
    first = moment.replace(tzinfo=None).replace(tzinfo=zone, fold=0)
    return first.astimezone(UTC) < moment.astimezone(UTC)
