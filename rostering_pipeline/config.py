"""Where things live, resolved from the environment (see the README's Environment table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and how to fix it."""


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`ROSTERING_DATA_DIR`, default `.rostering/` in the current directory, always absolute."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("ROSTERING_DATA_DIR") or ".rostering").expanduser().absolute()


def demo_key_file(environ: Mapping[str, str] | None = None) -> Path:
    """The key file `make demo` writes; used when no key is configured (README, Security)."""
    return data_dir(environ) / "secret_keys"


def database_url() -> str:
    """`ROSTERING_DATABASE_URL`, default a SQLite file in the data folder."""
    url = os.environ.get("ROSTERING_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'app.db'}"


def snapshot_url() -> str:
    """`ROSTERING_SNAPSHOT_URL`: a folder or an object-store URL; default `<data>/snapshots`."""
    return os.environ.get("ROSTERING_SNAPSHOT_URL") or str(data_dir() / "snapshots")


def csv_inbox_url() -> str:
    """`ROSTERING_CSV_INBOX`: where CSV districts drop their packages (`<inbox>/<KEY>/*.zip`), a
    folder or an object-store URL; default `<data>/inbox`."""
    return os.environ.get("ROSTERING_CSV_INBOX") or str(data_dir() / "inbox")


def dagster_home() -> Path:
    """`DAGSTER_HOME`, or `<data>/dagster_home`: CLI, demo and `make ui` share one instance."""
    home = os.environ.get("DAGSTER_HOME")
    return Path(home).absolute() if home else data_dir() / "dagster_home"


def alert_webhook_url() -> str | None:
    return os.environ.get("ROSTERING_ALERT_WEBHOOK_URL") or None
