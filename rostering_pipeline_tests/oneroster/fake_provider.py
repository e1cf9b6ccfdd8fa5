"""A scriptable in-process OneRoster provider for httpx.MockTransport (paging and fault edges).

End-to-end behaviour against the real local provider (`rostering_pipeline.devserver`) is tested
elsewhere; this fake makes single edge cases exact and cheap: one response out of place, a
header missing, a request counted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from rostering_pipeline.oneroster.auth import OAuth2ClientCredentials
from rostering_pipeline.oneroster.client import ClientConfig, RetryPolicy

BASE_URL = "https://provider.test"
ROSTER = f"{BASE_URL}/ims/oneroster/v1p1"
TOKEN_URL = f"{BASE_URL}/oauth/token"
SECRET = "s3cr3t-value"
FAST_RETRY = RetryPolicy(
    max_attempts=4, max_elapsed_s=10.0, backoff_initial_s=0.01, backoff_max_s=0.05
)

Script = Callable[[httpx.Request], httpx.Response]


def user(i: int, **extra: object) -> dict:
    return {
        "sourcedId": f"u{i:05d}",
        "status": "active",
        "dateLastModified": "2026-08-01T00:00:00Z",
        "role": "student",
        "givenName": f"Given{i}",
        **extra,
    }


def status_info(description: str | None = None, code: str = "unknownobject") -> dict:
    info: dict = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": code}
            ]
        },
    }
    if description is not None:
        info["imsx_description"] = description
    return {"statusInfoSet": [info]}


@dataclass
class FakeProvider:
    rows: list[dict] = field(default_factory=lambda: [user(i) for i in range(25)])
    envelope: str = "users"
    page_cap: int | None = None  # silently caps `limit`
    total_count: bool = True
    link_header: bool = False
    reject_fields: bool = False
    latency_s: float = 0.0
    token_lifetime: object = 3600
    # Responses that replace the next data responses, in order (faults, odd bodies).
    script: deque[Script] = field(default_factory=deque)
    token_script: deque[Script] = field(default_factory=deque)  # the same, for token requests
    data_requests: list[httpx.Request] = field(default_factory=list)
    token_requests: list[httpx.Request] = field(default_factory=list)
    issued_tokens: list[str] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def config(self, **overrides: object) -> ClientConfig:
        settings: dict = {
            "base_url": BASE_URL,
            "auth": OAuth2ClientCredentials(TOKEN_URL, "client-1", SECRET),
            "page_size": 10,
            "retry": FAST_RETRY,
            "transport": self.transport(),
            **overrides,
        }
        return ClientConfig(**settings)

    def revoke_tokens(self) -> None:
        self.valid_tokens.clear()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return self.issue_token(request)
        with self.lock:
            self.data_requests.append(request)
            scripted = self.script.popleft() if self.script else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.latency_s)
            authorization = request.headers.get("Authorization", "")
            if authorization.removeprefix("Bearer ") not in self.valid_tokens:
                return httpx.Response(
                    401, json=status_info("token not valid", "unauthorisedrequest")
                )
            if scripted is not None:
                return scripted(request)
            return self.page(request)
        finally:
            with self.lock:
                self.in_flight -= 1

    def issue_token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if self.token_script:
            return self.token_script.popleft()(request)
        token = f"token-{len(self.token_requests)}"
        self.issued_tokens.append(token)
        self.valid_tokens.add(token)
        return httpx.Response(
            200,
            json={"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime},
        )

    def page(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if self.reject_fields and "fields" in params:
            return httpx.Response(
                400, json=status_info("fields not supported", "invalid_selection_field")
            )
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", 100))
        if self.page_cap is not None:
            limit = min(limit, self.page_cap)
        headers = {}
        if self.total_count:
            headers["X-Total-Count"] = str(len(self.rows))
        if self.link_header:
            links = [f'<{ROSTER}/users?limit={limit}&offset=0>; rel="first"']
            if offset + limit < len(self.rows):
                # Relative, and separated by a newline as some providers do.
                links.append(
                    f'</ims/oneroster/v1p1/users?limit={limit}&offset={offset + limit}>; rel="next"'
                )
            headers["Link"] = ",\n".join(links)
        body = {self.envelope: self.rows[offset : offset + limit]}
        return httpx.Response(200, json=body, headers=headers)
