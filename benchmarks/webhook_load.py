"""The webhook receiver under load, on loopback: `webhook serve --workers 2` for 200 districts,
signed change notifications at a fixed rate (open loop: each request leaves on schedule, whether
or not earlier ones were answered), mixed with replays, bad signatures and oversized bodies.
Then one tick of the webhook sensor turns what was recorded into delta runs. Writes
`benchmarks/FLEET.md`'s webhook section.

    python -m benchmarks.webhook_load [--rate 500] [--seconds 60] [--out benchmarks/FLEET.md]
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import click
import dagster as dg
import httpx
import sqlalchemy as sa

from benchmarks.machine import commit_stamp
from benchmarks.registry_scale import fresh_database, register_fleet
from benchmarks.sections import write_section
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import sync_requests
from rostering_pipeline.defs.resources import AppDatabase, dispose_engines
from rostering_pipeline.secrets import ENV_VAR, SecretBox, new_key_entry
from rostering_pipeline.webhook import MAX_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

DISTRICTS = 200
WORKERS = 2
SECRET = "the-fleet-s-webhook-secret"  # noqa: S105 (a made-up one)
# Shares of the traffic that are not a fresh valid notification.
REPLAY, BAD_SIGNATURE, OVERSIZED = 0.04, 0.04, 0.02
P99_LIMIT_MS = 100.0
WARM_UP_S = 5.0  # connections opened, pools filled: reported apart
SHARES = {
    "replay": REPLAY,
    "bad signature": BAD_SIGNATURE,
    "oversized": OVERSIZED,
    "valid": 1 - REPLAY - BAD_SIGNATURE - OVERSIZED,
}
EXPECTED = {"valid": 202, "replay": 401, "bad signature": 401, "oversized": 413}


@dataclass
class Sent:
    kind: str
    status: int  # 0: no answer (a transport error)
    latency_ms: float
    at: float  # when it left (perf_counter)


@dataclass
class Load:
    sent: list[Sent] = field(default_factory=list)
    valid: list[tuple[str, bytes, dict]] = field(default_factory=list)  # for replays


def register(url: str) -> None:
    engine = make_engine(url)
    register_fleet(engine, DISTRICTS, SecretBox.from_env(), prefix="w", webhook_secret=SECRET)
    engine.dispose()


def request_of(kind: str, load: Load, rng: random.Random) -> tuple[str, bytes, dict]:
    if kind == "replay":
        return rng.choice(load.valid)
    key = f"w{rng.randrange(DISTRICTS):05d}"
    size = MAX_BODY_BYTES + 1024 if kind == "oversized" else 0
    body = b'{"event":"roster.changed","id":"%s"}' % uuid.uuid4().hex.encode() + b" " * size
    timestamp = int(time.time())
    secret = "not-the-district-s-secret" if kind == "bad signature" else SECRET
    headers = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}
    return key, body, headers


async def send(session: aiohttp.ClientSession, base: str, kind: str, request, load: Load) -> None:
    key, body, headers = request
    started = time.perf_counter()
    try:
        async with session.post(f"{base}/webhooks/{key}", data=body, headers=headers) as response:
            await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError):
        status = 0
    load.sent.append(Sent(kind, status, (time.perf_counter() - started) * 1000, started))
    if kind == "valid" and status == 202:
        load.valid.append(request)


async def drive(base: str, rate: int, seconds: int) -> tuple[Load, float]:
    """aiohttp, not httpx: the sender shares the receiver's 2 cores, and httpx's client costs
    several times more CPU per request."""
    load, rng = Load(), random.Random(16)
    tasks = []
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        for n in range(rate * seconds):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            (kind,) = rng.choices(list(SHARES), weights=list(SHARES.values()))
            if kind == "replay" and not load.valid:
                kind = "valid"  # nothing accepted yet to replay
            request = request_of(kind, load, rng)
            tasks.append(asyncio.create_task(send(session, base, kind, request, load)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return load, elapsed


def serve(url: str, port: int, log: Path) -> subprocess.Popen:
    cli = Path(sys.executable).with_name("rostering-pipeline")
    env = {**os.environ, "ROSTERING_DATABASE_URL": url}
    argv = [cli, "webhook", "serve", "--port", str(port), "--workers", str(WORKERS)]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/webhooks/w00000")
            return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"receiver did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)


def sensor_tick(url: str) -> tuple[int, int, float]:
    """One tick of the webhook sensor: (run requests, districts they are for, seconds)."""
    from rostering_pipeline.definitions import defs

    sensor = defs.get_sensor_def("webhook_sync_requests")
    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"app_db": AppDatabase(url=url)}
        )
        started = time.perf_counter()
        result = sensor(context)
        took = time.perf_counter() - started
    runs = result.run_requests or []
    return len(runs), len({run.partition_key for run in runs}), took


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def render(load: Load, elapsed: float, rate: int, seconds: int, rows: int, tick) -> str:
    by_kind: dict[str, list[Sent]] = {}
    for sent in load.sent:
        by_kind.setdefault(sent.kind, []).append(sent)
    answered = [s for s in load.sent if s.status]
    latencies = [s.latency_ms for s in answered]
    accepted = sum(1 for s in by_kind.get("valid", []) if s.status == 202)
    runs, districts, tick_s = tick
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    first = min(s.at for s in load.sent)
    settled = [s.latency_ms for s in answered if s.at - first >= WARM_UP_S]
    wrong = sum(1 for s in load.sent if s.status != EXPECTED[s.kind])
    lines = [
        "## Webhook receiver under load",
        "",
        f"Written by `python -m benchmarks.webhook_load` at commit **{commit_stamp()}**. "
        f"`rostering-pipeline webhook serve --workers {WORKERS}` on loopback, PostgreSQL app "
        f"database, {DISTRICTS} districts with webhook secrets; {rate} requests/s for {seconds} s "
        "sent open-loop from one asyncio process on the same 2 cores, "
        f"{REPLAY:.0%} replays of an accepted notification, {BAD_SIGNATURE:.0%} bad signatures, "
        f"{OVERSIZED:.0%} bodies over {MAX_BODY_BYTES // 1024} KiB.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| requests sent | {len(load.sent):,} in {elapsed:.1f} s |",
        f"| throughput answered | {len(answered) / elapsed:,.0f} requests/s |",
        f"| latency p50 / p99 | {p50:.1f} ms / {p99:.1f} ms "
        f"({'met' if p99 < P99_LIMIT_MS else 'missed'}: p99 under {P99_LIMIT_MS:g} ms) |",
        f"| latency p50 / p99 after the first {WARM_UP_S:g} s | "
        + (
            f"{statistics.median(settled):.1f} ms / {percentile(settled, 0.99):.1f} ms |"
            if settled
            else "— (the run was shorter) |"
        ),
        f"| no answer (transport error) | {len(load.sent) - len(answered):,} |",
        *(
            f"| {kind}: sent, answered as expected ({EXPECTED[kind]}) | {len(sents):,}, "
            f"{sum(1 for s in sents if s.status == EXPECTED[kind]):,} |"
            for kind, sents in sorted(by_kind.items())
        ),
        f"| valid notifications accepted / rows recorded | {accepted:,} / {rows:,} "
        f"({'each exactly once' if accepted == rows else 'MISMATCH'}) |",
        f"| answers other than expected | {wrong:,} |",
        f"| the sensor's next tick | {runs} delta runs for {districts} districts "
        f"({'at most one per district' if runs == districts else 'MORE THAN ONE'}), "
        f"{tick_s:.2f} s |",
    ]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--rate", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--seconds", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(rate: int, seconds: int, out: Path | None) -> None:
    os.environ.setdefault(ENV_VAR, new_key_entry("webhooks"))
    url = fresh_database()
    upgrade(url)
    register(url)
    with tempfile.TemporaryDirectory() as folder:
        port = 18000 + random.randrange(1000)
        receiver = serve(url, port, Path(folder) / "receiver.log")
        try:
            load, elapsed = asyncio.run(drive(f"http://127.0.0.1:{port}", rate, seconds))
        finally:
            receiver.terminate()
            receiver.wait(timeout=30)
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(sync_requests)).scalar_one()
    engine.dispose()
    text = render(load, elapsed, rate, seconds, rows, sensor_tick(url))
    dispose_engines()
    if out:
        write_section(out, text)
    click.echo(text)


if __name__ == "__main__":
    main()
