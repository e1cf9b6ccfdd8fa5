"""Per-district freshness: the `fresh` check of `app_db/roster`, judged by a sensor.

Dagster judges freshness policies per asset, not per partition; this check is per district. A
successful sync reports its verdict in its own run; the sensor requests a run of the check for
each district whose verdict differs from the one last shown (turned stale, or fresh again without
a sync, or never evaluated), so each partition always shows its current verdict. Both are bound
to a run: Dagster 1.13 keeps a single runless evaluation per partition of a check (its unique
index treats every runless evaluation as one run), so a sensor's runless events would fail from
a district's second verdict on. The sensor also raises and resolves the "stale" alert; the
check can be run on demand from the UI for one district.
"""

# No `from __future__ import annotations` here: Dagster reads the check function's annotations.
import json
import warnings
from datetime import UTC, datetime

import dagster as dg

from rostering_pipeline import dispatch
from rostering_pipeline.alerts import Alert, raise_alert, resolve
from rostering_pipeline.appdb.tables import districts
from rostering_pipeline.defs.asset_keys import ROSTER_KEY
from rostering_pipeline.defs.code_references import here
from rostering_pipeline.defs.partitions import district_partitions
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.run_tags import FRESH_CHECK_JOB, PARTITION_TAG
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


def evaluation(district: District, now: datetime) -> dg.AssetCheckEvaluation:
    """The district partition's `fresh` verdict at `now`, as an event the UI shows."""
    return dg.AssetCheckEvaluation(
        asset_key=ROSTER_KEY, check_name=FRESH, partition=district.key, **verdict(district, now)
    )


def report_freshness(context: dg.AssetExecutionContext, district: District) -> None:
    """In a sync's run, once its success is on record: the district's verdict now."""
    context.log_event(evaluation(district, datetime.now(UTC)))


with warnings.catch_warnings():
    # Partitioned checks are a preview feature in Dagster 1.13: keep the warning off every CLI run.
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset_check(
        asset=ROSTER_KEY,
        name=FRESH,
        metadata=here(),
        partitions_def=district_partitions,
        description=(
            "The district had a successful sync within 1.5 cadences of its full schedule "
            "(daily: 36 h). Reported after each successful sync, and by a run the "
            "`district_freshness` sensor requests when a district's verdict changes; runnable "
            "on demand."
        ),
    )
    def fresh(context: dg.AssetCheckExecutionContext, app_db: AppDatabase) -> dg.AssetCheckResult:
        with app_db.engine().connect() as conn:
            district = get_district(conn, context.partition_key)
        return dg.AssetCheckResult(**verdict(district, datetime.now(UTC)))


# The check alone, for one district (its partition in the run's tags): the sensor's job.
fresh_check = dg.define_asset_job(
    name=FRESH_CHECK_JOB,
    selection=dg.AssetSelection.checks(fresh),
    metadata=here(),
    description="The `fresh` check of one district, as the district_freshness sensor requests it.",
)


@dg.sensor(
    name="district_freshness",
    metadata=here(),
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    job=fresh_check,
    description=(
        "Flags (alert 'stale') districts without a recent successful sync, and runs the `fresh` "
        "check of each district whose verdict changed since it was last shown."
    ),
)
def district_freshness(context: dg.SensorEvaluationContext, app_db: AppDatabase) -> dg.SensorResult:
    engine = app_db.engine()
    now = datetime.now(UTC)
    shown: dict[str, bool] = json.loads(context.cursor) if context.cursor else {}
    verdicts: dict[str, bool] = {}  # the cursor: each district's verdict as last requested
    requests = []
    for district in list_districts(engine):
        if district.status == "purged":
            continue
        check = evaluation(district, now)
        if not check.passed:
            # Not if a success was recorded since the district was read: its own resolve has run.
            unchanged = districts.c.last_success_at.is_not_distinct_from(district.last_success_at)
            alert = Alert(district.key, "stale", check.description or "stale")
            raise_alert(engine, alert, only_while=unchanged)
        else:
            resolve(engine, district.key, ("stale",))
        verdicts[district.key] = check.passed
        if shown.get(district.key) != check.passed:
            context.log.info(f"{district.key}: {check.description}")
            # The partition as a tag: Dagster 1.13 cannot validate a partition key for a job of
            # checks alone (it looks for it among the selected assets: none).
            tags = {PARTITION_TAG: district.key, "rostering/trigger": "freshness"}
            requests.append(dg.RunRequest(tags=tags))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(verdicts, sort_keys=True))
