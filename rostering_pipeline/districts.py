"""The district registry: the `districts` table, its validated settings and encrypted secrets.

Every function takes an Engine (its own transaction) or a Connection (the caller's transaction,
or a new one when none is open). Validation happens before any write, so a BadInput leaves the
database as it was. Secrets are stored only as AES-256-GCM ciphertext (`secrets.SecretBox`), and
so is each district's snapshot data key (envelope encryption: the snapshots are encrypted with
it, it is wrapped by `ROSTERING_SECRET_KEYS`; destroying it makes every copy of them unreadable).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from croniter import croniter

from rostering_pipeline.appdb.tables import (
    ROSTER_TABLES,
    district_exports,
    districts,
    provider_profiles,
    snapshot_verdicts,
    sync_requests,
    sync_runs,
    user_schools,
)
from rostering_pipeline.errors import BadInput, DistrictPurged
from rostering_pipeline.oneroster.binding import VERSIONS
from rostering_pipeline.oneroster.client import is_loopback
from rostering_pipeline.secrets import SecretBinding, SecretBox, is_bound, origin_of

SETTABLE_STATUSES = ("preview", "active", "paused")  # "purged" only through mark_purged
AUTH_METHODS = ("oauth2", "oauth1")
# rest: pulled from a OneRoster REST API on a schedule; csv: loaded from the CSV packages it sends
SOURCES = ("rest", "csv")
# Each field held sealed (its `_ciphertext` and `_key_id` columns) -> how people call it.
SEALED_FIELDS = {
    "data_key": "snapshot data key",
    "client_secret": "client secret",
    "webhook_secret": "webhook secret",
}
DATA_KEY_BYTES = 32  # AES-256
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_BLACKOUT = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")
_ERROR_CHARS = 500
_TIMESTAMPS = (
    "delta_high_water_mark",
    "last_success_at",
    "last_error_at",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class DistrictSettings:
    """What an operator sets on a district; defaults are those of `districts add`."""

    key: str
    name: str
    base_url: str = ""  # REST districts only
    client_id: str = ""  # REST districts only
    source: str = "rest"
    auth_method: str = "oauth2"
    oneroster_version: str = "1.1"
    token_url: str | None = None
    scope: str | None = None
    status: str = "active"
    schedule: str = "0 2 * * *"
    delta_schedule: str | None = None
    timezone: str = "UTC"
    school_allow_list: tuple[str, ...] | None = None
    include_guardians: bool = False
    max_deactivation_ratio: float = 0.10
    min_deactivation_rows: int = 25
    page_size: int = 1000
    concurrency: int = 4
    blackout_start: date | None = None
    blackout_end: date | None = None
    delta_overlap_seconds: int | None = None  # None: chosen from the provider profile
    snapshot_retention_runs: int = 7
    snapshot_retention_days: int = 30

    def validated(self) -> DistrictSettings:
        """A normalized copy, or BadInput naming the first thing wrong."""
        _check_key(self.key)
        if not self.name or not self.name.strip():
            raise BadInput("name must not be empty")
        if self.source not in SOURCES:
            raise BadInput(f"source {self.source!r} is not one of {', '.join(SOURCES)}")
        if self.source == "csv":
            return self._validated_csv()
        if not self.base_url or not self.base_url.strip():
            raise BadInput("a REST district needs a base URL (--base-url)")
        if not self.client_id or not self.client_id.strip():
            raise BadInput("a REST district needs a client id (--client-id)")
        if self.auth_method not in AUTH_METHODS:
            raise BadInput(f"auth {self.auth_method!r} is not one of {', '.join(AUTH_METHODS)}")
        if self.oneroster_version not in VERSIONS:
            raise BadInput(
                f"OneRoster version {self.oneroster_version!r} is not one of {', '.join(VERSIONS)}"
            )
        if self.oneroster_version == "1.2" and self.auth_method != "oauth2":
            raise BadInput(
                "OneRoster 1.2 authenticates with OAuth 2.0 client credentials only: "
                "use --auth oauth2 with --token-url"
            )
        if self.auth_method == "oauth2" and not self.token_url:
            raise BadInput("oauth2 needs a token URL (--token-url)")
        return dataclasses.replace(
            self._validated_common(),
            client_id=self.client_id.strip(),
            base_url=_check_url("base URL", self.base_url).rstrip("/"),
            token_url=_check_url("token URL", self.token_url) if self.token_url else None,
            scope=self.scope or None,
        )

    def _validated_csv(self) -> DistrictSettings:
        """A CSV district has no endpoint, credentials or pull settings to give."""
        given = [
            option
            for option, value in (
                ("--base-url", self.base_url),
                ("--client-id", self.client_id),
                ("--token-url", self.token_url),
                ("--scope", self.scope),
                ("--delta-schedule", self.delta_schedule),
            )
            if value
        ]
        if given:
            raise BadInput(
                f"a CSV district takes no {', '.join(given)}: its rosters come from files"
            )
        return self._validated_common()

    def _validated_common(self) -> DistrictSettings:
        if self.status not in SETTABLE_STATUSES:
            raise BadInput(f"status {self.status!r} is not one of {', '.join(SETTABLE_STATUSES)}")
        _check_cron("schedule", self.schedule)
        if self.delta_schedule is not None:
            _check_cron("delta schedule", self.delta_schedule)
        _check_timezone(self.timezone)
        _check_ratio(self.max_deactivation_ratio)
        _check_int("min deactivation rows", self.min_deactivation_rows, minimum=0)
        _check_int("page size", self.page_size, minimum=1)
        _check_int("concurrency", self.concurrency, minimum=1)
        if self.delta_overlap_seconds is not None:
            _check_int("delta overlap (seconds)", self.delta_overlap_seconds, minimum=0)
        _check_int("snapshot retention runs", self.snapshot_retention_runs, minimum=1)
        _check_int("snapshot retention days", self.snapshot_retention_days, minimum=1)
        _check_blackout(self.blackout_start, self.blackout_end)
        return dataclasses.replace(
            self,
            name=self.name.strip(),
            school_allow_list=_check_schools(self.school_allow_list),
        )


SETTINGS_FIELDS = tuple(f.name for f in dataclasses.fields(DistrictSettings))


@dataclass(frozen=True)
class District:
    """One row of `districts`. Ciphertexts are kept only to decrypt on demand: never shown."""

    id: int
    key: str
    name: str
    status: str
    credentials_ok: bool | None  # None: not tried since the credentials were set
    base_url: str
    auth_method: str
    oneroster_version: str
    source: str
    client_id: str
    token_url: str | None
    scope: str | None
    client_secret_key_id: str | None
    webhook_secret_key_id: str | None
    schedule: str
    delta_schedule: str | None
    timezone: str
    blackout_start: date | None
    blackout_end: date | None
    school_allow_list: tuple[str, ...] | None
    include_guardians: bool
    max_deactivation_ratio: float
    min_deactivation_rows: int
    page_size: int
    concurrency: int
    delta_overlap_seconds: int | None
    snapshot_retention_runs: int
    snapshot_retention_days: int
    data_key_key_id: str | None
    delta_high_water_mark: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    last_error_kind: str | None
    created_at: datetime
    updated_at: datetime
    client_secret_ciphertext: str | None = field(default=None, repr=False, compare=False)
    webhook_secret_ciphertext: str | None = field(default=None, repr=False, compare=False)
    data_key_ciphertext: str | None = field(default=None, repr=False, compare=False)

    @property
    def has_client_secret(self) -> bool:
        return self.client_secret_ciphertext is not None

    @property
    def has_webhook_secret(self) -> bool:
        return self.webhook_secret_ciphertext is not None

    def settings(self) -> DistrictSettings:
        return DistrictSettings(**{name: getattr(self, name) for name in SETTINGS_FIELDS})

    def in_blackout(self, day: date) -> bool:
        """Scheduled runs skip these days (inclusive range)."""
        return self.blackout_start is not None and self.blackout_start <= day <= self.blackout_end

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready, for `list --json`/`show --json`: secrets only as set/unset and key id."""
        public = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}
        public["has_client_secret"] = self.has_client_secret
        public["has_webhook_secret"] = self.has_webhook_secret
        public["has_data_key"] = self.data_key_ciphertext is not None
        return orjson.loads(orjson.dumps(public))


