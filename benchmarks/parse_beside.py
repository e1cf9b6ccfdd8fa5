"""The client's parse benchmark, now and at an earlier commit, in one run on one machine.

Each side runs `benchmarks.client_parse` from its own tree (the earlier one checked out in a
temporary git worktree) in a child process; the sides take turns, and the best round of each
counts, so a busy moment of the machine does not land on one side only.

Run: `.venv/bin/python -m benchmarks.parse_beside [--baseline REV] [--records N] [--rounds N]`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import click

# The last commit before the normalizer learned what real servers send (issue 10).
BASELINE = "7b76e35"
ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"client (\w+) \(([^)]+)\): parse\+normalize ([\d,]+) records/s")


def _rates(tree: Path, records: int) -> dict[str, float]:
    """(entity, variant) label -> parse+normalize records/s of the tree's own benchmark."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.client_parse", "--records", str(records)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        f"{entity} ({variant})": float(rate.replace(",", ""))
        for entity, variant, rate in _LINE.findall(done.stdout)
    }


def compare(baseline: str, records: int, rounds: int) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), baseline],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        try:
            best_now: dict[str, float] = {}
            best_then: dict[str, float] = {}
            for _ in range(rounds):
                for best, where in ((best_then, tree), (best_now, ROOT)):
                    for label, rate in _rates(where, records).items():
                        best[label] = max(rate, best.get(label, 0.0))
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )
    return [
        f"client {label}: parse+normalize {now:,.0f} records/s now, "
        + (
            f"{best_then[label]:,.0f} at {baseline} ({now / best_then[label]:.0%})"
            if label in best_then
            else f"not measured at {baseline}"
        )
        + f"; best of {rounds} alternating rounds, {records:,} records"
        for label, now in best_now.items()
    ]


@click.command()
@click.option("--baseline", default=BASELINE, show_default=True)
@click.option("--records", type=int, default=200_000, show_default=True)
@click.option("--rounds", type=int, default=3, show_default=True)
def main(baseline: str, records: int, rounds: int) -> None:
    for line in compare(baseline, records, rounds):
        click.echo(line)


if __name__ == "__main__":
    main()
