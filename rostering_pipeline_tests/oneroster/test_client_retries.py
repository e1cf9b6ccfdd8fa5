from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from rostering_pipeline.oneroster.client import OneRosterClient, RetryPolicy, retry_after_seconds
from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.oneroster.errors import (
    AccessDenied,
    EndpointNotFound,
    ProviderError,
    ProviderUnreachable,
)
from rostering_pipeline_tests.oneroster.fake_provider import FakeProvider, status_info

USERS = ENTITIES["users"]


def pull(provider: FakeProvider, **config):
    with OneRosterClient(provider.config(**config)) as client:
        return client.fetch(USERS)


def respond(status: int, **kwargs):
    return lambda request: httpx.Response(status, **kwargs)


def fail_with(exception: type[httpx.TransportError]):
    def raise_it(request: httpx.Request) -> httpx.Response:
        raise exception("simulated", request=request)

    return raise_it


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_transient_statuses_are_retried_and_counted(status):
    provider = FakeProvider()
    provider.script.extend([respond(status), respond(status)])
    result = pull(provider)
    assert len(result.frame) == 25
    assert result.stats.retries == 2
    assert result.stats.requests == len(provider.data_requests) + len(provider.token_requests)


@pytest.mark.parametrize(
    "exception", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_timeouts_and_dropped_connections_are_retried(exception):
    provider = FakeProvider()
    provider.script.append(fail_with(exception))
    result = pull(provider)
    assert len(result.frame) == 25
    assert result.stats.retries == 1


def test_spent_retries_on_a_dropped_connection_raise_provider_unreachable():
    provider = FakeProvider()
    provider.script.extend(fail_with(httpx.ConnectTimeout) for _ in range(10))
    with pytest.raises(ProviderUnreachable, match="ConnectTimeout"):
        pull(provider)
    assert len(provider.data_requests) == 4  # FAST_RETRY.max_attempts


def test_spent_retries_on_5xx_raise_provider_error_with_the_description():
    provider = FakeProvider()
    provider.script.extend(respond(503, json=status_info("database offline")) for _ in range(10))
    with pytest.raises(ProviderError, match="database offline") as caught:
        pull(provider)
    assert caught.value.status == 503


def test_total_time_bounds_the_retries():
    provider = FakeProvider()
    provider.script.extend(respond(429, headers={"Retry-After": "5"}) for _ in range(10))
    retry = RetryPolicy(max_attempts=10, max_elapsed_s=2.0)
    started = time.monotonic()
    with pytest.raises(ProviderError):
        pull(provider, retry=retry)
    # Sleeping 5 s would overrun the 2 s budget, so the client gives up without sleeping.
    assert time.monotonic() - started < 1.0
    assert len(provider.data_requests) == 1


def test_retry_after_in_seconds_is_honoured():
    provider = FakeProvider()
    provider.script.append(respond(429, headers={"Retry-After": "1"}))
    started = time.monotonic()
    pull(provider)
    assert time.monotonic() - started >= 1.0


def test_retry_after_as_an_http_date():
    now = datetime(2026, 8, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after_seconds(header, now=now) == 7.0
    assert (
        retry_after_seconds(format_datetime(now - timedelta(seconds=7), usegmt=True), now=now) == 0
    )
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("soon") is None


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(403, AccessDenied), (404, EndpointNotFound), (422, ProviderError)],
)
def test_client_errors_are_not_retried_and_carry_the_description(status, error_type):
    provider = FakeProvider()
    provider.script.append(respond(status, json=status_info("no such collection for you")))
    with pytest.raises(error_type, match="no such collection for you") as caught:
        pull(provider, page_size=1000)
    assert len(provider.data_requests) == 1
    assert caught.value.status == status
    assert "/ims/oneroster/v1p1/users?limit=1000" in str(caught.value)


def test_an_error_without_description_names_the_minor_code_or_reason():
    provider = FakeProvider()
    provider.script.append(respond(404, json=status_info(None, "unknownobject")))
    with pytest.raises(EndpointNotFound, match="unknownobject"):
        pull(provider)
    provider.script.append(respond(404, html="<html>Not here</html>"))
    with pytest.raises(EndpointNotFound, match="Not Found"):
        pull(provider)


def test_rejected_fields_are_dropped_for_the_rest_of_the_pull():
    provider = FakeProvider(reject_fields=True)
    result = pull(provider)
    assert len(result.frame) == 25
    with_fields = [r for r in provider.data_requests if "fields" in r.url.params]
    assert len(with_fields) == 1
    assert len(provider.data_requests) == 4  # the rejected one, then 3 pages without fields


def test_a_400_that_persists_without_fields_is_an_error_and_not_retried():
    provider = FakeProvider()
    provider.script.extend(respond(400, json=status_info("bad filter")) for _ in range(3))
    with pytest.raises(ProviderError, match="bad filter") as caught:
        pull(provider)
    assert caught.value.status == 400
    assert ["fields" in r.url.params for r in provider.data_requests] == [True, False]