def client_secret(district: District, box: SecretBox) -> str:
    """The decrypted client secret, for the moment it is sent to the provider."""
    if district.client_secret_ciphertext is None:
        raise BadInput(
            f"district '{district.key}' has no client secret; "
            f"run `rostering-pipeline districts set-credentials {district.key}`"
        )
    return box.decrypt(
        district.client_secret_ciphertext,
        district.client_secret_key_id,
        bound_to=_binding("client_secret", district.settings()),
    )


def webhook_secret(district: District, box: SecretBox) -> str | None:
    if district.webhook_secret_ciphertext is None:
        return None
    return box.decrypt(
        district.webhook_secret_ciphertext,
        district.webhook_secret_key_id,
        bound_to=_binding("webhook_secret", district.settings()),
    )


def data_key(district: District, box: SecretBox) -> bytes | None:
    """The district's snapshot data key (32 bytes), unwrapped; None when it has none (yet, or
    any more: a purge destroys it)."""
    if district.data_key_ciphertext is None:
        return None
    encoded = box.decrypt(
        district.data_key_ciphertext,
        district.data_key_key_id,
        bound_to=_binding("data_key", district.settings()),
    )
    return base64.b64decode(encoded)


def ensure_data_key(bind: sa.Engine | sa.Connection, key: str, box: SecretBox) -> District:
    """The district, with a data key made for it if it had none (a district added before
    encrypted snapshots). Two runs racing here keep the first key written; a purged district
    gets none."""
    with _transaction(bind) as conn:
        district = get_district(conn, key)
        if district.data_key_ciphertext is None:
            if district.status == "purged":
                raise DistrictPurged(f"district {key!r} is purged: it takes no more snapshots")
            conn.execute(
                districts.update()
                .where(districts.c.id == district.id, districts.c.data_key_ciphertext.is_(None))
                .values(_new_data_key(district.settings(), box))
            )
            district = get_district(conn, key)
    return district


