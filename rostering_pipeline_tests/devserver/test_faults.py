"""Each fault kind, injected once or drawn from the seeded rates."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from rostering_pipeline.devserver import Faults
from rostering_pipeline_tests.polling import until


def _code_minor(response: httpx.Response) -> str:
    info = response.json()["statusInfoSet"][0]
    return info["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_injected_server_errors_then_recovery(server, api, code):
    server.inject(str(code), times=2, path="/users")
    assert api.get("/orgs").status_code == 200  # other paths are not affected
    assert [api.get("/users").status_code for _ in range(3)] == [code, code, 200]
    assert server.stats.by_status == {200: 3, code: 2}  # one 200 is the token


def test_injected_429_carries_retry_after(server, api):
    server.faults = Faults(retry_after="Wed, 21 Oct 2026 07:28:00 GMT")
    server.inject("429")
    response = api.get("/enrollments")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert _code_minor(response) == "server_busy"


def test_injected_reset_drops_the_connection_mid_body(server, api):
    server.inject("reset", path="/users")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/users")
    assert api.get("/users").status_code == 200


def test_injected_truncated_body_is_a_200_that_does_not_parse(server, api):
    server.inject("truncated")
    response = api.get("/users")
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_injected_html_page_with_200(server, api):
    server.inject("html")
    response = api.get("/classes")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text


def test_injected_401_refuses_a_valid_token_once(server, api):
    server.inject("401")
    response = api.get("/users")
    assert response.status_code == 401 and _code_minor(response) == "unauthorisedrequest"
    assert api.get("/users").status_code == 200


def test_injected_slow_response(server, api):
    server.inject("slow", seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        api.get("/users", timeout=0.2)
    started = time.monotonic()
    assert api.get("/users").status_code == 200
    assert time.monotonic() - started < 0.4
    # The timed-out request still completes on the server: let it be counted in this test's
    # stats, not in the next test's (the provider serves the whole module). Three 200s: the
    # token, the request answered at once and the slow one.
    until("the slow request's answer", lambda: server.stats.by_status.get(200, 0) >= 3, 30, 0.05)


def test_unknown_fault_kind_is_refused(server):
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.inject("418")


def test_latency_is_added_to_data_responses(server, api):
    server.faults = Faults(latency_s=0.3)
    started = time.monotonic()
    api.get("/orgs")
    assert time.monotonic() - started >= 0.3


def _statuses(api, n: int) -> list[int]:
    out = []
    for _ in range(n):
        try:
            out.append(api.get("/orgs").status_code)
        except httpx.RemoteProtocolError:
            out.append(-1)
    return out


def test_rates_are_drawn_from_a_seeded_rng(server, api):
    faults = Faults(rate_429=0.2, rate_5xx=0.2, rate_reset=0.1, seed=42)
    server.faults = faults
    first = _statuses(api, 60)
    server.faults = faults  # setting them again restarts the sequence
    assert _statuses(api, 60) == first
    assert {429, 200, -1} <= set(first) and set(first) & {500, 502, 503, 504}
    assert 15 < sum(s != 200 for s in first) < 45


def test_body_fault_rates(server, api):
    server.faults = Faults(rate_truncated=0.5, rate_html=0.5, seed=1)
    kinds = {api.get("/orgs").headers["content-type"].split(";")[0] for _ in range(20)}
    assert kinds == {"application/json", "text/html"}


def test_stats_count_requests(server, api):
    api.get("/orgs")
    api.get("/nope")
    stats = server.stats
    assert (stats.requests, stats.token_requests, stats.data_requests) == (3, 1, 2)
    assert stats.by_status == {200: 2, 404: 1}
    server.reset_stats()
    assert server.stats.requests == 0
