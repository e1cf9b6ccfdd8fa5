"""One provider on the demo district for the module; every test starts it from a clean state."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rostering_pipeline.devserver import Faults, ProviderServer, ProviderSettings, Quirks
from rostering_pipeline.devserver.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET


def fetch_token(server: ProviderServer) -> str:
    response = httpx.post(
        server.token_url,
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
    )
    response.raise_for_status()
    return response.json()["access_token"]


def api_client(server: ProviderServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.api_url,
        headers={"Authorization": f"Bearer {fetch_token(server)}"},
        timeout=10,
    )


@pytest.fixture(scope="module")
def running() -> Iterator[ProviderServer]:
    with ProviderServer(ProviderSettings()) as server:
        yield server


@pytest.fixture
def server(running: ProviderServer) -> Iterator[ProviderServer]:
    running.quirks = Quirks()
    running.faults = Faults()
    running.provider.fault_plan.clear()
    running.reset_stats()
    yield running
    running.set_credentials(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)


@pytest.fixture
def api(server: ProviderServer) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client
