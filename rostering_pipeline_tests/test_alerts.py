from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from rostering_pipeline.alerts import Alert, open_alerts, raise_alert, resolve
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import alerts, districts
from rostering_pipeline.districts import add_district, get_district, record_outcome, remove_district
from rostering_pipeline.secrets import SecretBox, new_key_entry
from rostering_pipeline_tests.alert_receiver import alert_webhook

FAILED = Alert("d1", "failed", "provider kept answering 503\n after 6 attempts", "run-1")


@pytest.fixture
def receiver(monkeypatch):
    with alert_webhook(monkeypatch) as running:
        yield running


@pytest.fixture
def engine(app_db_url):
    upgrade(app_db_url)
    engine = make_engine(app_db_url)
    add_district(
        engine,
        key="d1",
        name="D1",
        base_url="https://d1.example.org",
        client_id="c",
        token_url="https://d1.example.org/token",
        client_secret="s",
        box=SecretBox.from_env({"ROSTERING_SECRET_KEYS": new_key_entry("k1")}),
    )
    yield engine
    engine.dispose()


def test_an_alert_is_posted_once_until_the_district_recovers(engine, receiver):
    assert raise_alert(engine, FAILED) is True
    assert raise_alert(engine, FAILED) is False  # the failure lasts: no repeat
    assert receiver.received == [
        {
            "district": "d1",
            "kind": "failed",
            "reason": "provider kept answering 503 after 6 attempts",
            "run_id": "run-1",
            "link": "/runs/run-1",
        }
    ]
    assert resolve(engine, "d1", ("failed", "held")) == ["failed"]
    assert resolve(engine, "d1", ("failed",)) == []
    assert raise_alert(engine, FAILED) is True  # failing again after the recovery
    assert len(receiver.received) == 2


def test_a_stale_verdict_read_before_a_success_opens_nothing(engine, receiver):
    """The freshness sensor reads a district, then a sync succeeds and resolves its alerts:
    the stale alert from the earlier read must not open after that resolve."""
    with engine.connect() as conn:
        before = get_district(conn, "d1").last_success_at
    unchanged = districts.c.last_success_at.is_not_distinct_from(before)
    stale = Alert("d1", "stale", "no successful sync for 40.0 h")
    record_outcome(engine, "d1", succeeded=True, at=datetime.now(UTC))
    assert raise_alert(engine, stale, only_while=unchanged) is False
    assert open_alerts(engine, "d1") == {} and receiver.received == []
    with engine.connect() as conn:
        now_read = get_district(conn, "d1").last_success_at
    still = districts.c.last_success_at.is_not_distinct_from(now_read)
    assert raise_alert(engine, stale, only_while=still) is True  # read after it: opened


def test_kinds_are_independent(engine, receiver):
    raise_alert(engine, FAILED)
    raise_alert(engine, Alert("d1", "stale", "no successful sync for 40.0 h"))
    resolve(engine, "d1", ("failed",))
    assert set(open_alerts(engine, "d1")) == {"stale"}
    assert [(a["kind"], a["link"]) for a in receiver.received] == [
        ("failed", "/runs/run-1"),
        ("stale", "/assets/app_db/roster?view=checks"),
    ]


def test_a_failing_endpoint_is_a_warning_without_the_secret_and_retried(engine, receiver, caplog):
    receiver.status = 500
    with caplog.at_level(logging.WARNING, logger="rostering_pipeline.alerts"):
        assert raise_alert(engine, FAILED) is True  # no exception
    assert "HTTP 500" in caplog.text and "127.0.0.1" in caplog.text
    assert "T0KEN-SECRET" not in caplog.text
    assert open_alerts(engine, "d1")["failed"].delivered_at is None

    receiver.status = 204
    assert raise_alert(engine, FAILED) is False  # still open: the delivery is retried
    assert raise_alert(engine, FAILED) is False  # and delivered once only
    assert len(receiver.received) == 2  # the refused one, then the one accepted
    assert open_alerts(engine, "d1")["failed"].delivered_at is not None


def test_an_unreachable_endpoint_never_raises(engine, monkeypatch, caplog):
    monkeypatch.setenv("ROSTERING_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hooks/T0KEN-SECRET")
    with caplog.at_level(logging.WARNING, logger="rostering_pipeline.alerts"):
        assert raise_alert(engine, FAILED) is True
    assert "ConnectError" in caplog.text and "T0KEN-SECRET" not in caplog.text


def test_without_a_webhook_alerts_are_only_tracked(engine, monkeypatch):
    monkeypatch.delenv("ROSTERING_ALERT_WEBHOOK_URL", raising=False)
    assert raise_alert(engine, FAILED) is True
    assert open_alerts(engine, "d1")["failed"].reason.startswith("provider kept")


def test_removing_a_district_removes_its_alerts(engine, monkeypatch):
    monkeypatch.delenv("ROSTERING_ALERT_WEBHOOK_URL", raising=False)
    raise_alert(engine, FAILED)
    remove_district(engine, "d1")  # the foreign key cascades
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar_one() == 0
