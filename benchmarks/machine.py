"""What the figures were measured on: the commit, the machine, and how busy it was."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import sqlalchemy as sa

# The benchmarks' own reports: a run that writes several sections leaves them changed.
_REPORTS = (":(exclude)benchmarks/*.md", ":(exclude)benchmarks/*.json")


def commit_stamp() -> str:
    """The short commit, plus "+dirty" when the work tree has uncommitted changes (but for
    the benchmarks' reports)."""
    commit = _git("rev-parse", "--short", "HEAD")
    return commit + ("+dirty" if _git("status", "--porcelain", "--", ".", *_REPORTS) else "")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def describe(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        postgres = conn.exec_driver_sql("SHOW server_version").scalar_one()
    return {
        "CPU": f"{cpu_model()}, {os.cpu_count()} cores",
        "RAM": f"{ram_gib():.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": postgres,
    }
