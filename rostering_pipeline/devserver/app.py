"""The provider's HTTP surface (Starlette): token endpoint, collections, single items, faults."""

from __future__ import annotations

import asyncio
import gc
import tempfile
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime
from pathlib import Path
from random import Random
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from rostering_pipeline.devserver.auth import Credentials, SignatureVerifier, TokenIssuer
from rostering_pipeline.devserver.catalog import (
    API_PREFIXES,
    COLLECTIONS,
    ROSTER_SCOPE_1_2,
    SCALAR_FIELDS,
    SINGLE_ITEM_PATHS,
    Collection,
)
from rostering_pipeline.devserver.daily import DayChanges, advance_day, edit_now
from rostering_pipeline.devserver.faults import DEFAULT_SLOW_S, FaultPlan
from rostering_pipeline.devserver.feeds import FeedQuirks, with_feed_quirks
from rostering_pipeline.devserver.query import Query, QueryError, parse_query, select
from rostering_pipeline.devserver.records import Record
from rostering_pipeline.devserver.serialize import (
    EXTRA_FIELDS,
    WireStyle,
    collection_body,
    demographics_record,
    html_error_body,
    item_body,
    selecting,
    sent_fields,
    shaper,
    status_info_body,
    wire_fields,
)
from rostering_pipeline.devserver.settings import Faults, ProviderSettings, Quirks
from rostering_pipeline.devserver.synthetic import District, generate
from rostering_pipeline.devserver.tamper import Tampering
from rostering_pipeline.devserver.wirecache import DEFAULT_BUDGET_BYTES, WireCache

JSON = "application/json"
REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}  # fmt: skip
_CODE_MINOR = {401: "unauthorisedrequest", 404: "unknownobject", 429: "server_busy"}
_VIEW_CACHE_SIZE = 16
# A spilled district keeps its wire bytes to this, so that its memory does not grow with it.
SPILLED_WIRE_BUDGET_BYTES = 64 * 1024 * 1024


class ConnectionDropped(Exception):
    """Raised mid-body so the server closes the connection: the "reset" fault."""


@dataclass(frozen=True)
class Stats:
    requests: int
    data_requests: int
    token_requests: int
    by_status: dict[int, int]
    demographics_requests: int = 0  # 1.2's /demographics: the pipeline must never call it