def _new_data_key(settings: DistrictSettings, box: SecretBox) -> dict[str, str]:
    return _sealed("data_key", base64.b64encode(os.urandom(DATA_KEY_BYTES)).decode(), settings, box)


def secret_origin(settings: DistrictSettings) -> str:
    """Where the client secret is sent: the token URL's origin (OAuth 2.0), else the base
    URL's (OAuth 1.0a signs every request with it)."""
    url = settings.token_url if settings.auth_method == "oauth2" else settings.base_url
    return origin_of(url or "")


def _binding(field: str, settings: DistrictSettings) -> SecretBinding:
    origin = secret_origin(settings) if field == "client_secret" else None
    return SecretBinding(settings.key, field, origin)


# --- reading -----------------------------------------------------------------------------------


def get_district(bind: sa.Engine | sa.Connection, key: str) -> District:
    with _transaction(bind) as conn:
        row = conn.execute(sa.select(districts).where(districts.c.key == key)).mappings().first()
    if row is None:
        raise BadInput(f"unknown district {key!r}")
    return _from_row(row)


def list_districts(bind: sa.Engine | sa.Connection) -> list[District]:
    with _transaction(bind) as conn:
        rows = conn.execute(sa.select(districts).order_by(districts.c.key)).mappings().all()
    return [_from_row(row) for row in rows]


