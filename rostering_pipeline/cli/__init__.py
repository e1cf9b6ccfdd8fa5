"""`rostering-pipeline`: one clear line on stderr and a documented exit code for every failure."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click

from rostering_pipeline import config
from rostering_pipeline.cli.backfill import backfill
from rostering_pipeline.cli.db import db
from rostering_pipeline.cli.dev_provider import dev_provider
from rostering_pipeline.cli.districts import districts
from rostering_pipeline.cli.privacy import export, preview, purge
from rostering_pipeline.cli.sync import import_package, sync
from rostering_pipeline.cli.webhook import webhook
from rostering_pipeline.errors import RosteringError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Keep an application database in step with districts' OneRoster rosters (REST 1.1 and
    1.2, or CSV files)."""


# Sub-commands register here, one line each (keep this block sorted).
cli.add_command(backfill)
cli.add_command(db)
cli.add_command(dev_provider)
cli.add_command(districts)
cli.add_command(export)
cli.add_command(import_package)
cli.add_command(preview)
cli.add_command(purge)
cli.add_command(sync)
cli.add_command(webhook)


def main() -> None:
    _exit_now(_run())


def _run() -> int:
    """The command's exit code; every failure is one line on stderr."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:  # bad usage is bad input
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except RosteringError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:  # never a traceback on the terminal: it goes to the log file
        log = _log_unexpected(exc)
        click.echo(f"error: unexpected {type(exc).__name__}; details in {log}", err=True)
        return 1
    return code if isinstance(code, int) else 0


def _exit_now(code: int) -> NoReturn:
    """Exits without tearing the interpreter down: unloading Dagster, pandas and pyarrow takes
    about 0.4 s, most of a small command's time. What teardown would finish is done here: the
    output flushed, the log handlers closed, the app database's pooled connections closed."""
    resources = sys.modules.get("rostering_pipeline.defs.resources")  # imported if a command
    if resources is not None:  # used it (importing it only for this would cost the saving)
        resources.dispose_engines()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def _log_unexpected(exc: Exception) -> Path:
    """Appends the traceback to `<data>/logs/rostering-pipeline.log` and returns that path."""
    path = config.data_dir() / "logs" / "rostering-pipeline.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as log:
        log.write(f"--- {datetime.now(UTC).isoformat()} {' '.join(sys.argv[1:2])}\n")
        log.write("".join(traceback.format_exception(exc)))
    return path
