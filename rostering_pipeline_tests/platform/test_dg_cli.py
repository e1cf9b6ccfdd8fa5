"""Dagster's `dg` CLI works on the project (`[tool.dg]` in pyproject.toml)."""

from __future__ import annotations

import os
import subprocess

from rostering_pipeline_tests.platform.support import BIN, REPO


def test_dg_loads_and_lists_the_definitions(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}

    def dg(*args: str) -> str:
        done = subprocess.run(
            [BIN / "dg", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "All definitions loaded successfully" in dg("check", "defs")
    listed = dg("list", "defs", "--json")
    for name in ("oneroster/users", "app_db/roster", "roster_sync", "district_dispatcher"):
        assert name in listed
