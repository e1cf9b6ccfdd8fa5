from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import orjson
import pytest

from rostering_pipeline.oneroster.auth import OAuth1Signature, OAuth2ClientCredentials
from rostering_pipeline.oneroster.client import ClientConfig, OneRosterClient
from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.oneroster.errors import CredentialsRejected
from rostering_pipeline_tests.oneroster.fake_provider import (
    FAST_RETRY,
    SECRET,
    TOKEN_URL,
    FakeProvider,
    status_info,
    user,
)

USERS = ENTITIES["users"]


def fetch_twice(provider: FakeProvider, **config) -> None:
    with OneRosterClient(provider.config(**config)) as client:
        client.fetch(USERS)
        client.fetch(USERS)


# --- OAuth 2.0 client credentials ----------------------------------------------------------


def test_client_secret_basic_with_scope():
    provider = FakeProvider()
    scope = "https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly"
    fetch_twice(provider, auth=OAuth2ClientCredentials(TOKEN_URL, "client-1", SECRET, scope=scope))
    (token_request,) = provider.token_requests  # cached across pages and pulls
    expected = base64.b64encode(f"client-1:{SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {expected}"
    form = dict(parse_qsl(token_request.content.decode()))
    assert form == {"grant_type": "client_credentials", "scope": scope}
    assert all(r.headers["Authorization"] == "Bearer token-1" for r in provider.data_requests)


def test_client_secret_post():
    provider = FakeProvider()
    auth = OAuth2ClientCredentials(TOKEN_URL, "client-1", SECRET, method="client_secret_post")
    fetch_twice(provider, auth=auth)
    (token_request,) = provider.token_requests
    assert "Authorization" not in token_request.headers
    form = dict(parse_qsl(token_request.content.decode()))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": SECRET,
    }


def test_a_token_is_refreshed_before_it_expires_even_with_expires_in_as_a_string():
    provider = FakeProvider(token_lifetime="0.3")
    with OneRosterClient(provider.config()) as client:
        client.fetch(USERS)
        assert len(provider.token_requests) == 1
        time.sleep(0.3)
        client.fetch(USERS)
    assert len(provider.token_requests) == 2
    assert not any(
        r.headers["Authorization"] == "Bearer token-1" for r in provider.data_requests[3:]
    )


def test_a_401_is_cured_by_one_reauthentication():
    provider = FakeProvider()
    with OneRosterClient(provider.config()) as client:
        client.fetch(USERS)
        provider.revoke_tokens()
        result = client.fetch(USERS)
    assert len(result.frame) == 25
    assert len(provider.token_requests) == 2
    assert result.stats.retries == 1  # the re-authenticated request


def test_a_401_that_survives_reauthentication_names_no_secret_or_token():
    provider = FakeProvider()
    provider.script.extend(
        lambda r: httpx.Response(401, json=status_info(f"bad {SECRET}", "unauthorisedrequest"))
        for _ in range(5)
    )
    with pytest.raises(CredentialsRejected) as caught, OneRosterClient(provider.config()) as client:
        client.fetch(USERS)
    message = f"{caught.value} {caught.value!r}"
    assert len(provider.data_requests) == 2
    assert SECRET not in message
    assert all(token not in message for token in provider.issued_tokens)
    assert "/ims/oneroster/v1p1/users" in message
    assert caught.value.exit_code == 5


def test_the_token_endpoint_refusing_the_client_is_credentials_rejected():
    provider = FakeProvider()
    provider.token_script.append(
        lambda r: httpx.Response(
            401, json={"error": "invalid_client", "error_description": f"{SECRET} is wrong"}
        )
    )
    with pytest.raises(CredentialsRejected, match=r"\*\*\* is wrong") as caught:
        fetch_twice(provider)
    assert SECRET not in str(caught.value)
    assert provider.data_requests == []


def test_the_token_endpoint_is_retried_on_transient_failures():
    provider = FakeProvider()
    provider.token_script.append(lambda r: httpx.Response(503))
    fetch_twice(provider)
    assert len(provider.token_requests) == 2


def test_reprs_show_no_secret():
    provider = FakeProvider()
    config = provider.config(auth=OAuth2ClientCredentials(TOKEN_URL, "client-1", SECRET))
    with OneRosterClient(config) as client:
        client.fetch(USERS)
        shown = f"{client!r} {config!r} {config.auth!r} {OAuth1Signature('key', SECRET)!r}"
    assert SECRET not in shown
    assert "token-1" not in shown
    assert "client-1" in shown


