"""Resources: the app database, the snapshot store and the OneRoster source.

Empty settings fall back to the environment (README, Environment), so the same definitions serve
the demo, the tests and production.
"""

from __future__ import annotations

import functools
import os

import dagster as dg
import httpx
import sqlalchemy as sa

from rostering_pipeline import config
from rostering_pipeline.appdb.engine import make_engine
from rostering_pipeline.defs.run_config import SyncOptions
from rostering_pipeline.districts import District, client_secret
from rostering_pipeline.oneroster.auth import OAuth1Signature, OAuth2ClientCredentials
from rostering_pipeline.oneroster.binding import DEFAULT_SCOPES
from rostering_pipeline.oneroster.client import ClientConfig, OneRosterClient, RetryPolicy
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline.snapshot_keys import SnapshotKey, snapshot_key
from rostering_pipeline.snapshots import SnapshotStore

_ENGINES: dict[str, sa.Engine] = {}


def _engine(url: str) -> sa.Engine:
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url)
    return _ENGINES[url]


def dispose_engines(*, close: bool = True) -> None:
    """Drops the pooled connections: closed (the CLI's fast exit: nothing else would), or only
    forgotten (`close=False`)."""
    for engine in _ENGINES.values():
        engine.dispose(close=close)


# A forked run worker (platform.launchers) opens its own connections: closing the pooled ones it
# inherited would close its parent's too.
os.register_at_fork(after_in_child=functools.partial(dispose_engines, close=False))


class AppDatabase(dg.ConfigurableResource):
    """The application database (SQLAlchemy URL); empty = `ROSTERING_DATABASE_URL` or SQLite."""

    url: str = ""

    def engine(self) -> sa.Engine:
        return _engine(self.url or config.database_url())


class SnapshotStorage(dg.ConfigurableResource):
    """Where Parquet snapshots go; empty = `ROSTERING_SNAPSHOT_URL` or `<data>/snapshots`."""

    url: str = ""
    compression: str = "snappy"  # Parquet codec of the pages (encrypted either way)

    def store(self) -> SnapshotStore:
        return SnapshotStore(self.url or config.snapshot_url(), compression=self.compression)

    def key(self, engine: sa.Engine, district: str) -> SnapshotKey:
        """The district's data key, unwrapped with `ROSTERING_SECRET_KEYS` (made on first use)."""
        return snapshot_key(engine, district, SecretBox.from_env())


class OneRosterSource(dg.ConfigurableResource):
    """Builds a OneRoster client from a district's registry settings and decrypted secret."""

    read_timeout_s: float = 60.0
    max_attempts: int = 6

    def client_for(self, district: District) -> OneRosterClient:
        secret = client_secret(district, SecretBox.from_env())
        if district.auth_method == "oauth1":
            auth = OAuth1Signature(consumer_key=district.client_id, consumer_secret=secret)
        else:
            auth = OAuth2ClientCredentials(
                token_url=district.token_url,
                client_id=district.client_id,
                client_secret=secret,
                scope=district.scope or DEFAULT_SCOPES[district.oneroster_version],
            )
        return OneRosterClient(
            ClientConfig(
                base_url=district.base_url,
                auth=auth,
                version=district.oneroster_version,
                page_size=district.page_size,
                concurrency=district.concurrency,
                timeout=httpx.Timeout(self.read_timeout_s, connect=10.0),
                retry=RetryPolicy(max_attempts=self.max_attempts),
                include_guardians=district.include_guardians,
                timezone=district.timezone,
            )
        )


RESOURCES = {
    "app_db": AppDatabase(),
    "snapshots": SnapshotStorage(),
    "oneroster": OneRosterSource(),
    "sync": SyncOptions(),
}
