"""`export`, `purge` and `preview`: a district's data on request, its removal, its preview."""

from __future__ import annotations

from pathlib import Path

import click

from rostering_pipeline import config, privacy
from rostering_pipeline.cli.districts import _database
from rostering_pipeline.districts import get_district
from rostering_pipeline.errors import BadInput


@click.command()
@click.argument("key")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["tables", "oneroster-csv"]),
    default="tables",
    show_default=True,
    help="tables: every stored row, one CSV per table, for people (formulas neutralized); "
    "oneroster-csv: the active roster as a OneRoster 1.1 CSV bulk zip, exact values, for machines.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="tables: a new (or empty) folder; oneroster-csv: a new .zip file.",
)
def export(key: str, export_format: str, out: Path) -> None:
    """Write the data held about KEY: every table (default), or its roster in OneRoster's own
    CSV format."""
    with _database() as engine:
        if export_format == "oneroster-csv":
            counts = privacy.export_oneroster_csv(engine, key, out)
        else:
            counts = privacy.export_district(engine, key, out)
    click.echo(f"exported '{key}' ({export_format}) to {out}: {sum(counts.values())} rows")
    for name, count in counts.items():
        click.echo(f"  {name}: {count}")


@click.command()
@click.argument("key")
@click.option("--yes", is_flag=True, help="Delete for real; without it, only list what would go.")
def purge(key: str, yes: bool) -> None:
    """Delete KEY's roster rows, audit details, secrets, snapshots and Dagster runs."""
    # Dagster and pandas load slowly: only for this command
    from rostering_pipeline.runner import instance
    from rostering_pipeline.snapshots import SnapshotStore

    store = SnapshotStore(config.snapshot_url())
    with _database() as engine:
        if not yes:
            click.echo(_plan(key, privacy.plan_purge(engine, key, store, instance())))
            return
        result = privacy.purge_district(engine, key, store, instance())
    click.echo(_purged(key, result))


@click.command()
@click.argument("key")
def preview(key: str) -> None:
    """Print KEY's latest preview report (exit 2 when it has none)."""
    from rostering_pipeline.preview import render  # pandas loads slowly: only for this command

    with _database() as engine, engine.connect() as conn:
        stored = privacy.latest_preview(conn, key)
        in_preview = get_district(conn, key).status == "preview"
    if stored is None:
        raise BadInput(
            f"district {key!r} has no preview yet; "
            f"run `rostering-pipeline sync {key} --mode preview`"
        )
    run = f", run {stored.dagster_run_id}" if stored.dagster_run_id else ""
    click.echo(f"preview of '{key}' from {stored.started_at.isoformat(timespec='seconds')}{run}\n")
    click.echo(render(stored.report, first_sync=in_preview))


def _plan(key: str, plan: privacy.PurgePlan) -> str:
    lines = [f"purge of '{key}' would delete (nothing changed; add --yes to do it):"]
    lines += [f"  {table}: {count} rows" for table, count in plan.rows.items()]
    lines.append(f"  snapshot runs: {len(plan.snapshot_runs)} {_listed(plan.snapshot_runs)}")
    lines.append(f"  Dagster runs: {len(plan.dagster_runs)} {_listed(plan.dagster_runs)}")
    if plan.district.status == "purged":
        lines.append(f"'{key}' is already purged; its keys and secrets are gone")
    else:
        held = privacy.held_keys(plan.district)
        lines.append(f"  destroyed: {', '.join(held) or 'none'}; status becomes purged")
    if plan.unfinished_dagster_runs:
        lines.append(
            f"unfinished runs ({', '.join(plan.unfinished_dagster_runs)}) must end before a purge"
        )
    return "\n".join(lines)


def _purged(key: str, result: privacy.PurgeResult) -> str:
    rows = ", ".join(f"{table} {n}" for table, n in result.deleted.items() if n) or "none"
    done = (
        f"deleted rows: {rows}; snapshot runs: {len(result.snapshot_runs)}; "
        f"Dagster runs: {len(result.dagster_runs)}"
    )
    if result.already_purged:
        return f"'{key}' was already purged; checked again, {done}"
    destroyed = ", ".join(result.destroyed) or "no key or secret"
    return (
        f"purged '{key}': {done}; destroyed {destroyed}. Any copy of its snapshots left elsewhere "
        "is unreadable now; it takes no more runs"
    )


def _listed(names: list[str]) -> str:
    return f"({', '.join(names)})" if names else ""
