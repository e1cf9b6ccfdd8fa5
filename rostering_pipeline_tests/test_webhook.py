"""The webhook receiver over real HTTP: `rostering-pipeline webhook serve` as a subprocess."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from rostering_pipeline import webhook
from rostering_pipeline.appdb import engine as appdb_engine
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import districts, sync_requests
from rostering_pipeline.districts import add_district, set_status
from rostering_pipeline.secrets import SecretBox, parse_keys
from rostering_pipeline.webhook import CONNECTIONS, MAX_BODY_BYTES, WINDOW_S, sign

WEBHOOK_SECRET = "whsec-for-the-receiver-test"
REFUSED = {"error": "unauthorized"}
SCRIPT = Path(sys.executable).with_name("rostering-pipeline")


@dataclass(frozen=True)
class Receiver:
    url: str
    engine: sa.Engine
    log: Path
    keys_file: Path

    def post(self, key: str, body: bytes, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/{key}", content=body, headers=headers)

    def signed(self, key: str, *, secret: str = WEBHOOK_SECRET, skew: int = 0) -> httpx.Response:
        body = event()
        return self.post(key, body, **signature_headers(body, secret=secret, skew=skew))

    def requests(self, key: str) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(sync_requests.join(districts))
            .where(districts.c.key == key)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()


def event() -> bytes:
    """A notification body; each one unique, as providers' event ids are."""
    return b'{"event":"roster.changed","id":"%s"}' % uuid.uuid4().hex.encode()


def signature_headers(body: bytes, *, secret: str = WEBHOOK_SECRET, skew: int = 0) -> dict:
    timestamp = int(time.time()) + skew
    return {
        "X-Rostering-Timestamp": str(timestamp),
        "X-Rostering-Signature": sign(secret, timestamp, body),
    }


FOREIGN_KEY = "k9:" + base64.b64encode(os.urandom(32)).decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _register(engine: sa.Engine, box: SecretBox) -> None:
    common = {
        "base_url": "http://127.0.0.1:9/",
        "token_url": "http://127.0.0.1:9/oauth/token",
        "client_id": "c",
        "client_secret": "provider-secret",
        "box": box,
    }
    with engine.begin() as conn:
        add_district(conn, key="d1", name="One", webhook_secret=WEBHOOK_SECRET, **common)
        add_district(conn, key="paused", name="Paused", webhook_secret=WEBHOOK_SECRET, **common)
        add_district(conn, key="nosecret", name="No webhook secret", **common)
        set_status(conn, "paused", "paused")
        # sealed under a key the receiver does not hold (rotated away, or another deployment's)
        foreign = SecretBox(parse_keys(FOREIGN_KEY))
        add_district(
            conn, key="foreign", name="Foreign key", webhook_secret=WEBHOOK_SECRET,
            **{**common, "box": foreign},
        )  # fmt: skip


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Iterator[Receiver]:
    with serving(tmp_path_factory, workers=1) as served:
        yield served


@contextmanager
def serving(tmp_path_factory, *, workers: int) -> Iterator[Receiver]:
    folder = tmp_path_factory.mktemp("webhook")
    url = f"sqlite:///{folder / 'app.db'}"
    keys = "k1:" + base64.b64encode(os.urandom(32)).decode()
    upgrade(url)
    engine = make_engine(url)
    _register(engine, SecretBox(parse_keys(keys)))
    port = _free_port()
    keys_file = folder / "secret_keys"  # as a mounted secret: the receiver reads the file
    keys_file.write_text(keys + "\n")
    env = {
        **os.environ,
        "ROSTERING_DATA_DIR": str(folder),
        "ROSTERING_DATABASE_URL": url,
        "ROSTERING_SECRET_KEYS_FILE": str(keys_file),
    }
    env.pop("ROSTERING_SECRET_KEYS", None)
    log = folder / "receiver.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [SCRIPT, "webhook", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/webhooks/d1")
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"receiver did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield Receiver(base, engine, log, keys_file)
    finally:
        process.terminate()
        process.wait(timeout=10)
        engine.dispose()


