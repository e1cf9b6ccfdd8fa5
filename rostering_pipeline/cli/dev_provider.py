"""`rostering-pipeline dev-provider`: the local OneRoster provider in the foreground, and
`dev-provider export-csv`: its district as a OneRoster CSV package."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

import click

from rostering_pipeline.devserver import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DistrictSpec,
    Faults,
    ProviderServer,
    ProviderSettings,
    Quirks,
)
from rostering_pipeline.devserver.csv_files import parse_csv_quirks, write_package
from rostering_pipeline.devserver.daily import advance_day
from rostering_pipeline.devserver.feeds import FeedQuirks, parse_feed
from rostering_pipeline.devserver.fleet import FleetServer
from rostering_pipeline.devserver.fleet import tenants as make_tenants
from rostering_pipeline.devserver.synthetic import generate

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.group("dev-provider", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--students", type=click.IntRange(1), default=1000, show_default=True)
@click.option(
    "--schools", type=click.IntRange(1), help="Default: 5 for the demo size, else scaled."
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--days", type=click.IntRange(0), default=0, help="Advance the district this many days."
)
@click.option(
    "--spill",
    is_flag=True,
    help="Keep the classes, users and enrollments in temporary files instead of memory: a "
    "district of a million students in about the memory of a small one (days advanced with "
    "--days are held in memory again).",
)
@click.option(
    "--auth", type=click.Choice(["oauth2", "oauth1"]), default="oauth2", show_default=True
)
@click.option("--client-id", default=DEMO_CLIENT_ID, show_default=True)
@click.option(
    "--client-secret-env",
    metavar="VAR",
    help="Read the secret from VAR (default: the demo secret).",
)
@click.option(
    "--scope", help="Require this scope on token requests (1.2: its rostering scope by default)."
)
@click.option(
    "--oneroster-version",
    type=click.Choice(["1.1", "1.2"]),
    default="1.1",
    show_default=True,
    help="1.2: users with roles lists, preferred names and pronouns, a /demographics endpoint.",
)
@click.option("--token-lifetime", type=click.IntRange(1), default=3600, show_default=True)
@click.option("--expires-in-as-string", is_flag=True)
@click.option("--rate-429", type=click.FloatRange(0, 1), default=0.0)
@click.option("--retry-after", default="1", show_default=True)
@click.option("--rate-5xx", type=click.FloatRange(0, 1), default=0.0)
@click.option("--rate-reset", type=click.FloatRange(0, 1), default=0.0)
@click.option("--rate-truncated", type=click.FloatRange(0, 1), default=0.0)
@click.option("--rate-html", type=click.FloatRange(0, 1), default=0.0)
@click.option(
    "--latency", type=click.FloatRange(0), default=0.0, help="Seconds added per data response."
)
@click.option("--fault-seed", type=int, default=0)
@click.option("--page-size-cap", type=click.IntRange(1))
@click.option(
    "--users-envelope", type=click.Choice(["users", "students", "teachers"]), default="users"
)
@click.option(
    "--sessions-envelope",
    type=click.Choice(["academicSessions", "terms"]),
    default="academicSessions",
)
@click.option("--bool-style", type=click.Choice(["json", "lower", "title"]), default="json")
@click.option("--periods-as-string", is_flag=True)
@click.option("--relative-href", is_flag=True)
@click.option("--inactive-status", is_flag=True)
@click.option(
    "--sorted-without-sort", is_flag=True, help="Serve in sourcedId order even without sort=."
)
@click.option("--reject-fields", is_flag=True)
@click.option("--html-errors", is_flag=True)
@click.option("--no-total-count", is_flag=True)
@click.option("--no-link-header", is_flag=True)
@click.option("--duplicate-across-pages", is_flag=True)
@click.option("--repeat-first-page", is_flag=True)
@click.option("--no-extra-fields", is_flag=True, help="Leave out password, phone, metadata...")
@click.option(
    "--feed",
    "feed_knobs",
    multiple=True,
    metavar="KNOB[=VALUE]",
    help="What real servers send beyond the spec, e.g. --feed enum_case --feed "
    "timestamps=date_only --feed future_dated_users=3 (devserver/feeds.py lists them).",
)
@click.pass_context
def dev_provider(ctx: click.Context, **o: object) -> None:
    """Serve a synthetic district over OneRoster 1.1 or 1.2 until interrupted; or, with
    `export-csv`, write it as a OneRoster CSV package."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = o  # the district's options, for the sub-command
        return
    secret = _secret(o)
    settings = ProviderSettings(
        district=_spec(o),
        auth=o["auth"],
        version=o["oneroster_version"],
        client_id=o["client_id"],
        client_secret=secret,
        scope=o["scope"],
        token_lifetime_s=o["token_lifetime"],
        expires_in_as_string=o["expires_in_as_string"],
        faults=Faults(
            rate_429=o["rate_429"], retry_after=o["retry_after"], rate_5xx=o["rate_5xx"],
            latency_s=o["latency"], rate_reset=o["rate_reset"], rate_truncated=o["rate_truncated"],
            rate_html=o["rate_html"], seed=o["fault_seed"],
        ),
        spill=o["spill"],
        quirks=Quirks(
            page_size_cap=o["page_size_cap"], users_envelope=o["users_envelope"],
            sessions_envelope=o["sessions_envelope"], bool_style=o["bool_style"],
            periods_as_string=o["periods_as_string"], relative_href=o["relative_href"],
            inactive_status=o["inactive_status"], reject_fields=o["reject_fields"],
            unsorted_without_sort=not o["sorted_without_sort"], html_errors=o["html_errors"],
            total_count=not o["no_total_count"], link_header=not o["no_link_header"],
            duplicate_across_pages=o["duplicate_across_pages"],
            repeat_first_page=o["repeat_first_page"], extra_fields=not o["no_extra_fields"],
            feed=_feed(o["feed_knobs"]),
        ),
    )  # fmt: skip
    if o["host"] not in LOOPBACK:
        click.echo(f"warning: serving synthetic rosters beyond loopback on {o['host']}", err=True)
    server = ProviderServer(settings, host=str(o["host"]), port=int(o["port"]))
    for _ in range(int(o["days"])):
        server.advance_day()
    with server:
        click.echo(f"OneRoster {settings.version} provider at {server.api_url}", nl=True)
        click.echo(
            f"  auth {settings.auth}, client id {settings.client_id}, token URL {server.token_url}"
        )
        counts = ", ".join(f"{n} {name}" for name, n in server.district.counts().items())
        click.echo(f"  day {server.district.day} ({server.district.now}): {counts}")
        _serve_until_stopped()


