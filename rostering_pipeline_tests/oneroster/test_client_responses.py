"""A page's body is freed when the client is done with it, not when the cyclic collector runs."""

from __future__ import annotations

import gc
import gzip
import weakref

import httpx
import orjson

from rostering_pipeline.oneroster.client import send_and_read

PAGE = {"users": [{"sourcedId": f"u{i}", "status": "active"} for i in range(50)]}


def gzipped_page(request: httpx.Request) -> httpx.Response:
    body = gzip.compress(orjson.dumps(PAGE))
    return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=body)


def test_a_read_response_is_freed_without_the_cyclic_collector():
    with httpx.Client(transport=httpx.MockTransport(gzipped_page)) as http:
        request = http.build_request("GET", "https://sis.example/ims/oneroster/v1p1/users")
        gc.disable()
        try:
            response = send_and_read(http, request)
            assert response.status_code == 200
            assert orjson.loads(response.content) == PAGE  # decoded once, as the server meant
            assert response.request is request
            freed = weakref.ref(response)
            del response
            assert freed() is None
        finally:
            gc.enable()


def test_httpx_own_response_waits_for_the_collector():
    """Why send_and_read exists: if httpx stops keeping its Response in a cycle
    (encode/httpx#3733), this fails and the workaround can go."""
    with httpx.Client(transport=httpx.MockTransport(gzipped_page)) as http:
        gc.disable()
        try:
            response = http.get("https://sis.example/ims/oneroster/v1p1/users")
            kept = weakref.ref(response)
            del response
            assert kept() is not None
        finally:
            gc.enable()
