"""Alerts: JSON POSTed to `ROSTERING_ALERT_WEBHOOK_URL`, once per district and kind until recovery.

An alert is open from its first raise until `resolve` (a successful sync; freshness regained).
Raising an open alert again does nothing, except retrying a delivery that failed. Delivery never
raises: a failing endpoint is a logged warning naming the host only (webhook paths hold secrets).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from rostering_pipeline import config
from rostering_pipeline.appdb.tables import alerts, districts

KINDS = ("failed", "held", "credentials", "stale")
RESOLVED_BY_SUCCESS = ("failed", "held", "credentials")  # "stale" is the freshness sensor's
_REASON_CHARS = 300
_TIMEOUT = httpx.Timeout(5.0)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    district: str
    kind: str  # one of KINDS
    reason: str  # safe to send: error lines are counts, ids and commands, never a person's data
    run_id: str | None = None

    @property
    def link(self) -> str:
        """A path of the Dagster UI, to put after its base URL."""
        return f"/runs/{self.run_id}" if self.run_id else "/assets/app_db/roster?view=checks"

    def payload(self) -> dict[str, str | None]:
        return {
            "district": self.district,
            "kind": self.kind,
            "reason": one_line(self.reason),
            "run_id": self.run_id,
            "link": self.link,
        }


def kind_of_failure(failure_kind: str) -> str:
    """The alert kind of a failure kind recorded on a district (outcomes.Outcome.kind)."""
    return failure_kind if failure_kind in ("held", "credentials") else "failed"


def raise_alert(
    engine: sa.Engine, alert: Alert, *, only_while: sa.ColumnElement[bool] | None = None
) -> bool:
    """Open the alert and POST it when the webhook is set; True when this call opened it.

    `only_while`: a condition on the district's row, checked with the row locked in the
    transaction that opens the alert; nothing is opened once it no longer holds (a verdict read
    before a change that the change's own resolve has already answered)."""
    if alert.kind not in KINDS:
        raise ValueError(f"unknown alert kind {alert.kind!r}")
    with engine.begin() as conn:
        district_id, holds = conn.execute(
            sa.select(districts.c.id, sa.true() if only_while is None else only_while)
            .where(districts.c.key == alert.district)
            .with_for_update()
        ).one()
        if not holds:
            return False
        opened = _open(conn, district_id, alert)
        delivered_at = conn.execute(
            sa.select(alerts.c.delivered_at).where(
                alerts.c.district_id == district_id, alerts.c.kind == alert.kind
            )
        ).scalar_one()
    url = config.alert_webhook_url()
    if url is not None and delivered_at is None and _post(url, alert):
        with engine.begin() as conn:
            conn.execute(
                alerts.update()
                .where(alerts.c.district_id == district_id, alerts.c.kind == alert.kind)
                .values(delivered_at=datetime.now(UTC))
            )
    return opened


def resolve(engine: sa.Engine, district_key: str, kinds: tuple[str, ...]) -> list[str]:
    """Close the district's open alerts of these kinds; returns the kinds that were open."""
    in_district = sa.select(districts.c.id).where(districts.c.key == district_key)
    query = (
        alerts.delete()
        .where(alerts.c.district_id.in_(in_district.scalar_subquery()), alerts.c.kind.in_(kinds))
        .returning(alerts.c.kind)
    )
    with engine.begin() as conn:
        return sorted(conn.execute(query).scalars())


def open_alerts(engine: sa.Engine, district_key: str) -> dict[str, sa.Row]:
    """The district's open alerts by kind."""
    query = (
        sa.select(alerts)
        .join(districts, districts.c.id == alerts.c.district_id)
        .where(districts.c.key == district_key)
    )
    with engine.connect() as conn:
        return {row.kind: row for row in conn.execute(query)}


def one_line(text: str) -> str:
    return " ".join(text.split())[:_REASON_CHARS]


def _open(conn: sa.Connection, district_id: int, alert: Alert) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(alerts)
        .values(
            district_id=district_id,
            kind=alert.kind,
            reason=one_line(alert.reason),
            dagster_run_id=alert.run_id,
            opened_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["district_id", "kind"])
        .returning(alerts.c.id)
    )
    return conn.execute(statement).first() is not None


def _post(url: str, alert: Alert) -> bool:
    host = urlsplit(url).hostname or "the alert webhook"
    try:
        response = httpx.post(
            url,
            content=orjson.dumps(alert.payload()),
            headers={"content-type": "application/json"},
            timeout=_TIMEOUT,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # The exception's text may hold the URL: name its type only.
        log.warning(
            "alert %s/%s not delivered to %s: %s; retried at its next raise",
            alert.district,
            alert.kind,
            host,
            type(exc).__name__,
        )
        return False
    if response.is_success:
        return True
    log.warning(
        "alert %s/%s not delivered to %s: HTTP %d; retried at its next raise",
        alert.district,
        alert.kind,
        host,
        response.status_code,
    )
    return False
