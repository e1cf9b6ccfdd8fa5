from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest

from rostering_pipeline.oneroster.auth import OAuth1Signature, OAuth2ClientCredentials
from rostering_pipeline.oneroster.client import (
    ClientConfig,
    encode_query,
    filter_predicate,
    modified_since_filter,
    next_link,
)
from rostering_pipeline.oneroster.errors import (
    AccessDenied,
    CredentialsRejected,
    EndpointNotFound,
    InsecureURL,
    ProviderError,
    ProviderUnreachable,
    safe_url,
)

AUTH = OAuth1Signature("key", "secret")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://127.9.9.9",
        "http://[::1]:9000",
        "http://localhost:1",
        "https://p.test",
    ],
)
def test_https_and_loopback_http_are_accepted(url):
    assert ClientConfig(base_url=url, auth=AUTH).roster_url == url + "/ims/oneroster/v1p1"


@pytest.mark.parametrize("url", ["http://p.test", "http://10.0.0.1", "ftp://p.test", "p.test/x"])
def test_plain_http_to_other_hosts_is_refused(url):
    with pytest.raises(InsecureURL) as caught:
        ClientConfig(base_url=url, auth=AUTH)
    assert caught.value.exit_code == 2


def test_the_token_url_is_held_to_the_same_rule_and_the_flag_allows_both():
    auth = OAuth2ClientCredentials("http://idp.test/token", "id", "secret")
    with pytest.raises(InsecureURL):
        ClientConfig(base_url="https://p.test", auth=auth)
    config = ClientConfig(base_url="http://p.test", auth=auth, allow_insecure_http=True)
    assert config.roster_url == "http://p.test/ims/oneroster/v1p1"


def test_a_base_url_already_ending_with_the_roster_path_is_kept():
    config = ClientConfig(base_url="https://p.test/sis/ims/oneroster/v1p1/", auth=AUTH)
    assert config.roster_url == "https://p.test/sis/ims/oneroster/v1p1"


def test_filter_values_double_their_quotes_and_encode_fully():
    predicate = filter_predicate("familyName", "=", "O'Brien")
    assert predicate == "familyName='O''Brien'"
    query = encode_query([("filter", predicate + " AND status='active'")])
    assert query == "filter=familyName%3D%27O%27%27Brien%27%20AND%20status%3D%27active%27"
    assert parse_qsl(query) == [("filter", "familyName='O''Brien' AND status='active'")]


def test_modified_since_is_utc_with_a_z():
    eastern = timezone(timedelta(hours=-4))
    assert (
        modified_since_filter(datetime(2026, 8, 1, 8, 0, tzinfo=eastern))
        == "dateLastModified>'2026-08-01T12:00:00Z'"
    )
    assert (
        modified_since_filter(datetime(2026, 8, 1, 0, 0, 0, 250000))
        == "dateLastModified>'2026-08-01T00:00:00.250000Z'"
    )
    assert modified_since_filter(datetime(2026, 8, 1, tzinfo=UTC)).endswith("T00:00:00Z'")


@pytest.mark.parametrize(
    "header",
    [
        '<https://p.test/users?offset=10>; rel="next", <https://p.test/u?offset=90>; rel="last"',
        '<https://p.test/users?offset=0>; rel="first",\n<https://p.test/users?offset=10>; rel=next',
        '<https://p.test/users?offset=10>;rel="next last"',
    ],
)
def test_next_link_in_its_spellings(header):
    assert next_link(header) == "https://p.test/users?offset=10"


def test_no_next_link():
    assert next_link('<https://p.test/users?offset=0>; rel="first"') is None
    assert next_link(None) is None


def test_safe_url_drops_credentials():
    url = "https://user:pw@p.test/users?offset=10&access_token=abc&oauth_signature=x%3D&limit=5"
    assert safe_url(url) == "https://p.test/users?offset=10&limit=5"


@pytest.mark.parametrize(
    ("error_type", "exit_code"),
    [
        (CredentialsRejected, 5),
        (AccessDenied, 5),
        (EndpointNotFound, 6),
        (ProviderError, 6),
        (ProviderUnreachable, 6),
    ],
)
def test_errors_map_to_the_cli_exit_codes(error_type, exit_code):
    error = error_type("multi\nline  text", url="https://p.test/x?token=t", status=500)
    assert error.exit_code == exit_code
    assert str(error) == "multi line text (HTTP 500) at https://p.test/x"
