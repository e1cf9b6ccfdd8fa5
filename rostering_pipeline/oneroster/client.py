"""Pulls of OneRoster rostering collections, 1.1 or 1.2 (`binding` says where they differ):
paging, bounded concurrency, retries -> one DataFrame.

A pull reads the first page, then picks how to page from what the provider told it:
- `X-Total-Count`: the remaining offsets are known, fetched concurrently (threads sharing one
  httpx.Client); a short page has its gap re-requested, and a first page shorter than asked
  (a silent cap) sets the page size for the rest;
- otherwise `Link: rel="next"`: followed serially;
- otherwise: offsets advance by the rows received until an empty page.
Repeated pages, links pointing back, duplicate `sourcedId`s, a row count that disagrees with the
total and a roster revision (`x-perm-rev`) changing midway all fail the pull: a roster with
silent holes would deactivate real people downstream.

A filtered (delta) pull trusts no total: some servers count the whole collection before applying
`filter`, so it pages until an empty page; repeated pages and duplicate ids still fail it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote

import httpx
import orjson
import pandas as pd
import pyarrow as pa
import tenacity

from rostering_pipeline.oneroster.auth import Authenticator
from rostering_pipeline.oneroster.binding import requested_fields, roster_path
from rostering_pipeline.oneroster.collected import Collected, PageSink
from rostering_pipeline.oneroster.entities import Entity
from rostering_pipeline.oneroster.errors import (
    AccessDenied,
    CredentialsRejected,
    EndpointNotFound,
    InsecureURL,
    OneRosterError,
    ProviderError,
    ProviderUnreachable,
)
from rostering_pipeline.oneroster.normalize import (
    MalformedResponse,
    Tolerated,
    normalize_records,
    read_collection,
    to_frame,
)
from rostering_pipeline.oneroster.profile import PullProfile, profile_pull
from rostering_pipeline.repeated_ids import IdDigests

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
_STATUS_ERRORS: dict[int, type[OneRosterError]] = {
    401: CredentialsRejected,
    403: AccessDenied,
    404: EndpointNotFound,
}


@dataclass(frozen=True)
class RetryPolicy:
    """Per request: at most `max_attempts` sends within `max_elapsed_s` (sleeps included)."""

    max_attempts: int = 6
    max_elapsed_s: float = 300.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass(frozen=True)
class ClientConfig:
    base_url: str  # the version's roster path is appended unless the URL already ends with it
    auth: Authenticator
    version: str = "1.1"  # OneRoster 1.1 or 1.2 (binding.VERSIONS)
    page_size: int = 1000
    concurrency: int = 4  # pages in flight once the total is known; 1 = serial
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(30.0, connect=10.0))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    allow_insecure_http: bool = False  # plain http:// to a non-loopback host (development only)
    include_guardians: bool = False
    timezone: str = "UTC"  # the district's: timestamps sent without an offset are local time
    # Replaces the network (httpx.MockTransport in tests); None = real HTTP with TLS verification.
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.page_size < 1 or self.concurrency < 1:
            raise ValueError("page_size and concurrency must be at least 1")
        for url in (self.base_url, self.auth.token_url):
            if url is not None:
                check_transport(url, allow_insecure_http=self.allow_insecure_http)

    @property
    def roster_url(self) -> str:
        base, path = self.base_url.rstrip("/"), roster_path(self.version)
        return base if base.endswith(path) else base + path


@dataclass(frozen=True)
class FetchStats:
    rows: int  # rows in the frame (guardians already dropped unless included)
    received: int  # records the provider sent, guardians included
    pages: int
    requests: int  # every HTTP request sent, token requests and retries included
    retries: int
    duration_s: float
    host: str
    # The provider's clock (its Date header) when the pull's first response arrived, else the
    # local time the pull started: changes made after it are left for the next delta.
    clock_at: datetime
    profile: PullProfile  # what the provider did: paging, envelope, timestamps, tolerances


@dataclass(frozen=True)
class FetchResult:
    """A pull's rows, as normalized Arrow pages (none when they went to a sink), and what it
    took."""

    entity: Entity
    tables: tuple[pa.Table, ...]
    stats: FetchStats

    @property
    def frame(self) -> pd.DataFrame:
        """Every row in one frame."""
        return to_frame(self.entity, self.tables)


def check_transport(url: str, *, allow_insecure_http: bool) -> None:
    """https:// always; http:// only to loopback hosts, unless explicitly allowed."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InsecureURL("not an absolute http(s) URL", url=url if parsed is not None else None)
    if parsed.scheme == "http" and not (allow_insecure_http or is_loopback(parsed.host)):
        raise InsecureURL("plain http:// is refused for a non-loopback host; use https://", url=url)


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: the only hosts plain http:// may reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def encode_query(params: list[tuple[str, str]]) -> str:
    """RFC 3986 percent-encoding of every name and value (spaces as %20, quotes, '>' ...).

    The client sends exactly this text, so an OAuth 1.0a signature (RFC 5849 encodes the same
    way) covers the bytes the provider receives.
    """
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)