# --- OAuth 1.0a HMAC-SHA256, over real HTTP on loopback --------------------------------------


def rfc5849(text: str) -> str:
    return quote(text, safe="-._~")


def expected_signature(method: str, url: str, authorization: str, secret: str) -> str:
    """The RFC 5849 signature recomputed by hand from the request exactly as received."""
    oauth = dict(
        (name.strip(), unquote(value.strip().strip('"')))
        for name, value in (
            part.split("=", 1) for part in authorization.removeprefix("OAuth ").split(",")
        )
    )
    parts = urlsplit(url)
    query = [(unquote(n), unquote(v)) for n, v in (p.split("=", 1) for p in parts.query.split("&"))]
    params = query + [(n, v) for n, v in oauth.items() if n not in ("oauth_signature", "realm")]
    normalized = "&".join(
        f"{n}={v}" for n, v in sorted((rfc5849(n), rfc5849(v)) for n, v in params)
    )
    base_uri = f"{parts.scheme}://{parts.netloc}{parts.path}"
    base = "&".join([method, rfc5849(base_uri), rfc5849(normalized)])
    digest = hmac.new(f"{rfc5849(secret)}&".encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class SigningProvider(BaseHTTPRequestHandler):
    """Answers a users page when the OAuth 1.0a signature over the raw request line is valid."""

    received: list[tuple[str, str]]
    rows = [user(i) for i in range(3)]
    fail_first = 0

    def do_GET(self) -> None:
        host = f"http://{self.headers['Host']}"
        authorization = self.headers.get("Authorization", "")
        self.received.append((self.path, authorization))
        if type(self).fail_first:
            type(self).fail_first -= 1
            self.answer(503, {})
            return
        signature = dict(
            (n.strip(), unquote(v.strip().strip('"')))
            for n, v in (p.split("=", 1) for p in authorization.removeprefix("OAuth ").split(","))
        ).get("oauth_signature")
        valid = signature == expected_signature("GET", host + self.path, authorization, SECRET)
        query = dict(parse_qsl(urlsplit(self.path).query))
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 100))
        page = self.rows[offset : offset + limit]
        self.answer(200 if valid else 401, {"users": page} if valid else {})

    def answer(self, status: int, body: dict) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Total-Count", str(len(self.rows)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def signing_provider() -> Iterator[tuple[str, type[SigningProvider]]]:
    handler = type("Handler", (SigningProvider,), {"received": [], "fail_first": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def oauth1_config(base_url: str, secret: str = SECRET) -> ClientConfig:
    return ClientConfig(
        base_url=base_url, auth=OAuth1Signature("consumer-1", secret), retry=FAST_RETRY
    )


def test_oauth1_signs_every_query_parameter_including_quotes_spaces_and_gt(signing_provider):
    base_url, handler = signing_provider
    since = datetime(2026, 8, 1, 7, 30, tzinfo=UTC)
    with OneRosterClient(oauth1_config(base_url)) as client:
        result = client.fetch(USERS, modified_since=since)
    assert len(result.frame) == 3
    # a filtered pull pages until an empty page: the second request is signed the same way
    (path, authorization), (after, _) = handler.received
    assert dict(parse_qsl(urlsplit(after).query))["offset"] == "3"
    assert 'oauth_signature_method="HMAC-SHA256"' in authorization
    assert 'oauth_consumer_key="consumer-1"' in authorization
    sent = dict(parse_qsl(urlsplit(path).query))
    assert sent["filter"] == "dateLastModified>'2026-08-01T07:30:00Z'"
    assert {"limit", "offset", "sort", "fields", "filter"} <= sent.keys()
    assert "%3E%272026-08-01T07%3A30%3A00Z%27" in path  # '>' and quotes percent-encoded


def test_oauth1_signature_is_checked_by_the_provider(signing_provider):
    base_url, handler = signing_provider
    with (
        pytest.raises(CredentialsRejected),
        OneRosterClient(oauth1_config(base_url, "wrong")) as client,
    ):
        client.fetch(USERS)
    assert len(handler.received) == 2  # one re-signed retry after the 401


def test_oauth1_retries_are_signed_afresh(signing_provider):
    base_url, handler = signing_provider
    handler.fail_first = 1
    with OneRosterClient(oauth1_config(base_url)) as client:
        result = client.fetch(USERS)
    assert result.stats.retries == 1
    nonces = [a.split("oauth_nonce=")[1].split(",")[0] for _, a in handler.received]
    assert len(set(nonces)) == 2
