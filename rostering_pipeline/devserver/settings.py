"""What the local provider serves and how it misbehaves: plain, immutable settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rostering_pipeline.devserver.feeds import FeedQuirks
from rostering_pipeline.devserver.synthetic import DistrictSpec

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"  # noqa: S105 - the loopback demo's published credential


@dataclass(frozen=True)
class Faults:
    """Transient failures on data requests, drawn from a seeded RNG so a run is reproducible."""

    rate_429: float = 0.0
    retry_after: str = "1"  # Retry-After sent with 429: seconds or an HTTP date
    rate_5xx: float = 0.0  # 500/502/503/504
    latency_s: float = 0.0  # added to every data response
    rate_reset: float = 0.0  # connection dropped mid-body
    rate_truncated: float = 0.0  # 200 with a truncated JSON body
    rate_html: float = 0.0  # 200 with an HTML error page
    seed: int = 0


@dataclass(frozen=True)
class Quirks:
    """Differences between real providers (ONEROSTER.md), each one switchable."""

    page_size_cap: int | None = None  # silently caps `limit`
    users_envelope: Literal["users", "students", "teachers"] = "users"
    sessions_envelope: Literal["academicSessions", "terms"] = "academicSessions"
    bool_style: Literal["json", "lower", "title"] = "json"  # true | "true" | "True"
    periods_as_string: bool = False  # "1,2" instead of ["1", "2"]
    relative_href: bool = False  # "~/ims/oneroster/v1p1/..." instead of an absolute URL
    inactive_status: bool = False  # 1.0's "inactive" instead of "tobedeleted"
    unsorted_without_sort: bool = True  # without `sort` rows come in a (stable) shuffled order
    reject_fields: bool = False  # `fields=` answered with 400 invalid_selection_field
    html_errors: bool = False  # error responses as HTML pages instead of statusInfoSet JSON
    total_count: bool = True  # send X-Total-Count
    link_header: bool = True  # send Link (next/last/first/prev)
    duplicate_across_pages: bool = False  # page k+1 starts with the last row of page k
    repeat_first_page: bool = False  # every offset returns the first page
    extra_fields: bool = True  # also send password, phone, sms, userIds, agents, metadata
    feed: FeedQuirks = field(default_factory=FeedQuirks)  # what real servers send beyond the spec


@dataclass(frozen=True)
class ProviderSettings:
    district: DistrictSpec = field(default_factory=DistrictSpec.demo)
    auth: Literal["oauth2", "oauth1"] = "oauth2"
    # 1.2: collections under /ims/oneroster/rostering/v1p2, users with roles lists, preferred
    # names and pronouns, a /demographics endpoint (never to be called), scope-checked tokens
    version: Literal["1.1", "1.2"] = "1.1"
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = field(default=DEMO_CLIENT_SECRET, repr=False)
    scope: str | None = None  # when set, token requests must carry it (1.2: its scope by default)
    token_lifetime_s: int = 3600
    expires_in_as_string: bool = False
    faults: Faults = field(default_factory=Faults)
    quirks: Quirks = field(default_factory=Quirks)
    # the large tables kept in files of a temporary directory instead of memory (spill.py)
    spill: bool = False
