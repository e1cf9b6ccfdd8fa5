"""Writes the benchmark district (day 0) as a OneRoster 1.1 CSV zip with the local provider's
`dev-provider export-csv`, in a process of its own.

    python -m benchmarks.csv_write STUDENTS OUT.zip

Prints one JSON line (see benchmarks/child.py): the seconds taken and the zip's size.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click

from benchmarks.child import emit


@click.command()
@click.argument("students", type=int)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def main(students: int, out: Path) -> None:
    script = Path(sys.executable).with_name("rostering-pipeline")
    started = time.perf_counter()
    subprocess.run(
        [str(script), "dev-provider", "--students", str(students), "export-csv", str(out)],
        check=True,
        capture_output=True,
    )
    emit({"write_s": time.perf_counter() - started, "zip_bytes": out.stat().st_size})


if __name__ == "__main__":
    main()
