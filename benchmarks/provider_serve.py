"""How fast the local OneRoster provider generates the large district and serves it.

Run: `.venv/bin/python -m benchmarks.provider_serve [--students N] [--concurrency N]`. Prints the
generation time (in this process) and the records/s served for users and enrollments at several
page sizes, as seen by a real HTTP client: the provider runs as `dev-provider` in its own process,
httpx fetches the pages after the first with a few concurrent requests (like the pipeline's
client) and parses every body with orjson. The provider caches each record's wire bytes (within
a memory budget), so the first size measured is a cold pull and the later ones mostly warm.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import click
import httpx
import orjson

from rostering_pipeline.devserver import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DistrictSpec,
    generate,
)

PAGE_SIZES = (1000, 5000, 10_000)
ENTITIES = ("users", "enrollments")
# What the pipeline's client asks for (`fields=`): no made-up private fields to render.
CLIENT_FIELDS = {
    "users": "sourcedId,status,dateLastModified,username,enabledUser,givenName,familyName,"
    "middleName,role,identifier,email,orgs,grades",
    "enrollments": "sourcedId,status,dateLastModified,user,class,school,role,primary,"
    "beginDate,endDate",
}
LAUNCH = "from rostering_pipeline.cli.dev_provider import dev_provider; dev_provider()"


@dataclass(frozen=True)
class Throughput:
    entity: str
    page_size: int
    fields: bool
    records: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds


def measure_generation(spec: DistrictSpec) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    district = generate(spec)
    return time.perf_counter() - started, district.counts()


def measure_serving(
    api_url: str, token: str, entity: str, page_size: int, concurrency: int, fields: str | None
) -> Throughput:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=300) as client:

        def page(offset: int) -> tuple[int, int]:
            params = {"limit": page_size, "offset": offset, "sort": "sourcedId"}
            if fields:
                params["fields"] = fields
            response = client.get(f"/{entity}", params=params)
            response.raise_for_status()
            return len(orjson.loads(response.content)[entity]), int(
                response.headers["X-Total-Count"]
            )

        started = time.perf_counter()
        records, total = page(0)
        with ThreadPoolExecutor(concurrency) as pool:
            records += sum(n for n, _ in pool.map(page, range(page_size, total, page_size)))
        seconds = time.perf_counter() - started
    if records != total:
        raise RuntimeError(f"{entity}: got {records} records of {total}")
    return Throughput(entity, page_size, fields is not None, records, seconds)


def run(students: int, concurrency: int) -> list[str]:
    spec = DistrictSpec.large() if students == 200_000 else DistrictSpec.sized(students)
    seconds, counts = measure_generation(spec)
    lines = [f"generated {students:,} students in {seconds:.1f} s: {counts}"]
    args = ["--port", "0", "--students", str(students), "--schools", str(spec.schools)]
    server = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        api_url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        token = httpx.post(
            api_url.removesuffix("/ims/oneroster/v1p1") + "/oauth/token",
            auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        for entity in ENTITIES:
            for fields in (None, CLIENT_FIELDS[entity]):
                for page_size in PAGE_SIZES:
                    t = measure_serving(api_url, token, entity, page_size, concurrency, fields)
                    lines.append(
                        f"served {t.entity} ({'client fields' if t.fields else 'every field'}) "
                        f"at limit={t.page_size}, {concurrency} concurrent: {t.records:,} records "
                        f"in {t.seconds:.1f} s = {t.per_second:,.0f} records/s"
                    )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return lines


@click.command()
@click.option(
    "--students", type=int, default=200_000, show_default=True, help="200,000 = the large district."
)
@click.option("--concurrency", type=int, default=4, show_default=True)
def main(students: int, concurrency: int) -> None:
    for line in run(students, concurrency):
        click.echo(line)


if __name__ == "__main__":
    main()
