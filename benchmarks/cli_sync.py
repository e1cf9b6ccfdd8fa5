"""`rostering-pipeline sync KEY` timed from outside: the CLI's whole path (interpreter start, a code
server, the run launched through the instance and executed by a run worker), to set beside
`benchmarks.e2e`, which executes the same job in its own process.

    python -m benchmarks.cli_sync KEY
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click

from benchmarks.child import emit


@click.command()
@click.argument("district_key")
def main(district_key: str) -> None:
    cli = Path(sys.executable).with_name("rostering-pipeline")
    started = time.perf_counter()
    done = subprocess.run([str(cli), "sync", district_key], capture_output=True, text=True)
    total = time.perf_counter() - started
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise click.ClickException(f"sync exited {done.returncode}: {last}")
    emit({"total_s": total})


if __name__ == "__main__":
    main()
