"""`sync KEY`: run the district's roster_sync in-process and report it."""

from __future__ import annotations

import click

from rostering_pipeline.errors import RosteringError


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
def sync(key: str, mode: str, approve_deactivations: int) -> None:
    """Pull, validate and apply KEY's roster now (blocking)."""
    from rostering_pipeline.runner import run_sync  # imports Dagster: only when a sync runs

    outcome = run_sync(
        key,
        mode=mode,
        approve_deactivations=approve_deactivations,
        notify=lambda line: click.echo(line, err=True),
    )
    if not outcome.success:
        raise SyncFailed(f"{outcome.message} (run {outcome.run_id})", outcome.exit_code)
    click.echo(f"synced '{key}' ({mode}), run {outcome.run_id}")
    roster = outcome.materializations.get("app_db/roster", {})
    for name, value in sorted(roster.items()):
        if "/" in name and value:
            click.echo(f"  {name}: {value}")
