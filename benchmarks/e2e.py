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

import rostering_pipeline.defs.reconcile as reconcile_defs
from benchmarks.child import emit
from rostering_pipeline.oneroster.client import OneRosterClient
from rostering_pipeline.oneroster.csv_package import CsvPackage
from rostering_pipeline.pull_gate import Gate
from rostering_pipeline.runner import instance, sync_in_process
from rostering_pipeline.validation import Validation

STAGES: dict[str, dict[str, float]] = defaultdict(dict)


_FETCHING: list[str] = []  # the entity whose pull is under way (the gate works inside it)


def _timed(stage: str, call: Callable, name_of: Callable[..., str]) -> Callable:
    """`call`, its seconds added to the stage of the entity `name_of` gives; the gate's seconds
    spent inside a pull are also added to `gate_in_fetch_s`, to be taken out of the fetch."""

    def timed(*args, **kwargs):
        name = name_of(*args, **kwargs)
        inside = stage == "gate_s" and bool(_FETCHING)
        if stage == "pull_s":
            _FETCHING.append(name)
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            if stage == "pull_s":
                _FETCHING.pop()
            STAGES[name][stage] = STAGES[name].get(stage, 0.0) + elapsed
            if inside:
                STAGES[name]["gate_in_fetch_s"] = STAGES[name].get("gate_in_fetch_s", 0.0) + elapsed

    return timed


def instrument() -> None:
    OneRosterClient.fetch = _timed("pull_s", OneRosterClient.fetch, lambda _c, e, **_: e.name)
    CsvPackage.fetch = _timed("pull_s", CsvPackage.fetch, lambda _p, e, **_: e.name)
    Gate._take = _timed("gate_s", Gate._take, lambda gate, *_: gate.entity)
    Validation.verdict = _timed("gate_s", Validation.verdict, lambda v: v.entity)
    reconcile_defs.reconcile = _timed("reconcile_s", reconcile_defs.reconcile, lambda *_, **__: "")


def stage_seconds(name: str) -> dict[str, float]:
    """The entity's fetch (requests and parsing, the gate's share taken out) and gate (chunks
    aligned, restricted, written, validated; the verdict) seconds."""
    seconds = STAGES[name]
    return {
        "fetch_s": seconds.get("pull_s", 0.0) - seconds.get("gate_in_fetch_s", 0.0),
        "gate_s": seconds.get("gate_s", 0.0),
    }


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
                **stage_seconds(name),
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
