"""Each measured sync runs in a child process of its own, so that its peak memory is its own.

A child prints one JSON object as its last line of stdout (`emit`); `run_child` adds the wall
time seen from outside, the peak memory of the child's process tree (summed over the child and
anything it started) and the PostgreSQL backends' peak memory while it ran.
"""

from __future__ import annotations

import subprocess
import sys
import time

import orjson

from benchmarks.memory import BackendSampler, TreeSampler, own_peak_mb
from benchmarks.workspace import DATABASE


def emit(figures: dict) -> None:
    """The child's last line: its figures and its own peak RSS."""
    sys.stdout.write(orjson.dumps({**figures, "peak_mb": own_peak_mb()}).decode() + "\n")
    sys.stdout.flush()


def run_child(module: str, *args: str) -> dict:
    """The child's figures, or {"error": its last line on stderr} when it failed."""
    started = time.perf_counter()
    command = [sys.executable, "-m", module, *args]
    with (
        BackendSampler(DATABASE) as backends,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as child,
        TreeSampler(child.pid) as tree,
    ):
        stdout, stderr = child.communicate()
    if child.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()] or ["no message"]
        return {"error": f"exit {child.returncode}: {lines[-1].strip()}"}
    figures = orjson.loads(stdout.strip().splitlines()[-1])
    return {
        **figures,
        "process_wall_s": time.perf_counter() - started,
        "tree_peak_mb": max(tree.peak_mb, figures["peak_mb"]),
        "postgres_peak_mb": backends.peak_mb,
    }