@dataclass(frozen=True)
class HeldSync:
    sync_run_id: int
    started_at: datetime
    held: dict[str, Any]  # {entity: {would_deactivate, active, sample_ids}}


def held_syncs(bind: sa.Engine | sa.Connection) -> dict[str, HeldSync]:
    """Per district key, its latest held full/delta sync when no later one succeeded."""
    applying = sync_runs.c.mode.in_(("full", "delta"))
    latest = (
        sa.select(
            sync_runs.c.district_id,
            sa.func.max(sa.case((sync_runs.c.status == "held", sync_runs.c.id))).label("held"),
            sa.func.max(sa.case((sync_runs.c.status == "succeeded", sync_runs.c.id))).label("ok"),
        )
        .where(applying)
        .group_by(sync_runs.c.district_id)
        .subquery()
    )
    query = (
        sa.select(districts.c.key, sync_runs.c.id, sync_runs.c.started_at, sync_runs.c.held)
        .join(latest, sync_runs.c.id == latest.c.held)
        .join(districts, districts.c.id == sync_runs.c.district_id)
        .where(latest.c.held > sa.func.coalesce(latest.c.ok, 0))
    )
    with _transaction(bind) as conn:
        rows = conn.execute(query).all()
    return {
        key: HeldSync(run_id, _aware(started), orjson.loads(held) if held else {})
        for key, run_id, started, held in rows
    }


def applied_after_hold(bind: sa.Engine | sa.Connection, district_id: int) -> str | None:
    """The Dagster run that applied a roster after the district's latest held sync, if one did
    (a held file approved now would apply an older roster over it); None otherwise."""
    runs = sync_runs
    latest = {
        status: sa.select(sa.func.max(runs.c.id))
        .where(runs.c.district_id == district_id, runs.c.status == status)
        .scalar_subquery()
        for status in ("held", "succeeded")
    }
    query = sa.select(runs.c.dagster_run_id).where(
        runs.c.id == latest["succeeded"], latest["succeeded"] > latest["held"]
    )
    with _transaction(bind) as conn:
        return conn.execute(query).scalar_one_or_none()


# --- writing -----------------------------------------------------------------------------------


def add_district(
    bind: sa.Engine | sa.Connection,
    *,
    client_secret: str | None,
    box: SecretBox,
    webhook_secret: str | None = None,
    **fields: Any,
) -> District:
    """A new district from the fields of DistrictSettings (key, name, base_url, client_id, ...)."""
    settings = new_settings(**fields)
    if settings.source == "csv":
        if client_secret is not None or webhook_secret is not None:
            raise BadInput("a CSV district has no client or webhook secret")
    else:
        _check_secret("client secret", client_secret)
    if webhook_secret is not None:
        _check_secret("webhook secret", webhook_secret)
    now = _now()
    values = _settings_columns(settings) | {"created_at": now, "updated_at": now}
    if client_secret is not None:
        values |= _sealed("client_secret", client_secret, settings, box)
    values |= _new_data_key(settings, box)
    if webhook_secret is not None:
        values |= _sealed("webhook_secret", webhook_secret, settings, box)
    with _transaction(bind) as conn:
        taken = conn.execute(sa.select(districts.c.id).where(districts.c.key == settings.key))
        if taken.first() is not None:
            raise BadInput(f"district {settings.key!r} already exists")
        conn.execute(districts.insert().values(values))
        return get_district(conn, settings.key)


def new_settings(**fields: Any) -> DistrictSettings:
    """A new district's settings, validated (BadInput naming the first thing wrong): what
    `add_district` stores, checked before anything else is asked for."""
    unknown = sorted(set(fields) - set(SETTINGS_FIELDS))
    if unknown:
        raise BadInput(f"unknown district setting {', '.join(unknown)}")
    required = [
        f.name for f in dataclasses.fields(DistrictSettings) if f.default is f.default_factory
    ]
    missing = [name for name in required if fields.get(name) is None]
    if missing:
        raise BadInput(f"a new district needs {', '.join(missing)}")
    return DistrictSettings(**fields).validated()


