"""`rostering-pipeline sync` timed from outside: the CLI's whole path (interpreter start, the code
location loaded, the run launched through the instance and executed by its forked worker, the
CLI's exit), to set beside `benchmarks.e2e`, which executes the same job in its own process.

    python -m benchmarks.cli_sync KEY [--rounds N]

Emits the median of the rounds (a small district's sync is a few seconds: one round is noise).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

from benchmarks.child import emit


@click.command()
@click.argument("district_key")
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True)
def main(district_key: str, rounds: int) -> None:
    cli = Path(sys.executable).with_name("rostering-pipeline")
    rounds_s = []
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run([str(cli), "sync", district_key], capture_output=True, text=True)
        rounds_s.append(time.perf_counter() - started)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise click.ClickException(f"sync exited {done.returncode}: {last}")
    emit({"total_s": statistics.median(rounds_s), "rounds_s": rounds_s})


if __name__ == "__main__":
    main()