def test_signed_request_is_accepted_and_recorded(receiver):
    before = receiver.requests("d1")
    response = receiver.signed("d1")
    assert response.status_code == 202
    assert receiver.requests("d1") == before + 1
    with receiver.engine.connect() as conn:
        pending = conn.execute(
            sa.select(sa.func.count()).where(sync_requests.c.consumed_at.is_(None))
        ).scalar_one()
    assert pending >= 1


def test_a_replay_is_refused(receiver):
    body = event()
    headers = signature_headers(body)
    before = receiver.requests("d1")
    assert receiver.post("d1", body, **headers).status_code == 202
    replay = receiver.post("d1", body, **headers)
    assert replay.status_code == 401 and replay.json() == REFUSED
    assert receiver.requests("d1") == before + 1


@pytest.mark.parametrize(
    ("case", "skew", "secret"),
    [
        ("wrong secret", 0, "someone-else's-secret"),
        ("stale timestamp", -(WINDOW_S + 60), WEBHOOK_SECRET),
        ("future timestamp", WINDOW_S + 60, WEBHOOK_SECRET),
    ],
)
def test_bad_signature_or_timestamp_is_refused(receiver, case, skew, secret):
    before = receiver.requests("d1")
    response = receiver.signed("d1", secret=secret, skew=skew)
    assert response.status_code == 401, case
    assert response.json() == REFUSED
    assert receiver.requests("d1") == before


def test_just_inside_the_window_is_accepted(receiver):
    assert receiver.signed("d1", skew=-(WINDOW_S - 30)).status_code == 202
    assert receiver.signed("d1", skew=WINDOW_S - 30).status_code == 202


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Rostering-Timestamp": "not-a-number", "X-Rostering-Signature": "sha256=00"},
        {"X-Rostering-Timestamp": "-5", "X-Rostering-Signature": "sha256=00"},
    ],
    ids=["no headers", "malformed timestamp", "negative timestamp"],
)
def test_missing_or_malformed_headers_are_refused(receiver, headers):
    response = receiver.post("d1", event(), **headers)
    assert response.status_code == 401 and response.json() == REFUSED


def test_a_tampered_body_is_refused(receiver):
    body = event()
    response = receiver.post("d1", body + b" ", **signature_headers(body))
    assert response.status_code == 401


@pytest.mark.parametrize("key", ["unknown", "nosecret", "../d1", "x" * 300])
def test_unknown_district_or_missing_secret_looks_like_a_bad_signature(receiver, key):
    response = receiver.signed(key)
    assert response.status_code in (401, 404)  # "../d1" never reaches the route
    if response.status_code == 401:
        assert response.json() == REFUSED
    assert receiver.requests("nosecret") == 0


def test_paused_district_is_recorded(receiver):
    before = receiver.requests("paused")
    assert receiver.signed("paused").status_code == 202
    assert receiver.requests("paused") == before + 1  # the sensor consumes and ignores it


def test_body_over_the_limit_is_refused_with_or_without_content_length(receiver):
    large = b"x" * (MAX_BODY_BYTES + 1)
    headers = signature_headers(large)
    assert receiver.post("d1", large, **headers).status_code == 413

    def chunked():  # no Content-Length: the limit must hold while streaming
        for start in range(0, len(large), 8192):
            yield large[start : start + 8192]

    response = httpx.post(f"{receiver.url}/webhooks/d1", content=chunked(), headers=headers)
    assert response.status_code == 413


def test_only_post_is_served(receiver):
    assert httpx.get(f"{receiver.url}/webhooks/d1").status_code == 405


def test_logs_name_outcomes_but_never_the_secret_or_signature(receiver):
    receiver.signed("d1")
    receiver.signed("d1", secret="wrong")
    log = receiver.log.read_text()
    assert "accepted" in log and "refused: bad signature" in log
    assert WEBHOOK_SECRET not in log
    assert not re.search(r"[0-9a-f]{64}", log)  # no signature, expected or received


def test_a_secret_the_receiver_cannot_decrypt_is_the_same_401(receiver):
    """Not a 500, which would also tell a caller that the district exists; the log says why."""
    recorded = receiver.requests("foreign")
    response = receiver.signed("foreign")
    assert (response.status_code, response.json()) == (401, REFUSED)
    assert receiver.requests("foreign") == recorded
    assert "cannot be decrypted" in receiver.log.read_text()


