"""`dev-provider fleet`: many districts behind one host, each under its own path and token URL."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rostering_pipeline.devserver import DEMO_CLIENT_SECRET
from rostering_pipeline.devserver.fleet import tenants

LAUNCH = "from rostering_pipeline.cli.dev_provider import dev_provider; dev_provider()"


def test_tenants_take_the_client_ids_in_turn_and_sizes_within_the_range():
    fleet = tenants(7, clients=3, students=(500, 5000), seed=4)
    assert [t.name for t in fleet] == [f"d00{n}" for n in range(7)]
    assert [t.client_id for t in fleet] == [f"d-client-{n % 3}" for n in range(7)]
    assert all(500 <= t.spec.students <= 5000 for t in fleet)
    assert len({t.spec.students for t in fleet}) > 1
    assert len({t.spec.seed for t in fleet}) == 7  # seven different rosters
    assert tenants(7, clients=3, students=(500, 5000), seed=4) == fleet


@pytest.mark.parametrize(
    ("count", "clients", "students"), [(0, 1, (1, 2)), (1, 0, (1, 2)), (1, 1, (5, 2))]
)
def test_a_fleet_without_tenants_clients_or_a_range_is_refused(count, clients, students):
    with pytest.raises(ValueError):
        tenants(count, clients=clients, students=students)


def _users(tenant_url: str, client_id: str, secret: str = DEMO_CLIENT_SECRET) -> httpx.Response:
    token = httpx.post(
        f"{tenant_url}/oauth/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials"},
    )
    if token.status_code != 200:
        return token
    return httpx.get(
        f"{tenant_url}/ims/oneroster/v1p1/users",
        params={"limit": 2},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )


def test_the_fleet_serves_each_tenant_its_own_district_to_its_own_client():
    args = ["--port", "0", "--seed", "3", "fleet", "--tenants", "3", "--clients", "2"]
    args += ["--students-range", "20:60"]
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with ThreadPoolExecutor(1) as pool:
            lines = [pool.submit(proc.stdout.readline).result(timeout=60) for _ in range(4)]
        assert lines[0].startswith("OneRoster 1.1 fleet of 3 districts at http://127.0.0.1:")
        expected = tenants(3, clients=2, students=(20, 60), seed=3)
        urls, totals = [], []
        for line, tenant in zip(lines[1:], expected, strict=True):
            url = line.split()[0]
            assert url.endswith(f"/t/{tenant.name}") and f"client {tenant.client_id}," in line
            page = _users(url, tenant.client_id)
            assert page.status_code == 200 and len(page.json()["users"]) == 2
            urls.append(url)
            totals.append(int(page.headers["X-Total-Count"]))
        assert len(set(totals)) == 3  # three rosters, not one served thrice
        assert _users(urls[0], "d-client-1").status_code == 401  # another tenant's client
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr


def test_a_students_range_that_is_not_low_high_is_refused():
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--port", "0", "fleet", "--students-range", "500"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "'500': expected LOW:HIGH, e.g. 500:5000" in result.stderr
