"""`backfill --failed`: run again every district whose last sync failed, and report each."""

from __future__ import annotations

import click

from rostering_pipeline.cli.sync import SyncFailed
from rostering_pipeline.districts import District


def last_sync_failed(district: District) -> bool:
    """Paused and purged districts are left alone: they take no runs until an operator acts."""
    if district.status in ("paused", "purged") or district.last_error_at is None:
        return False
    return district.last_success_at is None or district.last_error_at > district.last_success_at


@click.command()
@click.option(
    "--failed",
    "only_failed",
    is_flag=True,
    required=True,
    help="Every active or preview district whose last sync failed (the only selection so far).",
)
def backfill(only_failed: bool) -> None:
    """Sync again, one after the other, the districts whose last sync failed.

    Exit 0 when every run succeeded (or none was needed); otherwise the exit code of the first
    failure in key order (4 held, 5 credentials, 6 provider, ...), after all have run.
    """
    from rostering_pipeline.appdb.engine import ready_engine
    from rostering_pipeline.districts import list_districts
    from rostering_pipeline.runner import run_sync  # imports Dagster: only when a sync runs

    engine = ready_engine()
    try:
        failed = [d for d in list_districts(engine) if last_sync_failed(d)]
    finally:
        engine.dispose()
    if not failed:
        click.echo("no district's last sync failed; nothing to backfill")
        return
    first_failure: SyncFailed | None = None
    for district in failed:
        if district.source == "csv":  # nothing to pull: its runs come from files
            click.echo(
                f"{district.key}: skipped: a CSV district; import its corrected file "
                f"(`rostering-pipeline import {district.key} FILE`; the inbox keeps failed "
                "files in failed/)"
            )
            continue
        mode = "preview" if district.status == "preview" else "full"
        outcome = run_sync(district.key, mode=mode)
        if outcome.success:
            click.echo(f"{district.key}: ok ({mode}), run {outcome.run_id}")
            continue
        click.echo(
            f"{district.key}: failed, exit {outcome.exit_code}: {outcome.message} "
            f"(run {outcome.run_id})"
        )
        if first_failure is None:
            first_failure = SyncFailed(
                f"backfill: '{district.key}' failed first (exit {outcome.exit_code})",
                outcome.exit_code,
            )
    if first_failure is not None:
        raise first_failure
    pulled = sum(district.source != "csv" for district in failed)
    click.echo(f"backfilled {pulled} district(s), all ok")
