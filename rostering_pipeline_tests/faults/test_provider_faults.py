"""Provider faults during a full Dagster run: absorbed into a correct app DB, or a clean failure
with the documented exit code and the app DB exactly as before; either way the next run converges.

On PostgreSQL only: these faults hit the extraction, which does not depend on the app DB's kind
(the kill points and the bad-input corpus run on both).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson
import pytest
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import sync_runs
from rostering_pipeline.devserver import ProviderServer, Quirks
from rostering_pipeline.runner import SyncOutcome, sync_in_process
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import (
    assert_converged,
    export,
    synced,
    use_client_settings,
)

pytestmark = pytest.mark.postgres


def sync_under_fault(engine: sa.Engine, provider: ProviderServer) -> SyncOutcome:
    """A sync of d1 through the fault arranged by the caller; then the reference district."""
    outcome = sync_in_process("d1")
    assert outcome.success, outcome.message
    assert_converged(engine, "d1", "ref")
    return outcome


@pytest.fixture
def districts(pg_env, provider) -> sa.Engine:
    register(pg_env, provider, "d1")
    register(pg_env, provider, "ref")
    return pg_env


def test_a_429_storm_is_waited_out_as_retry_after_says(districts, provider):
    provider.faults = dataclasses.replace(provider.faults, retry_after="1")
    provider.inject("429", times=3, path="/enrollments")
    started = time.monotonic()
    outcome = sync_under_fault(districts, provider)
    assert outcome.materializations["oneroster/enrollments"]["retries"] >= 3
    assert provider.stats.by_status[429] == 3
    assert time.monotonic() - started >= 3.0  # one second per 429, as asked


def test_a_5xx_burst_is_retried(districts, provider):
    for status in ("500", "502", "503", "504"):
        provider.inject(status, times=1, path="/users")
    outcome = sync_under_fault(districts, provider)
    assert outcome.materializations["oneroster/users"]["retries"] >= 4


def test_responses_slower_than_the_read_timeout_are_retried(districts, provider, monkeypatch):
    use_client_settings(monkeypatch, read_timeout_s=1.0)
    provider.inject("slow", times=2, path="/classes", seconds=3.0)
    outcome = sync_under_fault(districts, provider)
    assert outcome.materializations["oneroster/classes"]["retries"] >= 2


def test_connections_reset_mid_body_are_retried(districts, provider):
    provider.inject("reset", times=3, path="/enrollments")
    outcome = sync_under_fault(districts, provider)
    assert outcome.materializations["oneroster/enrollments"]["retries"] >= 3


@contextmanager
def revoking_tokens_after(provider: ProviderServer, data_requests: int) -> Iterator[None]:
    """Revoke every token once the provider has served `data_requests` data requests."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if provider.stats.data_requests >= data_requests:
                provider.revoke_tokens()
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def test_a_token_revoked_mid_run_is_replaced(pg_env, provider):
    # Pages of 20: about 140 data requests, so the revocation lands mid-pull (users, enrollments).
    register(pg_env, provider, "d1", page_size=20)
    register(pg_env, provider, "ref")
    with revoking_tokens_after(provider, data_requests=35):
        outcome = sync_under_fault(pg_env, provider)
    assert provider.stats.by_status[401] >= 1  # a request did carry the revoked token
    assert sum(meta.get("retries", 0) for meta in outcome.materializations.values()) >= 1


def test_a_silent_page_size_cap_still_pulls_every_row(districts, provider):
    provider.quirks = Quirks(page_size_cap=40)
    outcome = sync_under_fault(districts, provider)
    enrollments = outcome.materializations["oneroster/enrollments"]
    assert enrollments["pages"] >= math.ceil(enrollments["dagster/row_count"] / 40)


def _truncated_json(provider: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    provider.inject("truncated", times=1, path="/courses")


def _5xx_past_the_retries(provider: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_client_settings(monkeypatch, max_attempts=2)
    provider.inject("503", times=2, path="/orgs")


def _slow_past_the_retries(provider: ProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    use_client_settings(monkeypatch, read_timeout_s=0.5, max_attempts=2)
    provider.inject("slow", times=2, path="/orgs", seconds=1.5)


LASTING_FAULTS: dict[str, Callable[[ProviderServer, pytest.MonkeyPatch], None]] = {
    "truncated JSON": _truncated_json,
    "5xx outlasting the retries": _5xx_past_the_retries,
    "slow outlasting the retries": _slow_past_the_retries,
}


@pytest.mark.parametrize("arrange", LASTING_FAULTS.values(), ids=LASTING_FAULTS.keys())
def test_a_lasting_fault_fails_with_exit_6_and_applies_nothing(
    districts, provider, monkeypatch, arrange
):
    synced("d1")
    provider.advance_day()  # the next pull has changes to apply, or to wrongly half-apply
    before = export(districts, "d1").applied

    with monkeypatch.context() as scoped:
        arrange(provider, scoped)
        failed = sync_in_process("d1")
    assert (failed.success, failed.exit_code) == (False, 6), failed.message
    assert export(districts, "d1").applied == before

    provider.provider.fault_plan.clear()
    synced("d1")
    assert_converged(districts, "d1", "ref")


def test_a_provider_sending_30_percent_of_the_students_is_held_with_exit_4(districts, provider):
    synced("d1")
    before = export(districts, "d1").applied
    students = [
        u.sourcedId for u in provider.district.tables["users"].records if u.role == "student"
    ]
    dropped = frozenset(students[: len(students) * 7 // 10])
    provider.tampering.hide("users", dropped)
    provider.tampering.hide(
        "enrollments",
        (e.sourcedId for e in provider.district.tables["enrollments"].records if e.user in dropped),
    )

    held = sync_in_process("d1")
    assert (held.success, held.exit_code) == (False, 4), held.message
    assert export(districts, "d1").applied == before
    with districts.connect() as conn:
        last = conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id.desc())).mappings().first()
    assert last["status"] == "held"
    assert orjson.loads(last["held"])["users"]["would_deactivate"] == len(dropped)

    provider.tampering.clear()  # the provider recovers: the next run applies nothing lost
    synced("d1")
    assert_converged(districts, "d1", "ref")
