"""A webhook receiver on loopback for alert tests: records JSON bodies, answers a set status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class AlertReceiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.received: list[dict] = []
        self.status = 204

    def url(self, path: str = "/hooks/T0KEN-SECRET") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"


@contextmanager
def alert_receiver() -> Iterator[AlertReceiver]:
    receiver: AlertReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.received.append(json.loads(body))
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = AlertReceiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def alert_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertReceiver]:
    """A running receiver, set as ROSTERING_ALERT_WEBHOOK_URL."""
    with alert_receiver() as running:
        monkeypatch.setenv("ROSTERING_ALERT_WEBHOOK_URL", running.url())
        yield running
