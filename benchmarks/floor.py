"""The floor: the least work that still lands every record in PostgreSQL.

    python -m benchmarks.floor API_URL TOKEN_URL DATABASE_URL SCHEMA

Per collection: the same requests as the pipeline's client (pages of 1,000, `sort=sourcedId`,
the same `fields=`), the pages after the first fetched 4 at a time with plain httpx, every body
parsed with orjson, then the raw records COPYed into `SCHEMA.<entity> (sourced_id, record jsonb)`
after a TRUNCATE, in one transaction. No normalization, no validation, no diff, no snapshot.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

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


def fetch_all(client: httpx.Client, entity: Entity) -> list[dict]:
    """Every record of the collection, in `sourcedId` order."""
    key = entity.envelope_keys[0]

    def page(offset: int) -> httpx.Response:
        params = {"limit": PAGE_SIZE, "offset": offset, "sort": "sourcedId"}
        response = client.get(entity.path, params={**params, "fields": ",".join(entity.fields)})
        response.raise_for_status()
        return response

    first = page(0)
    total = int(first.headers["X-Total-Count"])
    records = orjson.loads(first.content)[key]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for response in pool.map(page, range(PAGE_SIZE, total, PAGE_SIZE)):
            records += orjson.loads(response.content)[key]
    if len(records) != total:
        raise RuntimeError(f"{entity.path}: {len(records)} records of {total}")
    return records


def api_client(api_url: str, token_url: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token(token_url)}"}
    return httpx.Client(base_url=api_url, headers=headers, timeout=120)


def copy_raw(conn: psycopg.Connection, schema: str, entity: str, records: list[dict]) -> None:
    table = f"{schema}.{entity}"
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (sourced_id text, record jsonb)")
    conn.execute(f"TRUNCATE {table}")
    with conn.cursor().copy(f"COPY {table} (sourced_id, record) FROM STDIN") as copy:
        for record in records:
            copy.write_row((record["sourcedId"], orjson.dumps(record).decode()))


@click.command()
@click.argument("api_url")
@click.argument("token_url")
@click.argument("database_url")
@click.argument("schema")
def main(api_url: str, token_url: str, database_url: str, schema: str) -> None:
    stages: dict[str, dict[str, float]] = {}
    rows = 0
    started = time.perf_counter()
    with api_client(api_url, token_url) as client, psycopg.connect(database_url) as conn:
        for name, entity in ENTITIES.items():
            begin = time.perf_counter()
            records = fetch_all(client, entity)
            fetched = time.perf_counter()
            copy_raw(conn, schema, name, records)
            stages[name] = {"fetch_s": fetched - begin, "copy_s": time.perf_counter() - fetched}
            rows += len(records)
        conn.commit()
    emit({"total_s": time.perf_counter() - started, "rows": rows, "entities": stages})


if __name__ == "__main__":
    main()
