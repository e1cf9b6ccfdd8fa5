"""The floor: the least work that still lands every record in PostgreSQL.

    python -m benchmarks.floor API_URL TOKEN_URL DATABASE_URL SCHEMA [--whole-pull]

Per collection: the same requests as the pipeline's client (pages of 1,000, `sort=sourcedId`,
the same `fields=`), the pages after the first fetched 4 at a time with plain httpx, every body
parsed with orjson, the raw records COPYed into `SCHEMA.<entity> (sourced_id, record jsonb)`
after a TRUNCATE, in one transaction. No normalization, no validation, no diff, no snapshot.

By default each page is COPYed as it arrives (at most 4 pages held), so the floor's memory does
not grow with the district. `--whole-pull` is the earlier floor: a collection's every record
held, then COPYed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import click
import httpx
import orjson
import psycopg

from benchmarks.child import emit
from rostering_pipeline.devserver import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from rostering_pipeline.oneroster.entities import ENTITIES, Entity

PAGE_SIZE = 1000
CONCURRENCY = 4


def token(token_url: str) -> str:
    response = httpx.post(
        token_url,
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
    )
    response.raise_for_status()
    return response.json()["access_token"]


def pages(client: httpx.Client, entity: Entity) -> Iterator[list[dict]]:
    """The collection's records a page at a time, in `sourcedId` order, with at most
    CONCURRENCY requests in flight and nothing fetched ahead beyond them."""
    key = entity.envelope_keys[0]

    def page(offset: int) -> httpx.Response:
        params = {"limit": PAGE_SIZE, "offset": offset, "sort": "sourcedId"}
        response = client.get(entity.path, params={**params, "fields": ",".join(entity.fields)})
        response.raise_for_status()
        return response

    first = page(0)
    total = int(first.headers["X-Total-Count"])
    records = orjson.loads(first.content)[key]
    seen = len(records)
    yield records
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        offsets = iter(range(PAGE_SIZE, total, PAGE_SIZE))
        in_flight = deque(pool.submit(page, offset) for offset in islice(offsets, CONCURRENCY))
        while in_flight:
            response = in_flight.popleft().result()
            in_flight.extend(pool.submit(page, offset) for offset in islice(offsets, 1))
            records = orjson.loads(response.content)[key]
            seen += len(records)
            yield records
    if seen != total:
        raise RuntimeError(f"{entity.path}: {seen} records of {total}")


def fetch_all(client: httpx.Client, entity: Entity) -> list[dict]:
    """Every record of the collection, in `sourcedId` order."""
    return [record for page in pages(client, entity) for record in page]


def api_client(api_url: str, token_url: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token(token_url)}"}
    return httpx.Client(base_url=api_url, headers=headers, timeout=120)


def copy_raw(
    conn: psycopg.Connection, schema: str, entity: str, batches: Iterable[list[dict]]
) -> int:
    """A TRUNCATE, then every batch's records COPYed as they come; how many were."""
    table = f"{schema}.{entity}"
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (sourced_id text, record jsonb)")
    conn.execute(f"TRUNCATE {table}")
    rows = 0
    with conn.cursor().copy(f"COPY {table} (sourced_id, record) FROM STDIN") as copy:
        for records in batches:
            for record in records:
                copy.write_row((record["sourcedId"], orjson.dumps(record).decode()))
            rows += len(records)
    return rows


@click.command()
@click.argument("api_url")
@click.argument("token_url")
@click.argument("database_url")
@click.argument("schema")
@click.option("--whole-pull", is_flag=True, help="Hold a collection's records, then COPY them.")
def main(api_url: str, token_url: str, database_url: str, schema: str, whole_pull: bool) -> None:
    stages: dict[str, dict[str, float]] = {}
    rows = 0
    started = time.perf_counter()
    with api_client(api_url, token_url) as client, psycopg.connect(database_url) as conn:
        for name, entity in ENTITIES.items():
            begin = time.perf_counter()
            batches = [fetch_all(client, entity)] if whole_pull else pages(client, entity)
            rows += copy_raw(conn, schema, name, batches)
            stages[name] = {"seconds": time.perf_counter() - begin}
        conn.commit()
    emit({"total_s": time.perf_counter() - started, "rows": rows, "entities": stages})


if __name__ == "__main__":
    main()
