"""One sync of one district through Dagster (`sync_in_process`: the `roster_sync` job executed in
this process, so that the stages can be timed here), in a process of its own.

    python -m benchmarks.e2e KEY --mode full|delta [--package ZIP]   (ZIP: a CSV district's)

Prints one JSON line (see benchmarks/child.py). Stages come from two sources: Dagster's event log
(each step's start and success) and timers wrapped, in this process only, around the three calls
that do the work inside the steps: the fetch (the REST client's, or the CSV package's read), the
validation gate and the reconciliation.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import click
from dagster import DagsterEventType

import rostering_pipeline.defs.extract as extract_defs
import rostering_pipeline.defs.reconcile as reconcile_defs
from benchmarks.child import emit
from rostering_pipeline.oneroster.client import OneRosterClient
from rostering_pipeline.oneroster.csv_package import CsvPackage
from rostering_pipeline.runner import instance, sync_in_process

STAGES: dict[str, dict[str, float]] = defaultdict(dict)


def _timed(stage: str, call: Callable, name_of: Callable[..., str]) -> Callable:
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            STAGES[name_of(*args, **kwargs)][stage] = time.perf_counter() - started

    return timed


def instrument() -> None:
    OneRosterClient.fetch = _timed("fetch_s", OneRosterClient.fetch, lambda _c, e, **_: e.name)
    CsvPackage.fetch = _timed("fetch_s", CsvPackage.fetch, lambda _p, e, **_: e.name)
    extract_defs.validate = _timed("validate_s", extract_defs.validate, lambda name, *_, **__: name)
    reconcile_defs.reconcile = _timed("reconcile_s", reconcile_defs.reconcile, lambda *_, **__: "")


def step_failures(run_id: str) -> str:
    """The first line of each failed step's error, for a failure worth reading in RESULTS.md."""
    failures = []
    for record in instance().all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        error = record.dagster_event.event_specific_data.error
        failures.append(f"{record.dagster_event.step_key}: {error.message.strip().splitlines()[0]}")
    return "; ".join(failures)


def step_seconds(run_id: str) -> dict[str, float]:
    """Seconds from each step's start to its success, by step key (`oneroster__users`...)."""
    starts, seconds = {}, {}
    for record in instance().all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            seconds[event.step_key] = record.timestamp - starts[event.step_key]
    return seconds


@click.command()
@click.argument("district_key")
@click.option("--mode", type=click.Choice(["full", "delta"]), default="full")
@click.option("--package", help="A CSV district's package to load.")
def main(district_key: str, mode: str, package: str | None) -> None:
    from rostering_pipeline.definitions import defs  # noqa: F401  (loaded before the clock starts)

    instrument()
    started = time.perf_counter()
    outcome = sync_in_process(district_key, mode=mode, package=package)
    total = time.perf_counter() - started
    if not outcome.success:
        detail = step_failures(outcome.run_id) or outcome.message
        raise click.ClickException(f"sync failed, exit code {outcome.exit_code}: {detail}")
    steps = step_seconds(outcome.run_id)
    entities = {}
    for asset, metadata in outcome.materializations.items():
        group, name = asset.split("/")
        if group == "oneroster":
            entities[name] = {
                "rows": metadata["dagster/row_count"],
                "asset_s": metadata["duration_s"],
                "step_s": steps.get(f"oneroster__{name}"),
                **STAGES[name],
            }
    roster = outcome.materializations["app_db/roster"]
    emit(
        {
            "total_s": total,
            "mode": roster["mode"],
            "entities": entities,
            "roster_step_s": steps.get("app_db__roster"),
            "reconcile_s": STAGES[""].get("reconcile_s"),
            "changes": {
                f"{entity}/{action}": count
                for entity, counts in outcome.changes.items()
                for action, count in counts.items()
                if count
            },
        }
    )


if __name__ == "__main__":
    main()
