"""`districts ...`: onboard, operate and offboard districts. Never prints a secret."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
import orjson
import sqlalchemy as sa

from rostering_pipeline import config
from rostering_pipeline import districts as registry
from rostering_pipeline.appdb.engine import ready_engine
from rostering_pipeline.appdb.profiles import load_profiles
from rostering_pipeline.dispatch import next_runs
from rostering_pipeline.errors import BadInput
from rostering_pipeline.oneroster.binding import DEFAULT_SCOPES, VERSIONS
from rostering_pipeline.oneroster.profile import DeltaPolicy, delta_policy
from rostering_pipeline.oneroster.profile import describe as describe_profile
from rostering_pipeline.outcomes import describe_held
from rostering_pipeline.secrets import SecretBox

CLEARABLE = ("token_url", "scope", "delta_schedule")  # an empty value clears these


@contextmanager
def _database() -> Iterator[sa.Engine]:
    engine = ready_engine()
    try:
        yield engine
    finally:
        engine.dispose()


def _settings_options(*, adding: bool) -> Callable:
    """The options `add` and `update` share; on `update` nothing is required or defaulted."""
    clear = "" if adding else " ('' clears it)"
    options = [
        click.option("--name", required=adding, help="Display name."),
        click.option("--base-url", help="OneRoster base URL (https://...); REST districts."),
        click.option("--auth", type=click.Choice(registry.AUTH_METHODS), help="Default oauth2."),
        click.option(
            "--oneroster-version",
            type=click.Choice(VERSIONS),
            help="The provider's OneRoster version (default 1.1); 1.2 needs oauth2.",
        ),
        click.option("--client-id", help="OAuth client id (consumer key); REST districts."),
        click.option("--token-url", help=f"OAuth 2 token URL, required for oauth2{clear}."),
        click.option(
            "--scope",
            help=f"OAuth 2 scope (1.2 default: the read-only rostering scope){clear}.",
        ),
        click.option("--status", type=click.Choice(["preview", "active"]), help="Default active."),
        click.option("--schedule", help="Cron of full syncs (default '0 2 * * *')."),
        click.option("--delta-schedule", help=f"Cron of delta syncs{clear}."),
        click.option("--timezone", help="Timezone of the schedules (default UTC)."),
        click.option(
            "--schools", metavar="ID,...", help=f"School allow-list (default all){clear}."
        ),
        click.option("--max-deactivation-ratio", type=float, help="Guard ratio (default 0.10)."),
        click.option("--min-deactivation-rows", type=int, help="Guard minimum (default 25)."),
        click.option("--page-size", type=int, help="Rows per request (default 1000)."),
        click.option("--concurrency", type=int, help="Parallel requests (default 4)."),
        click.option(
            "--webhook-secret-env", metavar="VAR", help="Read the webhook secret from $VAR."
        ),
        click.option(
            "--include-guardians/--exclude-guardians",
            default=False if adding else None,
            help="Store guardian, parent and relative users (default: excluded).",
        ),
        click.option(
            "--blackout",
            metavar="YYYY-MM-DD..YYYY-MM-DD",
            help=f"No scheduled runs on these days, inclusive{clear}.",
        ),
        click.option(
            "--snapshot-retention-runs",
            type=int,
            help="Keep the snapshots of this many runs (default 7).",
        ),
        click.option(
            "--snapshot-retention-days",
            type=int,
            help="Keep no snapshot older than this many days (default 30).",
        ),
        click.option(
            "--delta-overlap",
            metavar="DURATION",
            help="How far before the high-water mark a delta starts: 90m, 1h, 1d (default: 1h, "
            f"or 1d for a provider that stamps changes by day){clear}.",
        ),
    ]

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _client_secret_env_option(command: Callable) -> Callable:
    return click.option(
        "--client-secret-env",
        metavar="VAR",
        help="Read the client secret from $VAR (otherwise from stdin).",
    )(command)


def _settings_changes(options: dict[str, Any]) -> dict[str, Any]:
    """DistrictSettings fields from the given options (absent options are left out)."""
    renamed = {"auth": "auth_method", "schools": "school_allow_list"}
    changes = {
        renamed.get(name, name): value for name, value in options.items() if value is not None
    }
    for name in CLEARABLE:
        if changes.get(name) == "":
            changes[name] = None
    if "school_allow_list" in changes:
        text = changes["school_allow_list"]
        changes["school_allow_list"] = tuple(text.split(",")) if text.strip() else None
    if "blackout" in changes:
        text = changes.pop("blackout")
        start, end = registry.parse_blackout(text) if text.strip() else (None, None)
        changes |= {"blackout_start": start, "blackout_end": end}
    if "delta_overlap" in changes:
        text = changes.pop("delta_overlap")
        changes["delta_overlap_seconds"] = registry.parse_duration(text) if text.strip() else None
    return changes


def _secret_from_env(variable: str, label: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise BadInput(f"environment variable {variable} (the {label}) is not set or empty")
    return value


def _client_secret(variable: str | None) -> str:
    """From $VAR, else a hidden prompt on a terminal, else the first line of stdin."""
    if variable:
        return _secret_from_env(variable, "client secret")
    stdin = sys.stdin
    if stdin.isatty():
        return click.prompt("client secret", hide_input=True)
    try:
        secret = stdin.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        raise BadInput("could not read the client secret from stdin") from None
    if not secret:
        raise BadInput("no client secret: pipe it on stdin or pass --client-secret-env VAR")
    return secret


@click.group()
def districts() -> None:
    """The district registry."""


@districts.command()
@click.argument("key")
@click.option(
    "--source",
    type=click.Choice(registry.SOURCES),
    default="rest",
    show_default=True,
    help="rest: pulled from its OneRoster API; csv: loaded from the CSV packages it sends.",
)
@_settings_options(adding=True)
@_client_secret_env_option
def add(key: str, client_secret_env: str | None, webhook_secret_env: str | None, **options) -> None:
    """Register district KEY (a REST district's client secret comes from --client-secret-env or
    stdin; a CSV district has none)."""
    settings = _settings_changes(options)
    webhook = webhook_secret_env and _secret_from_env(webhook_secret_env, "webhook secret")
    rest = registry.new_settings(key=key, **settings).source == "rest"  # before the secret
    if not rest and client_secret_env:
        raise BadInput("a CSV district has no client secret: leave out --client-secret-env")
    secret = _client_secret(client_secret_env) if rest else None
    box = SecretBox.from_env()
    with _database() as engine:
        district = registry.add_district(
            engine, client_secret=secret, box=box, webhook_secret=webhook, key=key, **settings
        )
    mode = " --mode preview" if district.status == "preview" else ""
    first_run = f"sync {district.key}{mode}" if rest else f"import {district.key} PACKAGE.zip{mode}"
    click.echo(
        f"added district '{district.key}' ({district.status}, {district.source}); "
        f"first run: `rostering-pipeline {first_run}`"
    )


@districts.command()
@click.argument("key")
@_settings_options(adding=False)
@_client_secret_env_option
def update(
    key: str, client_secret_env: str | None, webhook_secret_env: str | None, **options
) -> None:
    """Change any setting of district KEY; options left out stay as they are."""
    changes = _settings_changes(options)
    client_id = changes.pop("client_id", None)
    secret = client_secret_env and _secret_from_env(client_secret_env, "client secret")
    webhook = webhook_secret_env and _secret_from_env(webhook_secret_env, "webhook secret")
    if not (changes or client_id or secret or webhook):
        raise BadInput("nothing to change: give at least one option")
    box = SecretBox.from_env() if secret or webhook else None
    with _database() as engine, engine.begin() as conn:
        if changes or secret:  # a secret given here is sealed to the endpoint it now goes to
            registry.update_district(conn, key, client_secret=secret, box=box, **changes)
        if client_id:
            registry.set_credentials(conn, key, client_id=client_id)
        if webhook:
            registry.set_webhook_secret(conn, key, webhook, box=box)
    click.echo(f"updated district '{key}'")


@districts.command("set-credentials")
@click.argument("key")
@click.option("--client-id", help="A new client id (consumer key).")
@_client_secret_env_option
def set_credentials(key: str, client_id: str | None, client_secret_env: str | None) -> None:
    """Replace KEY's client secret (and optionally its client id); marks them untested."""
    secret = _client_secret(client_secret_env)
    box = SecretBox.from_env()
    with _database() as engine:
        registry.set_credentials(engine, key, client_id=client_id, client_secret=secret, box=box)
    click.echo(f"credentials of '{key}' replaced; the next sync tries them")