class Provider:
    """Everything a running provider holds: district, settings, auth state, faults, counters.
    Control methods are called from other threads while the event loop serves."""

    def __init__(self, settings: ProviderSettings, district: District | None = None) -> None:
        self.settings = settings
        self.api_prefix = API_PREFIXES[settings.version]
        # a spilled district's files: removed when the provider is, or at exit
        self._spill_dir = (
            tempfile.TemporaryDirectory(prefix="dev-provider-") if settings.spill else None
        )
        if district is None:
            spill_to = Path(self._spill_dir.name) if self._spill_dir else None
            district = generate(settings.district, spill_to=spill_to)
        self.district = district
        _settle_heap()
        self.quirks: Quirks = settings.quirks
        self.fault_plan = FaultPlan(settings.faults)
        self.tampering = Tampering()
        credentials = Credentials(settings.client_id, settings.client_secret)
        self.tokens = TokenIssuer(
            credentials,
            scope=settings.scope or (ROSTER_SCOPE_1_2 if settings.version == "1.2" else None),
            lifetime_s=settings.token_lifetime_s,
            expires_in_as_string=settings.expires_in_as_string,
        )
        self.signatures = SignatureVerifier(credentials)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._views: OrderedDict[tuple, list[Record]] = OrderedDict()
        self.wire_cache = WireCache(
            SPILLED_WIRE_BUDGET_BYTES if settings.spill else DEFAULT_BUDGET_BYTES
        )
        # The provider's clock on its simulated calendar: this time of the district's day (the
        # day's changes are stamped at its midnight). Sent as `Date`, it is what a sync's
        # high-water mark is read from, as with a real provider.
        self.clock_time = time(12, 0)
        self._feed_context: tuple[tuple, tuple[dict[str, str], dict[str, int]]] | None = None

    def clock(self) -> datetime:
        day = self.district.spec.start + timedelta(days=self.district.day)
        return datetime.combine(day, self.clock_time, UTC)

    def edit(self, table: str, sourced_id: str, **fields: object) -> Record:
        """A change made now, on the provider's clock (e.g. between two deltas of one day)."""
        return edit_now(self.district, table, sourced_id, self.clock(), **fields)

    @property
    def faults(self) -> Faults:
        return self.fault_plan.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.fault_plan.configure(faults)

    def set_credentials(
        self, client_id: str | None = None, client_secret: str | None = None
    ) -> None:
        current = self.tokens.credentials
        new = Credentials(client_id or current.client_id, client_secret or current.secret)
        self.tokens.credentials = new
        self.signatures.credentials = new

    def advance_day(self) -> DayChanges:
        changes = advance_day(self.district)
        _settle_heap()
        return changes

    def count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def answered(self, response: Response) -> Response:
        with self._lock:
            self._by_status[response.status_code] += 1
        return response

    @property
    def stats(self) -> Stats:
        with self._lock:
            c = self._counts
            return Stats(
                c["requests"],
                c["data_requests"],
                c["token_requests"],
                dict(self._by_status),
                c["demographics_requests"],
            )

    def reset_stats(self) -> None:
        with self._lock:
            self._counts.clear()
            self._by_status.clear()

    def rows(self, collection: Collection, query: Query) -> list[Record]:
        """Filtered, ordered rows; cached per district revision so paging does not redo it."""
        district, shuffled = self.district, self.quirks.unsorted_without_sort
        key = (
            district.revision,
            self.tampering.revision,
            collection.path,
            query.filter,
            query.sort,
            query.descending,
            shuffled,
        )
        with self._lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
        table = district.tables[collection.table]
        records = self.tampering.records(collection.table, table.records)
        if collection.keep is not None:
            records = [r for r in records if collection.keep(r)]

        def shuffle(rows: list[Record]) -> list[Record]:
            rows = list(rows)
            Random(f"{district.spec.seed}/{district.revision}/{collection.path}").shuffle(rows)
            return rows

        rows = select(records, query, shuffle if shuffled else None)
        with self._lock:
            self._views[key] = rows
            while len(self._views) > _VIEW_CACHE_SIZE:
                self._views.popitem(last=False)
        return rows

    def feed_context(self, feed: FeedQuirks) -> tuple[dict[str, str], dict[str, int]]:
        """What the feed knobs need of the district: each session's school year, and the first
        students (by sourcedId) the counted knobs apply to. Worked out once per district
        revision, not on every page."""
        if not feed.any:
            return {}, {}
        wanted = max(feed.future_dated_users, feed.refs_without_sourced_id)
        key = (id(self.district), self.district.revision, wanted)
        if self._feed_context is None or self._feed_context[0] != key:
            tables = self.district.tables
            years = {r.sourcedId: r.schoolYear for r in tables["academicSessions"].records}
            students = [r.sourcedId for r in tables["users"].records if r.role == "student"]
            ranks = {sourced_id: rank for rank, sourced_id in enumerate(students[:wanted])}
            self._feed_context = (key, (years, ranks))
        return self._feed_context[1]


def _settle_heap() -> None:
    """Move the district's millions of long-lived objects out of the garbage collector's sight:
    otherwise every full collection triggered by serving a page walks all of them."""
    gc.collect()
    gc.freeze()


def build_app(provider: Provider) -> Starlette:
    return Starlette(
        routes=[
            Route("/oauth/token", _endpoint(provider, _token), methods=["POST"]),
            Route(
                provider.api_prefix + "/{rest:path}", _endpoint(provider, _data), methods=["GET"]
            ),
        ]
    )


