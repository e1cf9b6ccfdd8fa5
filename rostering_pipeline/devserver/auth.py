"""The provider's own auth checks: an OAuth 2.0 client-credentials token endpoint with bearer
tokens, or OAuth 1.0a HMAC-SHA256 request signatures (RFC 5849) verified on every data request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from oauthlib.oauth1.rfc5849 import signature

TIMESTAMP_WINDOW_S = 300
ONEROSTER_SCOPES = frozenset(
    {
        "https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly",
        "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly",
    }
)


@dataclass(frozen=True)
class TokenAnswer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class Credentials:
    """The client id and secret the provider accepts; rotatable while serving."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret=<hidden>)"

    @property
    def secret(self) -> str:
        return self._secret

    def matches(self, client_id: str, client_secret: str) -> bool:
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        return hmac.compare_digest(client_secret.encode(), self._secret.encode()) and id_ok


class TokenIssuer:
    """POST /oauth/token (grant_type=client_credentials) and the bearer check on data requests."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        scope: str | None,
        lifetime_s: int,
        expires_in_as_string: bool,
    ) -> None:
        self.credentials = credentials
        self.scope = scope
        self.lifetime_s = lifetime_s
        self.expires_in_as_string = expires_in_as_string
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._lock = threading.Lock()

    def issue(self, form: Mapping[str, str], authorization: str | None) -> TokenAnswer:
        basic = _basic_credentials(authorization)
        in_body = form.get("client_id"), form.get("client_secret")
        if basic and any(in_body):  # RFC 6749 2.3: one way of authenticating per request
            return _token_error(400, "invalid_request", "client authenticated twice")
        client_id, client_secret = basic or in_body
        if client_id is None or client_secret is None:
            return _token_error(401, "invalid_client", "client credentials missing")
        if not self.credentials.matches(client_id, client_secret):
            return _token_error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "client_credentials":
            return _token_error(400, "unsupported_grant_type", "only client_credentials")
        requested = form.get("scope", "").split()
        if self.scope is not None and self.scope not in requested:
            return _token_error(400, "invalid_scope", f"scope must include {self.scope}")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.lifetime_s
        expires_in: int | str = self.lifetime_s
        body = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": str(expires_in) if self.expires_in_as_string else expires_in,
            "scope": " ".join(requested) if requested else " ".join(sorted(ONEROSTER_SCOPES)),
        }
        return TokenAnswer(200, body, {"Cache-Control": "no-store"})

    def accepts(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        with self._lock:
            expiry = self._tokens.get(token.strip())
        return expiry is not None and expiry > time.monotonic()

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(client_secret)  # RFC 6749 2.3.1 form-encoding


def _token_error(status: int, error: str, description: str) -> TokenAnswer:
    headers = {"WWW-Authenticate": 'Basic realm="oneroster"'} if status == 401 else {}
    return TokenAnswer(status, {"error": error, "error_description": description}, headers)


@dataclass
class _SignedRequest:
    """What oauthlib's verify functions read."""

    uri: str
    http_method: str
    params: list[tuple[str, str]]
    signature: str


class SignatureVerifier:
    """OAuth 1.0a HMAC-SHA256, two-legged (empty token secret): signature over the method, the base
    URL and every query and oauth_ parameter; fresh timestamp; each nonce accepted once."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._nonces: dict[tuple[str, str], int] = {}  # (nonce, timestamp) -> timestamp
        self._lock = threading.Lock()

    def refusal(self, method: str, uri: str, authorization: str | None) -> str | None:
        """Why the request is refused, or None when it is correctly signed."""
        if not authorization or not authorization.lower().startswith("oauth "):
            return "OAuth 1.0a Authorization header missing"
        query = uri.partition("?")[2]
        try:
            params = signature.collect_parameters(
                uri_query=query,
                headers={"Authorization": authorization},
                exclude_oauth_signature=False,
            )
        except ValueError:
            return "malformed OAuth parameters or query string"
        oauth = dict(p for p in params if p[0].startswith("oauth_"))
        if oauth.get("oauth_signature_method") != "HMAC-SHA256":
            return "signature method must be HMAC-SHA256"
        if not hmac.compare_digest(
            oauth.get("oauth_consumer_key", "").encode(), self.credentials.client_id.encode()
        ):
            return "unknown consumer key"
        stamp = oauth.get("oauth_timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TIMESTAMP_WINDOW_S:
            return "timestamp missing or outside the allowed window"
        nonce = oauth.get("oauth_nonce", "")
        if not nonce:
            return "nonce missing"
        request = _SignedRequest(
            uri=uri,
            http_method=method,
            params=[p for p in params if p[0] != "oauth_signature"],
            signature=oauth.get("oauth_signature", ""),
        )
        with self._lock:
            if (nonce, stamp) in self._nonces:
                return "nonce already used"
            if not signature.verify_hmac_sha256(request, self.credentials.secret, ""):
                return "signature does not match"
            self._remember(nonce, stamp)
        return None

    def _remember(self, nonce: str, stamp: str) -> None:
        oldest = int(time.time()) - 2 * TIMESTAMP_WINDOW_S  # older stamps are refused anyway
        if len(self._nonces) > 10_000:
            self._nonces = {k: t for k, t in self._nonces.items() if t >= oldest}
        self._nonces[(nonce, stamp)] = int(stamp)
