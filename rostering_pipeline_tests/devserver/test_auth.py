"""OAuth 2.0 client credentials and OAuth 1.0a HMAC-SHA256, as the provider checks them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import httpx
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_HMAC_SHA256, Client

from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline.devserver.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

SMALL = DistrictSpec.sized(students=200)
SCOPE = "https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly"
GRANT = {"grant_type": "client_credentials"}


def _token(server: ProviderServer, **kwargs) -> httpx.Response:
    return httpx.post(server.token_url, **kwargs)


def _bearer_get(server: ProviderServer, token: str) -> int:
    return httpx.get(
        f"{server.api_url}/orgs", headers={"Authorization": f"Bearer {token}"}
    ).status_code


def test_token_with_basic_and_with_body_credentials(server):
    basic = _token(server, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data=GRANT)
    body = _token(
        server, data={**GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}
    )
    for response in (basic, body):
        assert response.status_code == 200
        assert response.json()["token_type"] == "bearer" and response.json()["expires_in"] == 3600
        assert _bearer_get(server, response.json()["access_token"]) == 200


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"auth": (DEMO_CLIENT_ID, "wrong"), "data": GRANT}, 401, "invalid_client"),
        ({"auth": ("someone-else", DEMO_CLIENT_SECRET), "data": GRANT}, 401, "invalid_client"),
        ({"data": GRANT}, 401, "invalid_client"),
        ({"auth": (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), "data": {"grant_type": "password"}}, 400,
         "unsupported_grant_type"),
        ({"auth": (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
          "data": {**GRANT, "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}}, 400,
         "invalid_request"),
    ],
)  # fmt: skip
def test_token_refusals(server, kwargs, status, error):
    response = _token(server, **kwargs)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert DEMO_CLIENT_SECRET not in response.text


def test_data_requests_need_a_valid_bearer(server):
    assert httpx.get(f"{server.api_url}/orgs").status_code == 401
    response = httpx.get(f"{server.api_url}/orgs", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "unauthorisedrequest" in response.text


def test_revoke_and_rotate(server):
    token = _token(server, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data=GRANT).json()[
        "access_token"
    ]
    server.revoke_tokens()
    assert _bearer_get(server, token) == 401
    server.set_credentials(client_secret="rotated")
    assert _token(server, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data=GRANT).status_code == 401
    assert _token(server, auth=(DEMO_CLIENT_ID, "rotated"), data=GRANT).status_code == 200


@pytest.fixture(scope="module")
def strict() -> Iterator[ProviderServer]:
    settings = ProviderSettings(
        district=SMALL, scope=SCOPE, token_lifetime_s=1, expires_in_as_string=True
    )
    with ProviderServer(settings) as server:
        yield server


def test_scope_is_required_when_configured(strict):
    auth = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    missing = _token(strict, auth=auth, data=GRANT)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_scope")
    granted = _token(strict, auth=auth, data={**GRANT, "scope": SCOPE})
    assert granted.status_code == 200 and granted.json()["scope"] == SCOPE


def test_tokens_expire_and_expires_in_may_be_text(strict):
    answer = _token(
        strict, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data={**GRANT, "scope": SCOPE}
    ).json()
    assert answer["expires_in"] == "1"
    assert _bearer_get(strict, answer["access_token"]) == 200
    time.sleep(1.1)
    assert _bearer_get(strict, answer["access_token"]) == 401


@pytest.fixture(scope="module")
def signed() -> Iterator[ProviderServer]:
    with ProviderServer(ProviderSettings(district=SMALL, auth="oauth1")) as server:
        yield server


def _signed_url(
    server: ProviderServer, params: dict[str, str], **client_kwargs
) -> tuple[str, dict]:
    options = {"client_secret": DEMO_CLIENT_SECRET, "signature_method": SIGNATURE_HMAC_SHA256}
    client = Client(client_kwargs.pop("key", DEMO_CLIENT_ID), **{**options, **client_kwargs})
    url = f"{server.api_url}/users?{urlencode(params, quote_via=quote)}"
    uri, headers, _ = client.sign(url)
    return uri, headers


HARD_PARAMS = {
    "limit": "50",
    "offset": "0",
    "sort": "sourcedId",
    "fields": "sourcedId,familyName,status",
    "filter": "dateLastModified>'2020-01-01T00:00:00Z' AND familyName!='O''Brien'",
}


def test_oauth1_valid_signature_over_every_query_parameter(signed):
    uri, headers = _signed_url(signed, HARD_PARAMS)
    response = httpx.get(uri, headers=headers)
    assert response.status_code == 200, response.text
    rows = response.json()["users"]
    assert len(rows) == 50 and all(r["familyName"] != "O'Brien" for r in rows)


def test_oauth1_tampered_query_is_refused(signed):
    uri, headers = _signed_url(signed, HARD_PARAMS)
    assert httpx.get(uri.replace("limit=50", "limit=51"), headers=headers).status_code == 401


@pytest.mark.parametrize(
    "client_kwargs",
    [
        {"client_secret": "wrong"},
        {"key": "someone-else"},
        {"signature_method": SIGNATURE_HMAC_SHA1},
        {"timestamp": -600},  # seconds from now, taken when the test runs, not when collected
        {"timestamp": +600},
    ],
)
def test_oauth1_refusals(signed, client_kwargs):
    if "timestamp" in client_kwargs:
        client_kwargs = {"timestamp": str(int(time.time()) + client_kwargs["timestamp"])}
    uri, headers = _signed_url(signed, {"limit": "5"}, **client_kwargs)
    response = httpx.get(uri, headers=headers)
    assert response.status_code == 401
    assert "unauthorisedrequest" in response.text


def test_oauth1_reused_nonce_is_refused(signed):
    uri, headers = _signed_url(signed, {"limit": "5"})
    assert httpx.get(uri, headers=headers).status_code == 200
    assert httpx.get(uri, headers=headers).status_code == 401


def test_oauth1_unsigned_and_bearer_requests_are_refused(signed):
    assert httpx.get(f"{signed.api_url}/users").status_code == 401
    assert (
        httpx.get(f"{signed.api_url}/users", headers={"Authorization": "Bearer x"}).status_code
        == 401
    )