def update_district(
    bind: sa.Engine | sa.Connection,
    key: str,
    /,
    *,
    client_secret: str | None = None,
    box: SecretBox | None = None,
    **changes: Any,
) -> District:
    """Change settings (any field of DistrictSettings but the key); the result is re-validated.

    A change that sends the client secret to another origin (a token URL on another host, a base
    URL under OAuth 1.0a, a switch of auth method) needs the secret given again: it is sealed to
    the new origin, and the old ciphertext would not decrypt there.
    """
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS) | ({"key"} & set(changes)))
    if unknown:
        raise BadInput(f"cannot change {', '.join(unknown)} of a district")
    with _transaction(bind) as conn:
        current = _changeable(conn, key)
        settings = dataclasses.replace(current.settings(), **changes).validated()
        values = _settings_columns(settings) | {"updated_at": _now()}
        moved = secret_origin(settings) != secret_origin(current.settings())
        if client_secret is not None:
            _check_secret("client secret", client_secret)
            values |= _sealed("client_secret", client_secret, settings, _need(box))
            values["credentials_ok"] = None
        elif moved and current.has_client_secret:
            raise BadInput(
                f"the client secret of '{key}' is sent to {secret_origin(current.settings())}; "
                f"moving it to {secret_origin(settings)} needs the secret given again in the "
                "same command (--client-secret-env VAR)"
            )
        conn.execute(districts.update().where(districts.c.id == current.id).values(values))
        return get_district(conn, key)