def _endpoint(provider: Provider, handler):
    async def endpoint(request: Request) -> Response:
        provider.count("requests")
        response = await handler(provider, request)
        response.headers["Date"] = format_datetime(provider.clock(), usegmt=True)
        return provider.answered(response)

    return endpoint


async def _token(provider: Provider, request: Request) -> Response:
    provider.count("token_requests")
    form = dict(
        parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    )
    answer = provider.tokens.issue(form, request.headers.get("authorization"))
    return Response(orjson.dumps(answer.body), answer.status, answer.headers, media_type=JSON)


async def _data(provider: Provider, request: Request) -> Response:
    provider.count("data_requests")
    quirks, faults = provider.quirks, provider.faults
    origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    refusal = _auth_refusal(provider, request, origin)
    if refusal is not None:
        return _error(quirks, 401, refusal)
    rest = "/" + request.path_params["rest"].strip("/")
    fault = provider.fault_plan.draw(rest)
    kind = fault.kind if fault else None
    if kind == "401":
        return _error(quirks, 401, "access token or signature refused")
    if kind == "429":
        return _error(quirks, 429, "too many requests", {"Retry-After": faults.retry_after})
    if kind in ("500", "502", "503", "504"):
        return _error(quirks, int(kind), "the server could not answer")
    if kind == "slow":
        await asyncio.sleep(fault.seconds or DEFAULT_SLOW_S)
    if faults.latency_s:
        await asyncio.sleep(faults.latency_s)
    try:
        body, headers = _answer(provider, request, rest, origin)
    except QueryError as exc:
        return _error(quirks, exc.status, exc.description, code_minor=exc.code_minor)
    if kind == "truncated":
        return Response(body[: len(body) // 2], 200, headers, media_type=JSON)
    if kind == "html":
        return Response(html_error_body(500, REASONS[500]), 200, media_type="text/html")
    if kind == "reset":
        return _DroppedMidBody(body, 200, headers, media_type=JSON)
    return Response(body, 200, headers, media_type=JSON)


def _auth_refusal(provider: Provider, request: Request, origin: str) -> str | None:
    authorization = request.headers.get("authorization")
    if provider.settings.auth == "oauth1":
        query = request.scope["query_string"].decode("latin-1")
        uri = f"{origin}{request.url.path}" + (f"?{query}" if query else "")
        return provider.signatures.refusal(request.method, uri, authorization)
    return None if provider.tokens.accepts(authorization) else "missing, invalid or expired token"


def _answer(
    provider: Provider, request: Request, rest: str, origin: str
) -> tuple[bytes, dict[str, str]]:
    quirks, version = provider.quirks, provider.settings.version
    name, _, item_id = rest.strip("/").partition("/")
    if version == "1.2" and name == "demographics":
        return _demographics(provider, item_id)
    collection = COLLECTIONS.get(name)
    if collection is None or (item_id and (name not in SINGLE_ITEM_PATHS or "/" in item_id)):
        raise QueryError(404, "unknownobject", f"no such endpoint {rest}")
    params = request.query_params
    if quirks.reject_fields and "fields" in params:
        raise QueryError(400, "invalid_selection_field", "field selection is not supported")
    query = parse_query(
        params,
        wire_fields=wire_fields(collection.table, version),
        scalar_fields=SCALAR_FIELDS[collection.table],
        inactive_status=quirks.inactive_status,
        stamps=quirks.feed.filter_stamps,
    )
    table, wire_quirks = collection.table, quirks
    extras = EXTRA_FIELDS.intersection(wire_fields(table, version))
    if extras and query.fields is not None and not extras.intersection(query.fields):
        wire_quirks = replace(quirks, extra_fields=False)  # not asked for: skip making them up
    style = WireStyle.for_request(origin, wire_quirks, version)
    # read before the overrides: an edit in between leaves the cache stale for one request only
    revision = (id(provider.district), provider.district.revision, provider.tampering.revision)
    plain = with_feed_quirks(
        shaper(table, style), table, quirks.feed, *provider.feed_context(quirks.feed)
    )
    served = provider.tampering.shaper(table, plain)
    # overrides may add fields, so a tampered shape is always narrowed
    shape = selecting(served, query.fields, sent_fields(table, style) if served is plain else None)
    # a selection of everything sent makes the same bytes as none: one cached variant for both
    selection = None if shape is served else query.fields
    if item_id:
        record = provider.district.tables[table].get(item_id)
        if record is None or (collection.keep is not None and not collection.keep(record)):
            raise QueryError(404, "unknownobject", f"no {collection.singular} {item_id}")
        return item_body(collection.singular, record, shape), {}
    rows = provider.rows(collection, query)
    limit = min(query.limit, quirks.page_size_cap) if quirks.page_size_cap else query.limit
    start = query.offset
    if quirks.repeat_first_page:
        start = 0
    elif quirks.duplicate_across_pages and start > 0:
        start -= 1
    page = provider.wire_cache.encoded(
        revision, (table, style, selection), rows[start : start + limit], shape
    )
    if quirks.feed.bare_array:
        body = b"[" + b",".join(page) + b"]"
    else:
        body = collection_body(_envelope(collection, quirks), page)
    headers = {}
    if quirks.total_count:
        counted = rows
        if quirks.feed.totals_ignore_filter and query.filter is not None:
            counted = provider.rows(collection, replace(query, filter=None))
        headers["X-Total-Count"] = str(len(counted))
    if quirks.link_header:
        link = _link_header(
            f"{origin}{provider.api_prefix}/{name}", request, query.offset, limit, len(rows)
        )
        if link:
            headers["Link"] = link
    return body, headers


def _demographics(provider: Provider, item_id: str) -> tuple[bytes, dict[str, str]]:
    """1.2's demographics (birth dates, sex, ethnicity): served, and counted, because the
    pipeline must never ask for them."""
    provider.count("demographics_requests")
    users = provider.district.tables["users"]
    if item_id:
        return orjson.dumps({"demographics": demographics_record(item_id)}), {}
    records = [demographics_record(user.sourcedId) for user in users.records[:100]]
    return orjson.dumps({"demographics": records}), {"X-Total-Count": str(len(records))}


def _envelope(collection: Collection, quirks: Quirks) -> str:
    if collection.table == "users" and quirks.users_envelope != "users":
        # such providers name the list after what was asked for; /users gets the setting
        return collection.path if collection.path != "users" else quirks.users_envelope
    if collection.table == "academicSessions":
        return quirks.sessions_envelope
    return collection.envelope


def _link_header(url: str, request: Request, offset: int, limit: int, total: int) -> str:
    """RFC 8288 Link with next/last/first/prev. (Spec examples show the links on separate lines;
    a raw newline is illegal in an HTTP/1.1 header value, so they are comma-separated.)"""
    others = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]

    def at(page_offset: int) -> str:
        query = urlencode(
            [*others, ("limit", str(limit)), ("offset", str(page_offset))], quote_via=quote
        )
        return f"{url}?{query}"

    links = []
    if offset + limit < total:
        links.append(f'<{at(offset + limit)}>; rel="next"')
    links.append(f'<{at(max(0, (total - 1) // limit * limit))}>; rel="last"')
    links.append(f'<{at(0)}>; rel="first"')
    if offset > 0:
        links.append(f'<{at(max(0, offset - limit))}>; rel="prev"')
    return ", ".join(links)


def _error(
    quirks: Quirks,
    status: int,
    description: str,
    headers: dict[str, str] | None = None,
    *,
    code_minor: str | None = None,
) -> Response:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="oneroster"'
    if quirks.html_errors:
        return Response(
            html_error_body(status, REASONS.get(status, "Error")),
            status,
            headers,
            media_type="text/html",
        )
    minor = code_minor or _CODE_MINOR.get(status, "internal_server_error")
    return Response(status_info_body(minor, description), status, headers, media_type=JSON)


class _DroppedMidBody(Response):
    """Announces the full length, sends half, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise ConnectionDropped("fault injected: connection dropped mid-body")