def test_a_rotated_keys_file_takes_effect_without_a_restart(receiver):
    """The key a district's secret is under arrives in the mounted file: the next request is
    accepted by the same process."""
    before = receiver.keys_file.read_text()
    recorded = receiver.requests("foreign")
    assert receiver.signed("foreign").status_code == 401
    try:
        receiver.keys_file.write_text(before.strip() + "\n" + FOREIGN_KEY + "\n")
        response = receiver.signed("foreign")
        assert response.status_code == 202, response.text
        assert receiver.requests("foreign") == recorded + 1
    finally:
        receiver.keys_file.write_text(before)
    assert receiver.signed("foreign").status_code == 401  # and taken away again


def test_two_workers_record_each_request_once_and_refuse_replays_across_them(tmp_path_factory):
    """`--workers 2`: concurrent notifications, each sent twice at once (the copies may land on
    different workers), are recorded exactly once each; every second copy is refused."""
    with serving(tmp_path_factory, workers=2) as served:
        bodies = [event() for _ in range(40)]
        sends = [(body, signature_headers(body)) for body in bodies for _ in range(2)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda s: served.post("d1", s[0], **s[1]).status_code, sends))
        log = served.log.read_text()

    assert sorted(statuses) == [202] * len(bodies) + [401] * len(bodies)
    assert served.requests("d1") == len(bodies)
    workers = set(re.findall(r"Started server process \[(\d+)\]", log))
    assert len(workers) == 2, log[-2000:]
    assert "refused: replayed signature" in log


def test_a_burst_waits_for_the_worker_s_few_connections_kept_open(empty_pg_url, monkeypatch):
    """64 requests at once, each holding its connection for 50 ms: all recorded, while no more
    than CONNECTIONS are at the database at once and no more connections are opened. Before,
    up to 40 threads took up to 15 connections, closing and reopening them as the load came and
    went, which is what made the receiver's slowest answers slow (benchmarks/FLEET.md)."""
    upgrade(empty_pg_url)
    entry = "k1:" + base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("ROSTERING_DATABASE_URL", empty_pg_url)
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", entry)
    engine = make_engine(empty_pg_url)
    _register(engine, SecretBox(parse_keys(entry)))
    at_once, peak, lock = [0], [0], threading.Lock()
    looked_up = webhook.get_district

    def slow_lookup(conn: sa.Connection, key: str):
        with lock:
            at_once[0] += 1
            peak[0] = max(peak[0], at_once[0])
        time.sleep(0.05)
        with lock:
            at_once[0] -= 1
        return looked_up(conn, key)

    monkeypatch.setattr(webhook, "get_district", slow_lookup)
    database = sa.make_url(empty_pg_url).database
    opened = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
    with engine.connect() as conn:  # other tests of this process may hold some already
        before = conn.execute(opened, {"name": database}).scalar_one()
    receivers: list[sa.Engine] = []
    ready = appdb_engine.ready_engine

    def receiver_engine(*args, **kwargs) -> sa.Engine:
        receivers.append(ready(*args, **kwargs))
        return receivers[-1]

    monkeypatch.setattr(appdb_engine, "ready_engine", receiver_engine)
    app = webhook.app_from_env()  # as each worker of `webhook serve` builds it
    bodies = [event() for _ in range(64)]

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            sends = [
                client.post("/webhooks/d1", content=body, headers=signature_headers(body))
                for body in bodies
            ]
            return [response.status_code for response in await asyncio.gather(*sends)]

    statuses = asyncio.run(burst())

    assert statuses == [202] * len(bodies)
    assert peak[0] == CONNECTIONS
    with engine.connect() as conn:
        recorded = conn.execute(sa.select(sa.func.count()).select_from(sync_requests)).scalar_one()
        kept = conn.execute(opened, {"name": database}).scalar_one() - before
    assert recorded == len(bodies)
    assert kept == CONNECTIONS  # the receiver's, kept open
    for made in (*receivers, engine):
        made.dispose()