def set_credentials(
    bind: sa.Engine | sa.Connection,
    key: str,
    *,
    box: SecretBox | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> District:
    """New client id and/or secret; `credentials_ok` goes back to unknown until a sync tries."""
    if client_id is None and client_secret is None:
        raise BadInput("give a new client id, a new client secret, or both")
    values: dict[str, Any] = {"credentials_ok": None, "updated_at": _now()}
    if client_id is not None:
        if not client_id.strip():
            raise BadInput("client id must not be empty")
        values["client_id"] = client_id.strip()
    with _transaction(bind) as conn:
        current = _changeable(conn, key)
        if current.source == "csv":
            raise BadInput(f"'{key}' is a CSV district: it has no credentials, only files")
        if client_secret is not None:
            _check_secret("client secret", client_secret)
            values |= _sealed("client_secret", client_secret, current.settings(), _need(box))
        return _write(conn, key, values)


def set_webhook_secret(
    bind: sa.Engine | sa.Connection, key: str, webhook_secret: str, *, box: SecretBox
) -> District:
    _check_secret("webhook secret", webhook_secret)
    with _transaction(bind) as conn:
        settings = _changeable(conn, key).settings()
        values = _sealed("webhook_secret", webhook_secret, settings, box) | {"updated_at": _now()}
        return _write(conn, key, values)


def set_status(bind: sa.Engine | sa.Connection, key: str, status: str) -> District:
    if status not in SETTABLE_STATUSES:
        raise BadInput(f"status {status!r} is not one of {', '.join(SETTABLE_STATUSES)}")
    return _write(bind, key, {"status": status, "updated_at": _now()})


def set_credentials_ok(bind: sa.Engine | sa.Connection, key: str, ok: bool | None) -> None:
    with _transaction(bind) as conn:
        _require(conn, key)
        conn.execute(districts.update().where(districts.c.key == key).values(credentials_ok=ok))


def record_outcome(
    bind: sa.Engine | sa.Connection,
    key: str,
    *,
    succeeded: bool,
    at: datetime,
    error: str | None = None,
    error_kind: str | None = None,
    refreshed: bool = True,
) -> None:
    """A run's result on the district: last success, or last error and its kind.

    Success proves the credentials; a `credentials` failure marks them rejected. A success that
    did not refresh the roster (`refreshed=False`: a preview of an active district) leaves
    `last_success_at` alone, which tells how stale the roster is.
    """
    at = _utc(at)
    if succeeded:
        values: dict[str, Any] = {"credentials_ok": True}
        if refreshed:
            values["last_success_at"] = at
    else:
        line = " ".join((error or "failed").split())[:_ERROR_CHARS]
        values = {"last_error_at": at, "last_error": line, "last_error_kind": error_kind}
        if error_kind == "credentials":
            values["credentials_ok"] = False
    with _transaction(bind) as conn:
        _require(conn, key)
        conn.execute(districts.update().where(districts.c.key == key).values(values))


def rotate_secrets(bind: sa.Engine | sa.Connection, box: SecretBox) -> int:
    """Re-encrypt every secret not yet under the first key, or not yet bound to its field and
    origin (written before the binding); all or nothing. Returns the count."""
    count = 0
    with _transaction(bind) as conn:
        for district in list_districts(conn):
            values: dict[str, Any] = {}
            for name in SEALED_FIELDS:
                ciphertext = getattr(district, f"{name}_ciphertext")
                key_id = getattr(district, f"{name}_key_id")
                if ciphertext is None or (key_id == box.encrypting_key_id and is_bound(ciphertext)):
                    continue
                settings = district.settings()
                plaintext = box.decrypt(ciphertext, key_id, bound_to=_binding(name, settings))
                values |= _sealed(name, plaintext, settings, box)
                count += 1
            if values:
                conn.execute(districts.update().where(districts.c.id == district.id).values(values))
    return count


def remove_district(bind: sa.Engine | sa.Connection, key: str) -> None:
    """Delete a district holding no roster rows, with its audit, inbox and ledger rows."""
    with _transaction(bind) as conn:
        district = get_district(conn, key)
        for table in (*ROSTER_TABLES.values(), user_schools):
            held = sa.select(table.c.id).where(table.c.district_id == district.id).limit(1)
            if conn.execute(held).first() is not None:
                raise BadInput(
                    f"district {key!r} holds roster rows in {table.name}; "
                    f"use `rostering-pipeline purge {key} --yes` instead"
                )
        audit = (sync_runs, sync_requests, snapshot_verdicts, provider_profiles, district_exports)
        for table in audit:
            conn.execute(table.delete().where(table.c.district_id == district.id))
        conn.execute(districts.delete().where(districts.c.id == district.id))


def mark_purged(bind: sa.Engine | sa.Connection, key: str) -> District:
    """Status `purged` (no runs of any kind), every secret and the snapshots' data key gone; for
    the purge command."""
    values: dict[str, Any] = {"status": "purged", "credentials_ok": None, "updated_at": _now()}
    for name in SEALED_FIELDS:
        values |= {f"{name}_ciphertext": None, f"{name}_key_id": None}
    with _transaction(bind) as conn:
        _require(conn, key)
        conn.execute(districts.update().where(districts.c.key == key).values(values))
        return get_district(conn, key)


# --- helpers -----------------------------------------------------------------------------------


@contextmanager
def _transaction(bind: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    if isinstance(bind, sa.Engine):
        with bind.begin() as conn:
            yield conn
    elif bind.in_transaction():
        yield bind  # the caller's transaction: the caller commits
    else:
        with bind.begin():
            yield bind


def _require(conn: sa.Connection, key: str) -> None:
    if conn.execute(sa.select(districts.c.id).where(districts.c.key == key)).first() is None:
        raise BadInput(f"unknown district {key!r}")


def _changeable(conn: sa.Connection, key: str) -> District:
    district = get_district(conn, key)
    if district.status == "purged":
        raise BadInput(f"district {key!r} is purged; add it again under a new key")
    return district


def _write(bind: sa.Engine | sa.Connection, key: str, values: dict[str, Any]) -> District:
    with _transaction(bind) as conn:
        _changeable(conn, key)
        conn.execute(districts.update().where(districts.c.key == key).values(values))
        return get_district(conn, key)


def _sealed(
    name: str, plaintext: str, settings: DistrictSettings, box: SecretBox
) -> dict[str, str]:
    ciphertext, key_id = box.encrypt(plaintext, bound_to=_binding(name, settings))
    return {f"{name}_ciphertext": ciphertext, f"{name}_key_id": key_id}


def _need(box: SecretBox | None) -> SecretBox:
    if box is None:
        raise BadInput("a secret is given: ROSTERING_SECRET_KEYS is needed to encrypt it")
    return box


def _settings_columns(settings: DistrictSettings) -> dict[str, Any]:
    values = dataclasses.asdict(settings)
    schools = settings.school_allow_list
    values["school_allow_list"] = None if schools is None else orjson.dumps(schools).decode()
    return values


def _from_row(row: sa.RowMapping) -> District:
    values = {name: row[name] for name in (f.name for f in dataclasses.fields(District))}
    for name in _TIMESTAMPS:
        values[name] = _aware(values[name])
    schools = values["school_allow_list"]
    values["school_allow_list"] = None if schools is None else tuple(orjson.loads(schools))
    return District(**values)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# --- validation --------------------------------------------------------------------------------


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise BadInput(
            f"district key {key!r} must be 1 to 63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )


def _check_url(label: str, url: str | None) -> str:
    if not url:
        raise BadInput(f"{label} must not be empty")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - parsing the port is what validates it
    except ValueError:
        raise BadInput(f"{label} is not a valid URL") from None
    if parts.username is not None or parts.password is not None:
        raise BadInput(f"{label} must not carry credentials; use --client-id and the secret")
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise BadInput(f"{label} {url!r} is not an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise BadInput(f"{label} {url!r} must not have a query or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise BadInput(f"{label} {url!r} uses plain http:// for a non-loopback host; use https://")
    return url.strip()


def _check_cron(label: str, expression: str) -> None:
    # five fields only: what Dagster schedules accept
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise BadInput(f"{label} {expression!r} is not a five-field cron expression")


def _check_timezone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown timezone {name!r}") from None


def _check_ratio(ratio: float) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
        raise BadInput(f"max deactivation ratio {ratio!r} must be above 0 and at most 1")


def _check_int(label: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadInput(f"{label} {value!r} must be a whole number of at least {minimum}")


def _check_blackout(start: date | None, end: date | None) -> None:
    if (start is None) != (end is None):
        raise BadInput("a blackout needs both a start and an end date")
    if start is not None and start > end:
        raise BadInput(f"blackout starts {start} after it ends {end}")


def _check_schools(schools: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if schools is None:
        return None
    cleaned = tuple(dict.fromkeys(school.strip() for school in schools))
    if not cleaned or "" in cleaned:
        raise BadInput("the school allow-list needs school ids without empty entries")
    return cleaned


def _check_secret(label: str, secret: str) -> None:
    if not secret or not secret.strip():
        raise BadInput(f"{label} is empty")


_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'90m', '1h', '1d', '1h30m' (seconds, minutes, hours, days) as seconds."""
    compact = "".join(text.split()).lower()
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise BadInput(f"duration {text!r} is not like 90m, 1h or 1d")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def format_duration(seconds: int) -> str:
    """The shortest of parse_duration's spellings: 90m, 1h, 1d, 1d12h."""
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_blackout(text: str) -> tuple[date, date]:
    """'YYYY-MM-DD..YYYY-MM-DD' (inclusive) as two dates."""
    match = _BLACKOUT.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError
        start, end = date.fromisoformat(match[1]), date.fromisoformat(match[2])
    except ValueError:
        raise BadInput(f"blackout {text!r} is not YYYY-MM-DD..YYYY-MM-DD") from None
    _check_blackout(start, end)
    return start, end
