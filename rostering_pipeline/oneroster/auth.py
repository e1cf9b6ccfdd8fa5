"""Authentication of data requests: OAuth 2.0 client credentials, or OAuth 1.0a HMAC-SHA256.

Both implement `Authenticator`. The client calls `authorize` on every attempt of every data
request (so an OAuth 1.0a retry gets a fresh nonce and timestamp) and `forget` after a 401, before
its one retry. Secrets live in private attributes and never appear in reprs or messages.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol
from urllib.parse import quote_plus

import httpx
import orjson
from oauthlib import oauth1

from rostering_pipeline.oneroster.errors import CredentialsRejected, ProviderError

# Sends a freshly built request, retrying transient failures; returns any other response.
Exchange = Callable[[Callable[[], httpx.Request]], httpx.Response]


class Authenticator(Protocol):
    token_url: str | None  # an endpoint the client must also hold to the transport rules

    def authorize(self, request: httpx.Request, exchange: Exchange) -> None:
        """Add credentials to `request` (fetching a token through `exchange` when needed)."""

    def forget(self, request: httpx.Request) -> None:
        """`request` was answered 401: drop whatever it carried so the retry re-authenticates."""

    def secrets(self) -> tuple[str, ...]:
        """Strings that must be redacted from anything shown (secret, current token)."""


class OAuth2ClientCredentials:
    """OAuth 2.0 client credentials grant; the token is shared by all threads of a client."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic",
    ):
        if method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError(f"unknown client authentication method {method!r}")
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self.method = method
        self._client_secret = client_secret
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0  # time.monotonic() after which the cached token is not used

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"scope={self.scope!r}, method={self.method!r})"
        )

    def authorize(self, request: httpx.Request, exchange: Exchange) -> None:
        request.headers["Authorization"] = f"Bearer {self._current_token(exchange)}"

    def forget(self, request: httpx.Request) -> None:
        with self._lock:
            # Only the first of several concurrent 401s for the same token triggers a refresh.
            if request.headers.get("Authorization") == f"Bearer {self._token}":
                self._token = None

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._client_secret, self._token) if s)

    def _current_token(self, exchange: Exchange) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._token = None
                token, lifetime = self._fetch_token(exchange)
                # Refresh shortly before expiry: a minute early, or a tenth early for short tokens.
                margin = min(60.0, lifetime / 10) if lifetime is not None else 0.0
                self._refresh_at = (
                    time.monotonic() + lifetime - margin if lifetime is not None else float("inf")
                )
                self._token = token
            return self._token

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.method == "client_secret_post":
            form |= {"client_id": self.client_id, "client_secret": self._client_secret}
            auth_header = {}
        else:
            # RFC 6749 2.3.1: each part form-encoded before Basic, or '+', '%', ':' break it.
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._client_secret)}".encode()
            auth_header = {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return httpx.Request(
            "POST",
            self.token_url,
            data=form,
            headers={"Accept": "application/json", **auth_header},
        )

    def _fetch_token(self, exchange: Exchange) -> tuple[str, float | None]:
        response = exchange(self._token_request)
        body = _json_object(response.content)
        if response.status_code in (400, 401, 403):
            reason = str(body.get("error_description") or body.get("error") or "refused")
            raise CredentialsRejected(
                f"token endpoint rejected client {self.client_id!r}: "
                + reason.replace(self._client_secret, "***"),
                url=self.token_url,
                status=response.status_code,
            )
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise ProviderError(
                "token endpoint did not return an access_token",
                url=self.token_url,
                status=response.status_code,
            )
        return token, _lifetime(body.get("expires_in"))


def _json_object(content: bytes) -> dict:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def _lifetime(expires_in: object) -> float | None:
    """`expires_in` as seconds; providers send it as a number or a string. None: no expiry given."""
    try:
        seconds = float(expires_in)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None


class OAuth1Signature:
    """OAuth 1.0a, HMAC-SHA256, no token (two-legged): every request signed by oauthlib.

    The client sends exactly the URL it passes here: its query is already percent-encoded per
    RFC 3986, so oauthlib's base string and the provider's agree on every parameter.
    """

    token_url = None

    def __init__(self, consumer_key: str, consumer_secret: str):
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret

    def __repr__(self) -> str:
        return f"OAuth1Signature(consumer_key={self.consumer_key!r})"

    def authorize(self, request: httpx.Request, exchange: Exchange) -> None:
        signer = oauth1.Client(
            self.consumer_key,
            client_secret=self._consumer_secret,
            signature_method=oauth1.SIGNATURE_HMAC_SHA256,
        )
        url = str(request.url)
        signed_url, headers, _ = signer.sign(url, http_method=request.method)
        if signed_url != url:  # the provider would verify a different URL than the one signed
            raise ValueError("OAuth 1.0a signing changed the request URL")
        request.headers["Authorization"] = headers["Authorization"]

    def forget(self, request: httpx.Request) -> None:
        """Nothing cached: the retry is signed afresh, with a new nonce and timestamp."""

    def secrets(self) -> tuple[str, ...]:
        return (self._consumer_secret,)