def _serve_until_stopped() -> None:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    click.echo("  Ctrl-C stops it.")
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()


def _secret(o: dict[str, object]) -> str:
    if not o["client_secret_env"]:
        return DEMO_CLIENT_SECRET
    secret = os.environ.get(str(o["client_secret_env"]), "")
    if not secret:
        raise click.BadParameter(
            f"environment variable {o['client_secret_env']} is not set",
            param_hint="--client-secret-env",
        )
    return secret


def _feed(knobs: tuple[str, ...]) -> FeedQuirks:
    try:
        return parse_feed(knobs)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--feed") from None


def _spec(o: dict[str, object]) -> DistrictSpec:
    """The demo district at the demo size, else the large district's proportions."""
    students, seed = int(o["students"]), int(o["seed"])
    spec = DistrictSpec.sized(students, seed) if students != 1000 else DistrictSpec.demo(seed)
    return replace(spec, schools=int(o["schools"])) if o["schools"] else spec


@dev_provider.command("export-csv")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--delta-since-day",
    type=click.IntRange(0),
    help="A delta package of the records changed on or after this day (default: bulk).",
)
@click.option(
    "--quirk",
    "quirk_knobs",
    multiple=True,
    metavar="KNOB[=VALUE]",
    help="What real files do: bom, crlf, shuffled_columns, blank_status, bool_style=upper|digit, "
    "slashed_dates, tricky_text, in_folder, no_courses, truncate_users=0.5.",
)
@click.pass_obj
def export_csv(o: dict[str, object], out: Path, delta_since_day: int | None, quirk_knobs) -> None:
    """Write the synthetic district (after --days) as a CSV zip at OUT, in the group's
    --oneroster-version: `dev-provider --days 1 export-csv day1.zip`."""
    district = generate(_spec(o))
    for _ in range(int(o["days"])):
        advance_day(district)
    try:
        quirks = parse_csv_quirks(quirk_knobs)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--quirk") from None
    written = write_package(
        district,
        out,
        version=str(o["oneroster_version"]),
        delta_since_day=delta_since_day,
        quirks=quirks,
    )
    kind = "bulk" if delta_since_day is None else f"delta since day {delta_since_day}"
    version = o["oneroster_version"]
    click.echo(f"wrote {written} (OneRoster {version} CSV, day {district.day}, {kind})")


@dev_provider.command("fleet")
@click.option("--tenants", type=click.IntRange(1), default=50, show_default=True)
@click.option(
    "--clients",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="Client ids the tenants take in turn.",
)
@click.option(
    "--students-range",
    default="500:5000",
    show_default=True,
    metavar="LOW:HIGH",
    help="Each tenant's student count, drawn uniformly (seeded by --seed).",
)
@click.option("--prefix", default="d", show_default=True, help="Tenant names: <prefix>000...")
@click.pass_obj
def fleet(o: dict[str, object], tenants: int, clients: int, students_range: str, prefix: str):
    """Serve many districts (OneRoster 1.1, OAuth 2) from this one host, each under
    /t/<tenant> with its own token URL; the group's --host, --port, --seed and
    --client-secret-env apply (one secret for every client id)."""
    low, _, high = students_range.partition(":")
    if not (low.isdigit() and high.isdigit()):
        raise click.BadParameter(
            f"{students_range!r}: expected LOW:HIGH, e.g. 500:5000", param_hint="--students-range"
        )
    try:
        fleet_tenants = make_tenants(
            tenants,
            clients=clients,
            students=(int(low), int(high)),
            seed=int(o["seed"]),
            prefix=prefix,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--students-range") from None
    server = FleetServer(
        fleet_tenants, client_secret=_secret(o), host=str(o["host"]), port=int(o["port"])
    )
    with server:
        click.echo(f"OneRoster 1.1 fleet of {tenants} districts at {server.base_url}/t/<tenant>")
        for tenant in fleet_tenants:
            click.echo(
                f"  {server.tenant_url(tenant.name)}  client {tenant.client_id}, "
                f"{tenant.spec.students:,} students"
            )
        _serve_until_stopped()
