"""The client against the project's own OneRoster provider, over real HTTP on loopback.

The provider shares no code with the client, so agreement here checks both. Every quirk must
leave the normalized frames exactly as a plain provider's; every fault must either be retried
into the same frames or surface as the documented typed error.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import httpx
import pandas as pd
import pytest

from rostering_pipeline.devserver import (
    DistrictSpec,
    Faults,
    ProviderServer,
    ProviderSettings,
    Quirks,
)
from rostering_pipeline.oneroster.auth import OAuth1Signature, OAuth2ClientCredentials
from rostering_pipeline.oneroster.client import ClientConfig, OneRosterClient, RetryPolicy
from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.oneroster.errors import CredentialsRejected, ProviderError
from rostering_pipeline.oneroster.normalize import to_frame

SPEC = DistrictSpec.sized(students=150, seed=7)
SECRET = "provider-test-secret"
FAST_RETRY = RetryPolicy(
    max_attempts=8, max_elapsed_s=30.0, backoff_initial_s=0.01, backoff_max_s=0.05
)


def client_for(server: ProviderServer, *, auth: str = "oauth2", **config) -> OneRosterClient:
    if auth == "oauth1":
        authenticator = OAuth1Signature(consumer_key="tests", consumer_secret=SECRET)
    else:
        authenticator = OAuth2ClientCredentials(
            token_url=server.token_url, client_id="tests", client_secret=SECRET
        )
    config.setdefault("retry", FAST_RETRY)
    config.setdefault("page_size", 50)
    return OneRosterClient(ClientConfig(base_url=server.base_url, auth=authenticator, **config))


def serve(**settings) -> ProviderServer:
    return ProviderServer(
        ProviderSettings(district=SPEC, client_id="tests", client_secret=SECRET, **settings)
    )


def pull_all(server: ProviderServer, **config) -> dict[str, pd.DataFrame]:
    with client_for(server, **config) as client:
        return {name: client.fetch(entity).frame for name, entity in ENTITIES.items()}


@pytest.fixture(scope="module")
def baseline() -> dict[str, pd.DataFrame]:
    with serve() as server:
        frames = pull_all(server)
        assert {name: len(f) for name, f in frames.items()}["users"] > 150
        return frames


def assert_same_frames(frames: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]):
    for name in ENTITIES:
        pd.testing.assert_frame_equal(
            frames[name].sort_values("sourced_id", ignore_index=True),
            expected[name].sort_values("sourced_id", ignore_index=True),
            obj=name,
        )


def test_pull_matches_the_provider_totals(baseline):
    with serve() as server:
        token = httpx.post(
            server.token_url, data={"grant_type": "client_credentials"}, auth=("tests", SECRET)
        ).json()["access_token"]
        for name, entity in ENTITIES.items():
            response = httpx.get(
                f"{server.api_url}{entity.path}",
                params={"limit": 1},
                headers={"Authorization": f"Bearer {token}"},
            )
            total = int(response.headers["X-Total-Count"])
            if name == "users":  # guardians are left out unless the district opts in
                assert 0 < len(baseline[name]) < total
                assert not baseline[name]["role"].isin(["guardian", "parent", "relative"]).any()
            else:
                assert len(baseline[name]) == total, name
            assert baseline[name]["sourced_id"].is_unique


def test_oauth1_signed_pull_equals_oauth2(baseline):
    with serve(auth="oauth1") as server:
        assert_same_frames(pull_all(server, auth="oauth1"), baseline)


QUIRKS = {
    "students envelope": Quirks(users_envelope="students"),
    "terms envelope": Quirks(sessions_envelope="terms"),
    'booleans as "true"': Quirks(bool_style="lower"),
    'booleans as "True"': Quirks(bool_style="title"),
    "periods as a string": Quirks(periods_as_string=True),
    "relative hrefs": Quirks(relative_href=True),
    "fields rejected": Quirks(reject_fields=True),
    "silent page-size cap": Quirks(page_size_cap=17),
    "no X-Total-Count": Quirks(total_count=False),
    "no Link": Quirks(link_header=False),
    "neither total nor Link": Quirks(total_count=False, link_header=False),
    "HTML error pages": Quirks(html_errors=True),
}


@pytest.mark.parametrize("quirks", QUIRKS.values(), ids=QUIRKS.keys())
def test_each_provider_quirk_normalizes_to_the_same_frames(quirks, baseline):
    with serve(quirks=quirks) as server:
        assert_same_frames(pull_all(server), baseline)


def test_inactive_status_reads_as_tobedeleted():
    with serve() as server:
        server.advance_day()
        plain = pull_all(server)
    with serve(quirks=Quirks(inactive_status=True)) as server:
        server.advance_day()
        quirky = pull_all(server)
    assert (plain["users"]["status"] == "tobedeleted").any()
    assert_same_frames(quirky, plain)


FAULTS = {
    "429 storm": Faults(rate_429=0.3, retry_after="0", seed=1),
    "5xx burst": Faults(rate_5xx=0.3, seed=2),
    "connections reset": Faults(rate_reset=0.2, seed=3),
}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_transient_faults_are_retried_into_the_same_frames(faults, baseline):
    with serve(faults=faults) as server, client_for(server) as client:
        frames = {name: client.fetch(entity) for name, entity in ENTITIES.items()}
    assert sum(result.stats.retries for result in frames.values()) > 0
    assert_same_frames({name: r.frame for name, r in frames.items()}, baseline)


def test_retry_after_is_honoured():
    with serve() as server, client_for(server, page_size=1000) as client:
        server.inject("429", times=1, path="/orgs")
        server.faults = dataclasses.replace(server.faults, retry_after="1")
        started = datetime.now()
        result = client.fetch(ENTITIES["orgs"])
    assert result.stats.retries == 1
    assert (datetime.now() - started).total_seconds() >= 1.0


def test_a_read_timeout_is_retried():
    with serve() as server, client_for(server, timeout=httpx.Timeout(0.5)) as client:
        server.inject("slow", times=1, path="/courses", seconds=2)
        result = client.fetch(ENTITIES["courses"])
    assert result.stats.retries >= 1
    assert len(result.frame) > 0


@pytest.mark.parametrize("kind", ["truncated", "html"])
def test_a_broken_200_body_is_a_provider_error_never_an_empty_roster(kind):
    with serve() as server, client_for(server, page_size=1000) as client:
        server.inject(kind, times=1, path="/users")
        with pytest.raises(ProviderError):
            client.fetch(ENTITIES["users"])


@pytest.mark.parametrize(
    "quirks", [Quirks(duplicate_across_pages=True), Quirks(repeat_first_page=True)]
)
def test_duplicate_or_repeated_pages_fail_loudly(quirks):
    with (
        serve(quirks=quirks) as server,
        client_for(server, page_size=20) as client,
        pytest.raises(ProviderError),
    ):
        client.fetch(ENTITIES["users"])


@pytest.mark.parametrize("paging", ["total", "link", "until_empty"])
def test_a_pull_into_a_sink_hands_over_every_row_and_keeps_none(baseline, paging):
    quirks = {
        "total": Quirks(),
        "link": Quirks(total_count=False),
        "until_empty": Quirks(total_count=False, link_header=False),
    }
    pages = []
    with serve(quirks=quirks[paging]) as server, client_for(server, page_size=40) as client:
        result = client.fetch(ENTITIES["users"], sink=pages.append)
        kept = client.fetch(ENTITIES["users"])

    assert result.tables == () and result.frame.empty  # the sink has them
    assert len(pages) > 2 and result.stats.profile.paging == paging
    sunk = to_frame(ENTITIES["users"], pages)
    assert_same_frames({**baseline, "users": sunk}, baseline)
    assert dataclasses.replace(result.stats, duration_s=0, requests=0) == dataclasses.replace(
        kept.stats, duration_s=0, requests=0
    )


def test_total_an_exact_multiple_of_the_page_size(baseline):
    classes = len(baseline["classes"])
    page = next(size for size in range(7, classes) if classes % size == 0)
    with serve() as server, client_for(server, page_size=page) as client:
        result = client.fetch(ENTITIES["classes"])
    assert result.stats.pages == classes // page
    assert len(result.frame) == classes


def test_an_empty_collection_gives_a_typed_empty_frame():
    with serve() as server, client_for(server) as client:
        result = client.fetch(ENTITIES["users"], modified_since=datetime(2100, 1, 1))
    assert result.frame.empty
    assert result.frame.dtypes.to_dict() == ENTITIES["users"].dtypes()


def test_a_revoked_token_is_cured_by_one_reauthentication():
    with serve() as server, client_for(server) as client:
        client.fetch(ENTITIES["orgs"])
        server.revoke_tokens()
        server.reset_stats()
        result = client.fetch(ENTITIES["orgs"])
    assert len(result.frame) > 0
    assert server.stats.token_requests == 1


def test_rejected_credentials_name_no_secret():
    with serve() as server, client_for(server) as client:
        server.set_credentials(client_id="tests", client_secret="rotated")
        with pytest.raises(CredentialsRejected) as raised:
            client.fetch(ENTITIES["orgs"])
    assert SECRET not in str(raised.value) and SECRET not in repr(raised.value)


def test_a_delta_pull_returns_exactly_the_changed_records():
    with serve() as server, client_for(server) as client:
        changes = server.advance_day()
        modified_at = datetime.fromisoformat(changes.modified_at.replace("Z", "+00:00"))
        delta = client.fetch(ENTITIES["users"], modified_since=modified_at - timedelta(seconds=1))
        full = client.fetch(ENTITIES["users"])
    pulled = set(delta.frame["sourced_id"])
    # every changed user the client keeps (guardians are left out), and nothing else
    assert pulled == changes.changed["users"] & set(full.frame["sourced_id"])
    assert 0 < len(pulled) < len(full.frame)
