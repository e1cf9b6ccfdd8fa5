"""Helpers for tests of the production instance."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# As `make ui` and the CLI name it: `workspace.yaml`'s location `rostering_pipeline`.
WORKSPACE = REPO / "workspace.yaml"
STARTUP_S = 120
# What the UI sends to launch a run (Launchpad, an asset's Materialize button).
LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


def dagster_pg_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables the repo's dagster.yaml reads, for the database at `url`."""
    parsed = sa.make_url(url)
    return {
        "DAGSTER_PG_USERNAME": parsed.username or "",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
        "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_DB": parsed.database,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(
    argv: list[str | Path], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen]:
    """A long-lived process and whatever it starts (a process group), its output in `log`;
    terminated (then killed) on the way out."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        _signal_group(process, signal.SIGKILL)  # and whatever it left behind (a code server)
        process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def wait_started(
    what: str, process: subprocess.Popen, log: Path, ready: Callable[[], bool]
) -> None:
    """Until `ready()`; RuntimeError with the log's tail if the process ends or takes too long."""
    deadline = time.monotonic() + STARTUP_S
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.5)


def succeeds(argv: list[str | Path], env: Mapping[str, str]) -> bool:
    return subprocess.run(argv, env=dict(env), capture_output=True).returncode == 0


@contextmanager
def webserver(
    env: Mapping[str, str], log: Path, workspace: Path = WORKSPACE
) -> Iterator[Callable[..., dict]]:
    """`dagster-webserver` on the code location, as `make ui` starts it; yields a GraphQL query
    function (the UI's own API) that fails on any GraphQL error."""
    port = free_port()
    argv = [BIN / "dagster-webserver", "-w", workspace, "-h", "127.0.0.1", "-p", str(port)]
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        try:
            return httpx.get(f"{base}/server_info").status_code == 200
        except httpx.TransportError:
            return False

    with running(argv, env, log) as process:
        wait_started("webserver", process, log, serving)

        def query(text: str, **variables) -> dict:
            response = httpx.post(
                f"{base}/graphql", json={"query": text, "variables": variables}, timeout=60
            )
            response.raise_for_status()
            body = response.json()
            assert "errors" not in body, body["errors"]
            return body["data"]

        yield query


@contextmanager
def daemon(env: Mapping[str, str], log: Path, workspace: Path = WORKSPACE) -> Iterator[None]:
    """`dagster-daemon` on the code location, as `make ui` runs it: it dequeues what the UI
    launches (the run queue), and runs schedules and sensors."""
    with running([BIN / "dagster-daemon", "run", "-w", workspace], env, log) as process:
        # Until every daemon has a heartbeat, the CLI takes the queue for unserved and cancels
        # what it queued; the daemon loads the code location first, seconds on a busy machine.
        live = [BIN / "dagster-daemon", "liveness-check"]
        wait_started("daemon", process, log, lambda: succeeds(live, env))
        yield


@contextmanager
def code_server(env: Mapping[str, str], folder: Path) -> Iterator[Path]:
    """The code location served by `dagster code-server start` (gRPC), as a Deployment serves
    it in the README's Kubernetes layout; yields a workspace file that points at it."""
    port = free_port()
    argv = [BIN / "dagster", "code-server", "start", "-m", "rostering_pipeline.definitions"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "--location-name", "rostering_pipeline"]
    log = folder / "code_server.log"
    with running(argv, env, log) as process:
        health = [BIN / "dagster", "api", "grpc-health-check", "-p", str(port)]
        wait_started("code server", process, log, lambda: succeeds(health, env))
        workspace = folder / "workspace.yaml"
        workspace.write_text(
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {port}\n      location_name: rostering_pipeline\n"
        )
        yield workspace
