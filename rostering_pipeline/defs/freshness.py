"""Per-district freshness: the `fresh` check of `app_db/roster`, judged by a sensor.

Dagster judges freshness policies per asset, not per partition; this check is per district. The
sensor reports it (runless) when a district turns stale or fresh again, and raises a "stale"
alert; the check can also be run on demand from the UI for one district.
"""

# No `from __future__ import annotations` here: Dagster reads the check function's annotations.
import warnings
from datetime import UTC, datetime

import dagster as dg

from rostering_pipeline import dispatch
from rostering_pipeline.alerts import Alert, raise_alert, resolve
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.reconcile import ROSTER_KEY
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.districts import District, get_district, list_districts

FRESH = "fresh"


def verdict(district: District, now: datetime) -> dict:
    """The check's passed flag, description and metadata for the district at `now`."""
    state = dispatch.freshness(district, now)
    if state is None:
        return {
            "passed": True,
            "description": f"no sync expected (status {district.status}, or a blackout today)",
            "metadata": {},
        }
    hours = state.age(now).total_seconds() / 3600
    allowed = state.allowed.total_seconds() / 3600
    description = (
        f"no successful sync for {hours:.1f} h (allowed {allowed:.1f} h)"
        if state.stale
        else f"last success {hours:.1f} h ago (allowed {allowed:.1f} h)"
    )
    return {
        "passed": not state.stale,
        "description": description,
        "metadata": {
            "hours_since_success": dg.MetadataValue.float(round(hours, 2)),
            "allowed_hours": dg.MetadataValue.float(round(allowed, 2)),
        },
    }


with warnings.catch_warnings():
    # Partitioned checks are a preview feature in Dagster 1.13: keep the warning off every CLI run.
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset_check(
        asset=ROSTER_KEY,
        name=FRESH,
        partitions_def=district_partitions,
        description=(
            "The district had a successful sync within 1.5 cadences of its full schedule "
            "(daily: 36 h). Reported by the `district_freshness` sensor; runnable on demand."
        ),
    )
    def fresh(context: dg.AssetCheckExecutionContext, app_db: AppDatabase) -> dg.AssetCheckResult:
        with app_db.engine().connect() as conn:
            district = get_district(conn, context.partition_key)
        return dg.AssetCheckResult(**verdict(district, datetime.now(UTC)))


@dg.sensor(
    name="district_freshness",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Flags (check `fresh`, alert 'stale') districts without a recent successful sync.",
)
def district_freshness(context: dg.SensorEvaluationContext, app_db: AppDatabase) -> dg.SensorResult:
    engine = app_db.engine()
    now = datetime.now(UTC)
    events = []
    for district in list_districts(engine):
        if district.status == "purged":
            continue
        result = verdict(district, now)
        if not result["passed"]:
            alert = Alert(district.key, "stale", result["description"])
            changed = raise_alert(engine, alert)
        else:
            changed = bool(resolve(engine, district.key, ("stale",)))
        if changed:  # only transitions: the event log gets no entry per district per tick
            context.log.info(f"{district.key}: {result['description']}")
            events.append(
                dg.AssetCheckEvaluation(
                    asset_key=ROSTER_KEY, check_name=FRESH, partition=district.key, **result
                )
            )
    return dg.SensorResult(asset_events=events)
