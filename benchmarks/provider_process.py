"""The local OneRoster provider in a process of its own (`dev-provider`), on a fixed port.

The dev-provider command has no way to advance the district's day from outside, so a "next day"
restarts it with `--days N` on the same port: the district is deterministic, so day N is the same
roster an in-process `advance_day()` would have produced.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from benchmarks.memory import peak_mb
from rostering_pipeline.devserver import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

LAUNCH = "from rostering_pipeline.cli.dev_provider import dev_provider; dev_provider()"
API_PREFIXES = {"1.1": "/ims/oneroster/v1p1", "1.2": "/ims/oneroster/rostering/v1p2"}


class ProviderProcess:
    def __init__(self, students: int, version: str = "1.1", *, spill: bool = False) -> None:
        self.students = students
        self.version = version
        self.spill = spill  # `--spill`: the large tables in files, not memory
        self.port = 0  # chosen by the first start, kept by restarts
        self.api_url = ""
        self.day = 0
        self.peak_mb = 0.0  # the largest peak RSS of any of its incarnations
        self._process: subprocess.Popen[str] | None = None

    def start(self, day: int = 0) -> None:
        command = [sys.executable, "-c", LAUNCH, "--port", str(self.port)]
        command += ["--students", str(self.students), "--days", str(day)]
        command += ["--oneroster-version", self.version, *(["--spill"] if self.spill else [])]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        first_line = self._process.stdout.readline().strip()
        if not first_line:
            raise RuntimeError(f"dev-provider exited with {self._process.wait()}")
        self.api_url = first_line.rsplit(" ", 1)[-1]
        self.port = httpx.URL(self.api_url).port
        self.day = day

    def stop(self) -> None:
        if self._process is None:
            return
        self.peak_mb = max(self.peak_mb, peak_mb(self._process.pid) or 0.0)
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=60)
        self._process = None

    def restart(self, day: int) -> None:
        self.stop()
        self.start(day)

    @property
    def current_peak_mb(self) -> float:
        live = peak_mb(self._process.pid) if self._process else None
        return max(self.peak_mb, live or 0.0)

    @property
    def base_url(self) -> str:
        return self.api_url.removesuffix(API_PREFIXES[self.version])

    @property
    def token_url(self) -> str:
        return self.base_url + "/oauth/token"

    def token(self) -> str:
        response = httpx.post(
            self.token_url,
            auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
            data={"grant_type": "client_credentials"},
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def __enter__(self) -> ProviderProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
