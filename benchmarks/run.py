"""`make bench`: every benchmark in one run; writes benchmarks/RESULTS.md.

    .venv/bin/python -m benchmarks.run [--sizes 1000,20000,200000] [--largest 1000000]
                                       [--skip-peers] [--skip-components]
                                       [--out benchmarks/RESULTS.md] [--render-only]

The default is the whole thing: three district sizes up to the large one (200,000 students,
about 1.7 million records), the four sync scenarios of the project through Dagster, the floor,
dlt and naive baselines beside them, the largest district (1,000,000 students, about 8.7
million records: the project's first sync beside the floor's) and the component benchmarks.
The figures are kept beside the report (RESULTS.json), which `--render-only` writes again.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from benchmarks import components, machine, report
from benchmarks.scenarios import SizeResult, run_largest, run_size
from benchmarks.workspace import Workspace

DEFAULT_SIZES = "1000,20000,200000"
LARGEST = 1_000_000
NAIVE_MAX_ROWS = 200_000
RESULTS = Path(__file__).with_name("RESULTS.md")


def log(message: str) -> None:
    click.echo(f"[{time.strftime('%H:%M:%S')}] {message}", err=True)


@click.command()
@click.option("--sizes", default=DEFAULT_SIZES, show_default=True, help="Students per district.")
@click.option(
    "--largest",
    type=click.IntRange(0),
    default=LARGEST,
    show_default=True,
    help="Students of the largest district (first sync and floor only); 0 leaves it out.",
)
@click.option("--skip-peers", is_flag=True, help="Leave out the floor, dlt and naive baselines.")
@click.option("--skip-components", is_flag=True, help="Leave out the component benchmarks.")
@click.option("--naive-max-rows", type=int, default=NAIVE_MAX_ROWS, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=RESULTS)
@click.option(
    "--render-only",
    is_flag=True,
    help="Measure nothing: write the report again from the figures the last run kept beside it.",
)
def main(
    sizes: str,
    largest: int,
    skip_peers: bool,
    skip_components: bool,
    naive_max_rows: int,
    out: Path,
    render_only: bool,
) -> None:
    if render_only:
        write(out, json.loads(figures_path(out).read_text()))
        return
    students = sorted(int(n) for n in sizes.split(","))
    started = time.perf_counter()
    load_before = machine.load_average()
    stamp = machine.commit_stamp()  # before the run: RESULTS.md itself is about to change
    results = []
    with Workspace() as ws:
        description = machine.describe(ws.engine)
        for n in students:
            results.append(
                run_size(ws, n, peers=not skip_peers, naive_max_rows=naive_max_rows, log=log)
            )
        largest_result = run_largest(ws, largest, log=log) if largest else None
    component_lines = {} if skip_components else components.collect(students[-1], log)
    figures = {
        "stamp": stamp,
        "machine": description,
        "load_before": load_before,
        "load_after": machine.load_average(),
        "wall_s": time.perf_counter() - started,
        "command": shlex.join(["python", "-m", "benchmarks.run", *sys.argv[1:]]),
        "sizes": [dataclasses.asdict(size) for size in results],
        "largest": dataclasses.asdict(largest_result) if largest_result else None,
        "components": component_lines,
        "naive_max_rows": naive_max_rows,
        "finished_at": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
    }
    figures_path(out).write_text(json.dumps(figures, indent=1) + "\n")
    write(out, figures)


def figures_path(out: Path) -> Path:
    """Where the run's figures are kept beside its report, so that it can be written again."""
    return out.with_suffix(".json")


def write(out: Path, figures: dict) -> None:
    sizes = [SizeResult(**size) for size in figures["sizes"]]
    largest = SizeResult(**figures["largest"]) if figures["largest"] else None
    text = report.render(**{**figures, "sizes": sizes, "largest": largest})
    out.write_text(text)
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
