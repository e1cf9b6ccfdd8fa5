"""How fast the local OneRoster provider generates the large district and serves it.

Run: `.venv/bin/python -m benchmarks.provider_serve [--students N]`. Prints the generation time
and records/s served for users and enrollments at several page sizes, as seen by a real HTTP client
(httpx on loopback, bodies parsed with orjson, pages fetched one after another).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import click
import httpx
import orjson

from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings, generate

PAGE_SIZES = (1000, 5000, 10_000)
ENTITIES = ("users", "enrollments")


@dataclass(frozen=True)
class Throughput:
    entity: str
    page_size: int
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


def measure_generation(spec: DistrictSpec) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    district = generate(spec)
    return time.perf_counter() - started, district.counts()


def measure_serving(server: ProviderServer, entity: str, page_size: int) -> Throughput:
    settings = server.provider.settings
    with httpx.Client(timeout=120) as client:
        token = client.post(
            server.token_url,
            auth=(settings.client_id, settings.client_secret),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{server.api_url}/{entity}"
        started = time.perf_counter()
        records, offset, total = 0, 0, None
        while total is None or offset < total:
            params = {"limit": page_size, "offset": offset, "sort": "sourcedId"}
            response = client.get(url, params=params, headers=headers)
            response.raise_for_status()
            rows = orjson.loads(response.content)[entity]
            total = int(response.headers["X-Total-Count"])
            records += len(rows)
            offset += len(rows)
        return Throughput(entity, page_size, records, time.perf_counter() - started)


def run(spec: DistrictSpec) -> list[str]:
    seconds, counts = measure_generation(spec)
    lines = [f"generation of {spec.students:,} students: {seconds:.1f} s {counts}"]
    with ProviderServer(ProviderSettings(district=spec)) as server:
        for entity in ENTITIES:
            for page_size in PAGE_SIZES:
                t = measure_serving(server, entity, page_size)
                lines.append(
                    f"served {t.entity} at limit={t.page_size}: {t.records:,} records in "
                    f"{t.seconds:.1f} s = {t.per_second:,.0f} records/s"
                )
    return lines


@click.command()
@click.option("--students", type=int, default=None, help="Default: the large district.")
def main(students: int | None) -> None:
    spec = DistrictSpec.sized(students) if students else DistrictSpec.large()
    for line in run(spec):
        click.echo(line)


if __name__ == "__main__":
    main()
