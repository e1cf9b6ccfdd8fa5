"""`sync KEY`: launch the district's roster_sync through the instance, wait, and report it."""

from __future__ import annotations

from pathlib import Path

import click

from rostering_pipeline.errors import RosteringError
from rostering_pipeline.outcomes import describe_changes


class SyncFailed(RosteringError):
    """A run that failed; carries the exit code of the kind recorded on the district."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


approve_option = click.option(
    "--approve-deactivations",
    type=click.IntRange(min=0),
    default=0,
    help="Apply a held sync whose deactivations total at most N.",
)
timeout_option = click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop waiting after SECONDS (exit 1; the run goes on). Default: wait for its end.",
)


@click.command()
@click.argument("key")
@click.option("--mode", type=click.Choice(["full", "delta", "preview"]), default="full")
@approve_option
@timeout_option
def sync(key: str, mode: str, approve_deactivations: int, timeout_s: float | None) -> None:
    """Pull, validate and apply KEY's roster now: a run of roster_sync, launched through the
    Dagster instance (its queue and limits apply) and listed under the job in the UI. Blocks
    until the run ends; exits 1 at once if the run is queued and no daemon serves the queue."""
    _run_and_report(key, mode, approve_deactivations, timeout_s, package=None)


@click.command("import")
@click.argument("key")
@click.argument("package")
@click.option("--mode", type=click.Choice(["full", "preview"]), default="full", show_default=True)
@approve_option
@timeout_option
def import_package(
    key: str, package: str, mode: str, approve_deactivations: int, timeout_s: float | None
) -> None:
    """Load PACKAGE (a OneRoster CSV zip, a folder of CSV files, or a zip's object-store URL)
    into CSV district KEY: a run of roster_sync through the Dagster instance, like `sync`. Its
    manifest says bulk (a full sync, under the guard) or delta. Exit 2 when the package cannot
    be read, nothing applied."""
    # The run may start elsewhere: a local path made absolute, an object-store URL as given.
    where = package if "://" in package else str(Path(package).expanduser().resolve())
    _run_and_report(key, mode, approve_deactivations, timeout_s, package=where)


def _run_and_report(
    key: str, mode: str, approve_deactivations: int, timeout_s: float | None, package: str | None
) -> None:
    from rostering_pipeline.runner import run_sync  # imports Dagster: only when a sync runs

    outcome = run_sync(
        key,
        mode=mode,
        approve_deactivations=approve_deactivations,
        package=package,
        notify=lambda line: click.echo(line, err=True),
        timeout_s=timeout_s,
    )
    if not outcome.success:
        raise SyncFailed(f"{outcome.message} (run {outcome.run_id})", outcome.exit_code)
    verb = f"imported {Path(package).name} into" if package else "synced"
    click.echo(f"{verb} '{key}' ({outcome.mode or mode}), run {outcome.run_id}")
    for line in describe_changes(outcome.changes):
        click.echo(f"  {line}")