def filter_predicate(field_name: str, operator: str, value: str) -> str:
    """One OneRoster filter predicate; a quote inside the value is doubled."""
    escaped = value.replace("'", "''")
    return f"{field_name}{operator}'{escaped}'"


def modified_since_filter(moment: datetime) -> str:
    """`dateLastModified>'2026-08-01T00:00:00Z'`; a naive datetime is taken as UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    stamp = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return filter_predicate("dateLastModified", ">", stamp.replace("+00:00", "Z"))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (delay in seconds, or an HTTP date) as seconds to wait."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    moment = _http_date(value)
    if moment is None:
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";,]*)""", re.IGNORECASE)


def next_link(header: str | None) -> str | None:
    """The `rel="next"` target of a Link header (entries may be separated by newlines)."""
    for match in _LINK.finditer(header or ""):
        rel = _REL.search(match.group(2))
        if rel and "next" in rel.group(1).lower().split():
            return match.group(1).strip()
    return None


def _status_description(response: httpx.Response) -> str:
    """The provider's statusInfoSet description (or code), else the HTTP reason phrase."""
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        document = None
    infos = document.get("statusInfoSet") if isinstance(document, dict) else None
    if isinstance(infos, dict):
        infos = [infos]
    texts: list[str] = []
    for info in infos if isinstance(infos, list) else []:
        if not isinstance(info, dict):
            continue
        text = info.get("imsx_description")
        if not text:
            minor = (info.get("imsx_CodeMinor") or {}).get("imsx_codeMinorField") or []
            codes = [m.get("imsx_codeMinorFieldValue") for m in minor if isinstance(m, dict)]
            text = ", ".join(str(code) for code in codes if code)
        if text:
            texts.append(str(text))
    return "; ".join(texts)[:300] or response.reason_phrase or "error"


def _http_date(value: str | None) -> datetime | None:
    """A response's Date header as an aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _paging_style(first: _Page, *, filtered: bool) -> str | None:
    """How the provider pages an unfiltered collection (a filtered pull pages until empty)."""
    if filtered:
        return None
    if first.total is not None:
        return "total"
    return "link" if first.has_link else "until_empty"


class _Transient(Exception):
    """A failure worth retrying; `error` is raised once the retries are spent."""

    def __init__(self, error: OneRosterError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Page:
    position: int | str  # offset, or the URL of a followed link
    count: int  # records the provider sent (before guardians are dropped)
    table: pa.Table | None  # None once handed to the pull's sink
    total: int | None
    next_url: str | None
    has_link: bool
    revision: str | None  # ClassLink's x-perm-rev: the roster revision the page was read from
    envelope: str  # the top-level key the records came under
    date: datetime | None  # the response's Date header


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One per process: loading the CA bundle costs about 20 ms, which each client (one per
    entity pulled) would pay again."""
    return httpx.create_ssl_context()


# Pages requested ahead of the sink: rows enough to keep the requests going while the sink takes
# a chunk (the gate writes and validates 250,000 rows at a time), and no more: requested all at
# once, the pages a slower sink has not taken yet pile up in memory, bounded by the pull alone.
AHEAD_ROWS = 250_000