@districts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    """Every district: status, credentials, last success, last error, held sync, and the next
    full and delta runs the dispatcher will start, in the district's own time zone."""
    with _database() as engine, engine.connect() as conn:
        found = registry.list_districts(conn)
        held = registry.held_syncs(conn)
    now = datetime.now(UTC)
    if as_json:
        listed = []
        for d in found:
            upcoming = next_runs(d, now)
            listed.append(
                {
                    **_public(d, held.get(d.key)),
                    "next_full_run": upcoming.full and upcoming.full.isoformat(),
                    "next_delta_run": upcoming.delta and upcoming.delta.isoformat(),
                }
            )
        click.echo(_json(listed))
        return
    if not found:
        click.echo("no districts yet: `rostering-pipeline districts add KEY ...` registers one")
        return
    rows = [
        (
            *("KEY", "STATUS", "CREDENTIALS", "LAST SUCCESS", "LAST ERROR", "HELD SYNC"),
            *("NEXT FULL", "NEXT DELTA"),
        )
    ]
    for d in found:
        error = f"{_when(d.last_error_at)} ({d.last_error_kind})" if d.last_error_at else "-"
        sync = f"#{held[d.key].sync_run_id}" if d.key in held else "-"
        upcoming = next_runs(d, now)
        rows.append(
            (
                *(d.key, d.status, _credentials(d), _when(d.last_success_at), error, sync),
                *(_local(upcoming.full), _local(upcoming.delta)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@districts.command()
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(key: str, as_json: bool) -> None:
    """Every setting and the state of district KEY; secrets only as 'set, key k1'."""
    from rostering_pipeline.snapshots import SnapshotStore  # pyarrow: too slow for every command

    with _database() as engine, engine.connect() as conn:
        d = registry.get_district(conn, key)
        held = registry.held_syncs(conn).get(key)
        profiles = load_profiles(conn, d.id)
    policy = delta_policy(profiles, d.delta_overlap_seconds)
    snapshots = SnapshotStore(config.snapshot_url()).run_files(key)
    oldest = snapshots[0].written_at if snapshots else None
    if as_json:
        public = _public(d, held)
        public["snapshots"] = {"held": len(snapshots), "oldest": oldest and oldest.isoformat()}
        public["delta_policy"] = {
            "overlap_seconds": int(policy.overlap.total_seconds()),
            "overlap_reason": policy.overlap_reason,
            "runs_full_because": policy.runs_full_because,
        }
        public["provider_profile"] = profiles
        click.echo(_json(public))
        return
    blackout = f"{d.blackout_start}..{d.blackout_end}" if d.blackout_start else "none"
    schools = ", ".join(d.school_allow_list) if d.school_allow_list else "all"
    lines = [
        f"district {d.key}: {d.name}",
        f"status: {d.status}",
        *(_source_lines(d)),
        f"snapshots: {len(snapshots)} held, oldest {_when(oldest)}; kept for the last "
        f"{d.snapshot_retention_runs} runs, at most {d.snapshot_retention_days} days; "
        f"encrypted under its data key ({_sealed(d.data_key_key_id)})",
        f"schedule: {d.schedule}; delta: {d.delta_schedule or '-'}; timezone {d.timezone}",
        f"blackout: {blackout}",
        f"schools: {schools}",
        f"guardians: {'included' if d.include_guardians else 'excluded'}",
        f"guard: holds when more than {d.max_deactivation_ratio * 100:g}% and more than "
        f"{d.min_deactivation_rows} active rows of an entity would go",
        f"client: page size {d.page_size}, concurrency {d.concurrency}",
        f"delta high-water mark: {_when(d.delta_high_water_mark)}",
        f"delta overlap: {registry.format_duration(int(policy.overlap.total_seconds()))} "
        f"({policy.overlap_reason})",
        f"deltas: {_deltas(policy)}",
        f"last success: {_when(d.last_success_at)}",
        f"last error: {_last_error(d)}",
        f"held sync: {_held(d.key, held)}",
        "provider profile:" + ("" if profiles else " none yet (learned from the first sync)"),
        *(f"  {line}" for line in describe_profile(profiles)),  # provider text is repr()ed
    ]
    click.echo("\n".join(lines))


def _source_lines(d: registry.District) -> list[str]:
    if d.source == "csv":
        return [
            "source: csv (OneRoster CSV packages: `rostering-pipeline import` or the inbox; "
            "no scheduled pulls)"
        ]
    return [
        "source: rest",
        f"provider: {d.base_url} (OneRoster {d.oneroster_version}, {d.auth_method}, "
        f"client id {d.client_id})",
        f"token URL: {d.token_url or '-'}; scope: {_scope(d)}",
        f"credentials: {_credentials(d)}; client secret {_sealed(d.client_secret_key_id)}",
        f"webhook secret: {_sealed(d.webhook_secret_key_id)}",
    ]


@districts.command()
@click.argument("key")
def inventory(key: str) -> None:
    """What is held about KEY and where, without a personal value: rows per table, snapshots,
    keys and secrets, exports made, the last purge (the answer to a privacy officer)."""
    # Dagster, pandas and pyarrow load slowly: only for this command
    from rostering_pipeline import inventory as held
    from rostering_pipeline.privacy import district_dagster_runs
    from rostering_pipeline.runner import instance
    from rostering_pipeline.snapshots import SnapshotStore

    store = SnapshotStore(config.snapshot_url())
    with _database() as engine:
        registry.get_district(engine, key)  # unknown: one line, before Dagster loads
        runs = len(district_dagster_runs(instance(), key))
        click.echo(held.render(held.take(engine, key, store, dagster_runs=runs)))


@districts.command()
@click.argument("key")
def activate(key: str) -> None:
    """Cut KEY over (or resume it): its next run applies the roster."""
    with _database() as engine:
        registry.set_status(engine, key, "active")
    click.echo(f"district '{key}' is active; its next run applies the roster")


@districts.command()
@click.argument("key")
def pause(key: str) -> None:
    """Stop KEY's scheduled runs; nothing is lost (`activate` resumes)."""
    with _database() as engine:
        registry.set_status(engine, key, "paused")
    click.echo(f"district '{key}' is paused; `rostering-pipeline districts activate {key}` resumes")


@districts.command()
@click.argument("key")
def remove(key: str) -> None:
    """Delete KEY and its snapshots; only when it holds no roster rows (otherwise use purge)."""
    from rostering_pipeline.snapshots import SnapshotStore  # pandas: too slow for every command

    with _database() as engine:
        registry.remove_district(engine, key)
    SnapshotStore(config.snapshot_url()).delete_district(key)
    click.echo(f"removed district '{key}'")


@districts.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-seal every stored secret and snapshot data key under the first key, bound to its
    district, field and endpoint; snapshots are not rewritten (their data keys stay the same)."""
    box = SecretBox.from_env()
    with _database() as engine:
        count = registry.rotate_secrets(engine, box)
    click.echo(
        f"re-sealed {count} secret(s) and data key(s) under key '{box.encrypting_key_id}', each "
        "bound to its district, field and endpoint; snapshots stay as they are"
    )


# --- presentation ------------------------------------------------------------------------------


def _public(district: registry.District, held: registry.HeldSync | None) -> dict[str, Any]:
    public = district.public_dict()
    public["held_sync"] = held and {
        "sync_run_id": held.sync_run_id,
        "started_at": held.started_at,
        "held": held.held,
    }
    return public


def _deltas(policy: DeltaPolicy) -> str:
    if policy.runs_full_because:
        return f"run as full syncs ({policy.runs_full_because})"
    return "run as deltas"


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _local(moment: datetime | None) -> str:
    """A next run as the district's clock shows it: '2026-12-01 02:00 CST'."""
    return moment.strftime("%Y-%m-%d %H:%M %Z") if moment else "-"


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def _credentials(district: registry.District) -> str:
    if district.source == "csv":
        return "none (csv files)"
    if not district.has_client_secret:
        return "no secret"
    return {None: "untested", True: "ok", False: "rejected"}[district.credentials_ok]


def _scope(district: registry.District) -> str:
    default = DEFAULT_SCOPES[district.oneroster_version]
    if district.scope:
        return district.scope
    return f"{default} (the default)" if default else "-"


def _sealed(key_id: str | None) -> str:
    return f"set, key {key_id}" if key_id else "not set"


def _last_error(district: registry.District) -> str:
    if district.last_error_at is None:
        return "none"
    return f"{_when(district.last_error_at)} [{district.last_error_kind}] {district.last_error}"


def _held(key: str, held: registry.HeldSync | None) -> str:
    if held is None:
        return "none"
    return f"#{held.sync_run_id} at {_when(held.started_at)}: {describe_held(key, held.held)}"
