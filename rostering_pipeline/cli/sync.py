"""`sync KEY`: launch the district's roster_sync through the instance, wait, and report it."""

from __future__ import annotations

import click

from rostering_pipeline.errors import RosteringError
from rostering_pipeline.outcomes import describe_changes


class SyncFailed(RosteringError):
    """A run that failed; carries the exit code of the kind recorded on the district."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@click.command()
@click.argument("key")
@click.option("--mode", type=click.Choice(["full", "delta", "preview"]), default="full")
@click.option(
    "--approve-deactivations",
    type=click.IntRange(min=0),
    default=0,
    help="Apply a held sync whose deactivations total at most N.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop waiting after SECONDS (exit 1; the run goes on). Default: wait for its end.",
)
def sync(key: str, mode: str, approve_deactivations: int, timeout_s: float | None) -> None:
    """Pull, validate and apply KEY's roster now: a run of roster_sync, launched through the
    Dagster instance (its queue and limits apply) and listed under the job in the UI. Blocks
    until the run ends; exits 1 at once if the run is queued and no daemon serves the queue."""
    from rostering_pipeline.runner import run_sync  # imports Dagster: only when a sync runs

    outcome = run_sync(
        key,
        mode=mode,
        approve_deactivations=approve_deactivations,
        notify=lambda line: click.echo(line, err=True),
        timeout_s=timeout_s,
    )
    if not outcome.success:
        raise SyncFailed(f"{outcome.message} (run {outcome.run_id})", outcome.exit_code)
    click.echo(f"synced '{key}' ({mode}), run {outcome.run_id}")
    for line in describe_changes(outcome.changes):
        click.echo(f"  {line}")
