"""The component benchmarks (client parsing, provider serving, validation, reconciliation), as
lines for RESULTS.md. reconcile_speed has no function returning its figures, so it runs as its
own command and its printed table is kept."""

from __future__ import annotations

import subprocess
import sys

from benchmarks import parse_beside, provider_serve, validation_speed


def client_lines(records: int) -> list[str]:
    """Beside the last commit before the tolerant normalizer: tolerance must cost no speed."""
    return parse_beside.compare(parse_beside.BASELINE, records, rounds=3)


def provider_lines(students: int) -> list[str]:
    return provider_serve.run(students, concurrency=4)


def validation_lines() -> list[str]:
    return [
        f"validate {f['case']}: {f['rows']:,} rows in {f['seconds']:.2f} s "
        f"({f['rows'] / f['seconds']:,.0f} rows/s, {f['failing']:,} failing rows quarantined)"
        for f in validation_speed.measure()
    ]


def reconcile_lines(students: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.reconcile_speed", "--students", str(students)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()


def collect(students: int, log) -> dict[str, list[str]]:
    sections = {}
    for title, measure in (
        (
            f"Client parse (in memory, no network), beside {parse_beside.BASELINE}",
            lambda: client_lines(students),
        ),
        ("Provider serve (separate process, plain httpx)", lambda: provider_lines(students)),
        ("Validation gate (synthetic frames of the large district)", validation_lines),
        ("Reconciliation (PostgreSQL, synthetic frames)", lambda: reconcile_lines(students)),
    ):
        log(f"component: {title}")
        try:
            sections[title] = measure()
        except Exception as exc:  # one broken component must not lose the whole run's figures
            sections[title] = [f"failed: {type(exc).__name__}: {exc}"]
    return sections