def send_and_read(http: httpx.Client, request: httpx.Request) -> httpx.Response:
    """The response with its body read, in a Response of its own. httpx's Response and its
    stream refer to each other (encode/httpx#3733), so a body read into it lives until the
    cyclic collector reaches it, which in a sync process holding Dagster is seldom: 190 MB of
    pages were waiting at the enrollments' peak at 200,000 students. The body is read decoded
    from the stream, so the new Response carries no content encoding."""
    streamed = http.send(request, stream=True)
    try:
        body = b"".join(streamed.iter_bytes())
    finally:
        streamed.close()
    headers = streamed.headers.copy()
    for decoded in ("Content-Encoding", "Content-Length"):
        headers.pop(decoded, None)
    return httpx.Response(streamed.status_code, headers=headers, content=body, request=request)


class OneRosterClient:
    """Thread-safe; one per district and run. Use as a context manager to close connections."""

    def __init__(self, config: ClientConfig):
        self.config = config
        self._http = httpx.Client(
            verify=_tls_context(),
            timeout=config.timeout,
            transport=config.transport,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"OneRosterClient({self.config.roster_url!r}, auth={self.config.auth!r})"

    def __enter__(self) -> OneRosterClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def fetch(
        self,
        entity: Entity,
        modified_since: datetime | None = None,
        sink: PageSink | None = None,
    ) -> FetchResult:
        """Every record of `entity` (modified after `modified_since`, when given). With a `sink`,
        each page's rows go to it as they arrive (in no set order; the pull's checks come after
        its last page) and the result holds none."""
        return _Pull(self.config, self._http, entity, modified_since, sink).run()


class _Pull:
    """The state of one collection pull: counters, the fields decision, pages seen."""

    def __init__(
        self,
        config: ClientConfig,
        http: httpx.Client,
        entity: Entity,
        modified_since: datetime | None,
        sink: PageSink | None,
    ):
        self.sink = sink
        self.collected: Collected | None = None  # from the first page, which sets the clock
        self.config = config
        self.http = http
        self.entity = entity
        self.collection_url = config.roster_url + entity.path
        self.filter = modified_since_filter(modified_since) if modified_since else None
        self.send_fields = True  # cleared for the rest of the pull when the provider rejects it
        self.lock = threading.Lock()  # counters
        self.parsing = threading.Lock()  # also guards `seen`
        self.requests = 0
        self.retries = 0
        self.seen: dict[tuple[object, object, int], int | str] = {}
        self.aborted = threading.Event()
        self.tolerated = Tolerated()  # guarded by `parsing`
        policy = config.retry
        self.retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Transient),
            stop=(
                tenacity.stop_after_attempt(policy.max_attempts)
                | tenacity.stop_before_delay(policy.max_elapsed_s)
                | (lambda _state: self.aborted.is_set())
            ),
            wait=self._wait,
            before_sleep=self._count_retry,
            reraise=True,
        )
        self.backoff = tenacity.wait_random_exponential(
            multiplier=policy.backoff_initial_s, max=policy.backoff_max_s
        )

    # --- the pull ---------------------------------------------------------------------------

    def run(self) -> FetchResult:
        started, started_at = time.monotonic(), datetime.now(UTC)
        first = self.page_at(0, self.config.page_size)
        clock_at = first.date or started_at
        self.collected = Collected(self.sink, clock_at)
        first = self.deliver(first)
        filtered = self.filter is not None
        if filtered:
            pages = self.pages_until_empty(first)
        elif first.total is not None:
            pages = self.pages_by_total(first)
        elif first.has_link:
            pages = self.pages_by_link(first)
        else:
            pages = self.pages_until_empty(first)
        revisions = sorted({page.revision for page in pages if page.revision is not None})
        if len(revisions) > 1:
            raise ProviderError(
                f"the roster changed during the pull (x-perm-rev {', '.join(revisions)}); "
                "pull again",
                url=self.collection_url,
            )
        self.check_unique(self.collected.ids)  # first: the likelier cause of a miscount
        received = sum(page.count for page in pages)
        if not filtered and first.total is not None and received != first.total:
            raise self.mismatch(f"received {received} rows although X-Total-Count is {first.total}")
        stats = FetchStats(
            rows=self.collected.rows,
            received=received,
            pages=len(pages),
            requests=self.requests,
            retries=self.retries,
            duration_s=time.monotonic() - started,
            host=httpx.URL(self.collection_url).host,
            clock_at=clock_at,
            profile=profile_pull(
                self.collected,
                self.tolerated,
                filtered=filtered,
                paging=_paging_style(first, filtered=filtered),
                envelope=first.envelope,
                total=first.total,
                received=received,
            ),
        )
        tables = tuple(page.table for page in pages if page.table is not None)
        return FetchResult(entity=self.entity, tables=tables, stats=stats)

    def deliver(self, page: _Page) -> _Page:
        """Counts the page's rows and hands them to the sink; the page keeps them only when
        there is none (the pull's pages are then put in order)."""
        assert self.collected is not None and page.table is not None
        self.collected.add(page.table)
        return page if self.sink is None else replace(page, table=None)

    def pages_by_total(self, first: _Page) -> list[_Page]:
        total = first.total
        assert total is not None
        size = self.config.page_size
        if first.count == 0 and total > 0:
            raise self.mismatch(f"the first page is empty although X-Total-Count is {total}")
        # A first page shorter than asked while more rows exist reveals the provider's cap.
        step = first.count if first.count < min(size, total) else size
        tasks = deque((offset, step) for offset in range(first.count, total, step))
        ahead = max(self.config.concurrency, AHEAD_ROWS // step)
        pages = [first]
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="oneroster") as pool:
            pending: dict[Future[_Page], tuple[int, int]] = {}
            try:
                while tasks or pending:
                    while tasks and len(pending) < ahead:
                        offset, limit = tasks.popleft()
                        pending[pool.submit(self.page_at, offset, limit)] = (offset, limit)
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        offset, limit = pending.pop(future)
                        page = future.result()
                        expected = min(limit, total - offset)
                        if page.count > limit or (page.count == 0 and expected > 0):
                            raise self.mismatch(
                                f"offset {offset} (limit {limit}) returned {page.count} rows "
                                f"although X-Total-Count is {total}"
                            )
                        if page.count < expected:  # capped: ask for the rest of this slice next
                            tasks.appendleft((offset + page.count, expected - page.count))
                        pages.append(self.deliver(page))
            except BaseException:
                self.aborted.set()  # running requests stop retrying; queued ones never start
                for future in pending:
                    future.cancel()
                raise
        return sorted(pages, key=lambda page: page.position)

    def pages_by_link(self, first: _Page) -> list[_Page]:
        pages, visited = [first], {first.position}
        page = first
        while page.next_url and page.count:
            if page.next_url in visited:
                raise ProviderError(
                    "Link rel=next points back to a page already read", url=page.next_url
                )
            visited.add(page.next_url)
            page = self.deliver(self.page_from_link(page.next_url))
            pages.append(page)
        return pages

    def pages_until_empty(self, first: _Page) -> list[_Page]:
        pages, offset, page = [first], first.count, first
        while page.count:
            page = self.deliver(self.page_at(offset, self.config.page_size))
            pages.append(page)
            offset += page.count
        return pages

    def check_unique(self, ids: IdDigests) -> None:
        repeats = ids.repeated()
        if repeats.ids:
            name, first, second = repeats.example()
            raise ProviderError(
                f"{repeats.ids} sourcedId(s) sent more than once across pages, e.g. {name!r} "
                f"(rows {first + 1:,} and {second + 1:,} of the pull)",
                url=self.collection_url,
            )

    def mismatch(self, detail: str) -> ProviderError:
        return ProviderError(f"inconsistent paging: {detail}", url=self.collection_url)

    # --- one page ---------------------------------------------------------------------------

    def page_at(self, offset: int, limit: int) -> _Page:
        try:
            response = self.get(self.page_url(offset, limit))
        except ProviderError as exc:
            if exc.status != 400 or not self.send_fields:
                raise
            # Some providers reject `fields` (invalid_selection_field): ask for whole records.
            self.send_fields = False
            response = self.get(self.page_url(offset, limit))
        return self.read_page(offset, response)

    def page_from_link(self, link: str) -> _Page:
        return self.read_page(link, self.get(link))

    def page_url(self, offset: int, limit: int) -> str:
        params = [("limit", str(limit)), ("offset", str(offset)), ("sort", "sourcedId")]
        if self.send_fields:
            params.append(("fields", ",".join(requested_fields(self.entity, self.config.version))))
        if self.filter:
            params.append(("filter", self.filter))
        return f"{self.collection_url}?{encode_query(params)}"

    def read_page(self, position: int | str, response: httpx.Response) -> _Page:
        url = response.request.url
        total = response.headers.get("X-Total-Count")
        if total is not None and not total.strip().isdigit():
            raise ProviderError(f"X-Total-Count is not a number: {total[:40]!r}", url=url)
        link_header = response.headers.get("Link")
        link = next_link(link_header)
        # One page parsed at a time: parsing holds the GIL anyway, and threads taking turns
        # outrun threads contending for it (about a third faster, measured); downloads overlap.
        with self.parsing:
            try:
                envelope, records = read_collection(self.entity, response.content)
            except MalformedResponse as exc:
                raise ProviderError(str(exc), url=url, status=response.status_code) from None
            table = normalize_records(
                self.entity,
                records,
                include_guardians=self.config.include_guardians,
                timezone=self.config.timezone,
                tolerated=self.tolerated,
                version=self.config.version,
            )
            if records:
                fingerprint = (records[0].get("sourcedId"), records[-1].get("sourcedId"))
                earlier = self.seen.setdefault((*fingerprint, len(records)), position)
                if earlier != position:
                    raise ProviderError(
                        f"the page at {position} repeats the page at {earlier}", url=url
                    )
        return _Page(
            position=position,
            count=len(records),
            table=table,
            total=int(total) if total is not None else None,
            next_url=self.follow(url, link) if link else None,
            has_link=link_header is not None,
            revision=response.headers.get("x-perm-rev"),
            envelope=envelope,
            date=_http_date(response.headers.get("Date")),
        )

    def follow(self, current: httpx.URL, link: str) -> str:
        """A next link made absolute, kept on the same origin, its query re-encoded as we sign."""
        target = current.join(link)
        if (target.scheme, target.host, target.port) != (
            current.scheme,
            current.host,
            current.port,
        ):
            raise ProviderError("Link rel=next leaves the provider's origin", url=target)
        query = parse_qsl(target.query.decode(), keep_blank_values=True)
        base = str(target.copy_with(query=None))
        return f"{base}?{encode_query(query)}" if query else base

    # --- requests ---------------------------------------------------------------------------

    def get(self, url: str) -> httpx.Response:
        """A data GET: transient failures retried, one re-authentication after a 401."""

        def build() -> httpx.Request:
            request = self.http.build_request("GET", url)
            self.config.auth.authorize(request, self.exchange)
            return request

        response = self.exchange(build)
        if response.status_code == 401:
            self.config.auth.forget(response.request)
            self._count_retry()
            response = self.exchange(build)
        if response.status_code != 200:
            raise self.status_error(response)
        return response

    def exchange(self, build: Callable[[], httpx.Request]) -> httpx.Response:
        """Send a freshly built request per attempt; returns the first non-transient response."""

        def attempt() -> httpx.Response:
            request = build()
            with self.lock:
                self.requests += 1
            try:
                response = send_and_read(self.http, request)
            except httpx.RequestError as exc:  # timeouts, refused or dropped connections
                error = ProviderUnreachable(
                    self.redact(f"{type(exc).__name__}: {exc}"), url=request.url
                )
                raise _Transient(error) from None
            if response.status_code in TRANSIENT_STATUSES:
                delay = retry_after_seconds(response.headers.get("Retry-After"))
                raise _Transient(self.status_error(response), delay)
            return response

        try:
            # A copy per call: a token fetch runs nested inside a data request's attempt.
            return self.retrying.copy()(attempt)
        except _Transient as exc:
            raise exc.error from None

    def status_error(self, response: httpx.Response) -> OneRosterError:
        error_type = _STATUS_ERRORS.get(response.status_code, ProviderError)
        return error_type(
            self.redact(_status_description(response)),
            url=response.request.url,
            status=response.status_code,
        )

    def redact(self, text: str) -> str:
        for secret in self.config.auth.secrets():
            text = text.replace(secret, "***")
        return text

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Transient) and failure.retry_after is not None:
            return failure.retry_after  # the provider said how long (429 Retry-After)
        return self.backoff(state)

    def _count_retry(self, _state: tenacity.RetryCallState | None = None) -> None:
        with self.lock:
            self.retries += 1
