"""The provider's tampering (the bad-input corpus's source) seen on the wire, with its own HTTP."""

from __future__ import annotations

from urllib.parse import quote_plus

import httpx

from rostering_pipeline.devserver import DistrictSpec
from rostering_pipeline.devserver.tamper import REMOVE
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET
from rostering_pipeline_tests.faults.support import serve


def get_users(server, **params) -> httpx.Response:
    token = httpx.post(
        server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(quote_plus(CLIENT_ID), quote_plus(SECRET)),
    ).json()["access_token"]
    return httpx.get(
        f"{server.api_url}/users",
        params={"sort": "sourcedId", **params},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_hidden_duplicated_and_overridden_records_are_served_as_asked():
    with serve(DistrictSpec(seed=3, schools=1, students=20)) as server:
        plain = get_users(server).json()["users"]
        first, second, third = (user["sourcedId"] for user in plain[:3])
        server.tampering.hide("users", [first])
        server.tampering.duplicate("users", second)
        server.tampering.override("users", third, givenName="<b>", role=REMOVE, extra=[1])

        response = get_users(server)
        served = response.json()["users"]
        ids = [user["sourcedId"] for user in served]
        assert first not in ids and ids.count(second) == 2
        assert int(response.headers["X-Total-Count"]) == len(plain) == len(served)
        tampered = next(user for user in served if user["sourcedId"] == third)
        assert tampered["givenName"] == "<b>" and "role" not in tampered
        assert tampered["extra"] == [1]
        assert get_users(server, limit=2).json()["users"][1]["sourcedId"] == second  # paged too

        server.tampering.clear()
        assert get_users(server).json()["users"] == plain
