"""Records/s of the client's parsing and normalization (orjson -> Arrow pages -> one DataFrame).

Standalone: builds provider-shaped pages in memory, either with only the fields the client asks
for or with every field (the extras a provider ignoring `fields=` sends and the client drops),
then times, per entity,
- parse+normalize: `records_from_body` + `normalize_records` per page + `to_frame`;
- whole fetch: a whole `OneRosterClient.fetch` (paging, auth, threads, retries machinery) against
  an httpx.MockTransport serving those pages, i.e. everything but the network.

Run: `.venv/bin/python -m benchmarks.client_parse [--records N] [--page-size N]`.
"""

from __future__ import annotations

import random
import time

import click
import httpx
import orjson

from rostering_pipeline.oneroster.auth import OAuth2ClientCredentials
from rostering_pipeline.oneroster.client import ClientConfig, OneRosterClient
from rostering_pipeline.oneroster.entities import ENROLLMENTS, USERS, Entity
from rostering_pipeline.oneroster.normalize import normalize_records, records_from_body, to_frame

BASE = "https://provider.example/ims/oneroster/v1p1"
MODIFIED = "2026-08-01T12:34:56.789Z"


def _ref(kind: str, sourced_id: str) -> dict[str, str]:
    return {"href": f"{BASE}/{kind}s/{sourced_id}", "sourcedId": sourced_id, "type": kind}


def user(i: int, rng: random.Random) -> dict:
    return {
        "sourcedId": f"user-{i:08d}",
        "status": "active",
        "dateLastModified": MODIFIED,
        "metadata": {"ext.demographics": {"birthDate": "2012-03-04"}},
        "username": f"student{i}",
        "userIds": [{"type": "SIS", "identifier": str(i)}],
        "enabledUser": "true",
        "givenName": rng.choice(["Zoë", "Seán", "María", "Nguyễn"]),
        "familyName": rng.choice(["O'Brien", "García-López", "Smith"]),
        "middleName": "",
        "role": "student",
        "identifier": str(100000 + i),
        "email": f"student{i}@district.example",
        "sms": "",
        "phone": "555-0100",
        "password": "hunter2",
        "agents": [_ref("user", f"guardian-{i:08d}")],
        "orgs": [_ref("org", f"school-{i % 300:04d}")],
        "grades": [f"{rng.randint(1, 12):02d}"],
    }


def enrollment(i: int, rng: random.Random) -> dict:
    return {
        "sourcedId": f"enr-{i:09d}",
        "status": "active",
        "dateLastModified": MODIFIED,
        "metadata": {},
        "user": _ref("user", f"user-{i // 7:08d}"),
        "class": _ref("class", f"class-{rng.randint(0, 60000):06d}"),
        "school": _ref("org", f"school-{i % 300:04d}"),
        "role": "student",
        "primary": "false",
        "beginDate": "2026-08-20",
        "endDate": "2027-06-10",
    }


def real_server_user(i: int, rng: random.Random) -> dict:
    """A user as real servers were recorded sending one: enumerations capitalized, local
    timestamps without an offset, empty strings for absent values, grades outside CEDS."""
    record = user(i, rng)
    record.update(
        status="Active",
        role="Student",
        dateLastModified="2017-08-14 00:36:18",
        enabledUser="TRUE",
        email="" if i % 3 == 0 else record["email"],
        metadata="",
        phone="",
        grades=[rng.choice(["7", "Grade 7", "6 ano - Portugues", "K", "07 "])],
    )
    return record


def real_server_enrollment(i: int, rng: random.Random) -> dict:
    record = enrollment(i, rng)
    record.update(
        status="", dateLastModified="", role="Student", primary="FALSE", endDate="", metadata=""
    )
    return record


def pages(entity: Entity, make, records: int, page_size: int, every_field: bool) -> list[bytes]:
    """Serialized pages; without `every_field`, only what `fields=` asks for (as providers that
    honour it, the local one included, send)."""
    rng = random.Random(1)
    key = entity.envelope_keys[0]

    def record(i: int) -> dict:
        full = make(i, rng)
        return full if every_field else {f: full[f] for f in entity.fields if f in full}

    return [
        orjson.dumps({key: [record(i) for i in range(start, min(start + page_size, records))]})
        for start in range(0, records, page_size)
    ]


def measure(entity: Entity, bodies: list[bytes], records: int) -> float:
    started = time.perf_counter()
    tables = [normalize_records(entity, records_from_body(entity, body)) for body in bodies]
    frame = to_frame(entity, tables)
    elapsed = time.perf_counter() - started
    assert len(frame) == records
    return records / elapsed


def measure_client(entity: Entity, bodies: list[bytes], records: int, page_size: int) -> float:
    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        body = bodies[int(request.url.params["offset"]) // page_size]
        return httpx.Response(200, content=body, headers={"X-Total-Count": str(records)})

    config = ClientConfig(
        base_url="https://provider.example",
        auth=OAuth2ClientCredentials("https://provider.example/token", "bench", "secret"),
        page_size=page_size,
        transport=httpx.MockTransport(serve),
    )
    with OneRosterClient(config) as client:
        started = time.perf_counter()
        result = client.fetch(entity)
        elapsed = time.perf_counter() - started
    assert result.stats.rows == records
    return records / elapsed


# variant label -> (record maker per entity name, every field sent)
VARIANTS = {
    "client fields": ({"users": user, "enrollments": enrollment}, False),
    "every field": ({"users": user, "enrollments": enrollment}, True),
    "real-server shapes": (
        {"users": real_server_user, "enrollments": real_server_enrollment},
        False,
    ),
}


def run(records: int, page_size: int) -> list[str]:
    lines = []
    for entity in (USERS, ENROLLMENTS):
        for variant, (makers, every_field) in VARIANTS.items():
            bodies = pages(entity, makers[entity.name], records, page_size, every_field)
            parse = max(measure(entity, bodies, records) for _ in range(3))
            client = max(measure_client(entity, bodies, records, page_size) for _ in range(3))
            lines.append(
                f"client {entity.name} ({variant}): "
                f"parse+normalize {parse:,.0f} records/s, whole fetch without network "
                f"{client:,.0f} records/s ({records:,} records, pages of {page_size})"
            )
    return lines


@click.command()
@click.option("--records", type=int, default=200_000, show_default=True)
@click.option("--page-size", type=int, default=1000, show_default=True)
def main(records: int, page_size: int) -> None:
    for line in run(records, page_size):
        click.echo(line)


if __name__ == "__main__":
    main()
