"""Typed failures of a OneRoster pull.

Each error is also one of the CLI's exit-code errors (`rostering_pipeline.errors`), so the CLI and
the Dagster glue can report it without translating. Messages are one line and carry the URL
without any secret: tokens and signatures travel in headers, and `safe_url` strips credential-like
query parameters a provider may have put into a `Link`.
"""

from __future__ import annotations

import httpx

from rostering_pipeline import errors as exit_errors

_SECRET_PARAMS = frozenset(
    {"access_token", "token", "client_secret", "password", "signature", "sig", "key"}
)


def safe_url(url: httpx.URL | str) -> str:
    """The URL with credential-like query parameters (oauth_*, access_token...) removed."""
    url = httpx.URL(url)
    kept = [
        (name, value)
        for name, value in url.params.multi_items()
        if not name.lower().startswith("oauth_") and name.lower() not in _SECRET_PARAMS
    ]
    return str(url.copy_with(userinfo=b"", params=kept))


class OneRosterError(exit_errors.RosteringError):
    """Base of every client failure; `str()` is one line naming the URL."""

    def __init__(
        self, message: str, *, url: httpx.URL | str | None = None, status: int | None = None
    ):
        self.url = safe_url(url) if url is not None else None
        self.status = status
        detail = " ".join(message.split())  # one line, whatever the provider sent
        parts = [detail]
        if status is not None:
            parts.append(f"(HTTP {status})")
        if self.url is not None:
            parts.append(f"at {self.url}")
        super().__init__(" ".join(parts))


class InsecureURL(OneRosterError, exit_errors.BadInput):
    """A plain http:// URL to a host other than loopback, without allow_insecure_http."""


class CredentialsRejected(OneRosterError, exit_errors.CredentialsRejected):
    """A 401 that survives one re-authentication, or the token endpoint refusing the client."""


class AccessDenied(OneRosterError, exit_errors.CredentialsRejected):
    """403: the credentials are valid but not allowed to read this collection."""


class EndpointNotFound(OneRosterError, exit_errors.ProviderUnavailable):
    """404: wrong base URL, or a collection the provider does not serve."""


class ProviderError(OneRosterError, exit_errors.ProviderUnavailable):
    """The provider answered, but not with a usable roster (see CLIENT_API.md for the cases)."""


class ProviderUnreachable(OneRosterError, exit_errors.ProviderUnavailable):
    """Connect or read timeouts, dropped connections, after the retries."""
