"""`dev-provider` starts, serves with its flags, and stops on SIGTERM."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx

LAUNCH = "from rostering_pipeline.cli.dev_provider import dev_provider; dev_provider()"


def test_dev_provider_serves_until_terminated():
    env = {**os.environ, "PROVIDER_SECRET": "s3cret-from-env"}
    args = ["--port", "0", "--students", "300", "--client-id", "cli-client"]
    args += [
        "--client-secret-env",
        "PROVIDER_SECRET",
        "--bool-style",
        "title",
        "--users-envelope",
        "students",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        with ThreadPoolExecutor(1) as pool:
            banner = pool.submit(proc.stdout.readline).result(timeout=60)
        api_url = banner.strip().rsplit(" ", 1)[-1]
        assert api_url.startswith("http://127.0.0.1:") and api_url.endswith("/ims/oneroster/v1p1")
        token_url = api_url.removesuffix("/ims/oneroster/v1p1") + "/oauth/token"
        token = httpx.post(
            token_url,
            auth=("cli-client", "s3cret-from-env"),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        page = httpx.get(
            f"{api_url}/users", params={"limit": 5}, headers={"Authorization": f"Bearer {token}"}
        )
        users = page.json()["students"]
        assert len(users) == 5 and {u["enabledUser"] for u in users} <= {"True", "False"}
        assert int(page.headers["X-Total-Count"]) > 300
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "s3cret-from-env" not in banner + stderr


def test_dev_provider_refuses_a_missing_secret_variable():
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--port", "0", "--client-secret-env", "NOT_SET_ANYWHERE_42"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE_42"},
    )
    assert result.returncode == 2  # click's usage error: one line, no traceback
    assert "NOT_SET_ANYWHERE_42 is not set" in result.stderr and "Traceback" not in result.stderr
