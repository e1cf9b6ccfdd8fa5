"""`make demo`: local provider, demo district, a full sync and a "next day" sync through Dagster."""

from __future__ import annotations

import base64
import os
import secrets
import sys

import sqlalchemy as sa

from rostering_pipeline import config
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.appdb.tables import ROSTER_TABLES, user_schools
from rostering_pipeline.devserver import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DistrictSpec,
    ProviderServer,
    ProviderSettings,
)
from rostering_pipeline.districts import add_district, get_district, update_district
from rostering_pipeline.errors import BadInput
from rostering_pipeline.outcomes import describe_changes
from rostering_pipeline.runner import run_sync
from rostering_pipeline.secrets import SecretBox

DEMO_KEY = "demo"


def ensure_secret_keys() -> None:
    """Uses ROSTERING_SECRET_KEYS (or its file), or else writes the demo's own key file in the
    data folder, which the CLI and `make ui` then read too."""
    if os.environ.get("ROSTERING_SECRET_KEYS") or os.environ.get("ROSTERING_SECRET_KEYS_FILE"):
        return
    key_file = config.demo_key_file()
    if not key_file.exists():
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(f"demo:{key}\n")
        key_file.chmod(0o600)
        print(
            f"wrote a demo encryption key to {key_file} (set ROSTERING_SECRET_KEYS in production)"
        )


def register(engine: sa.Engine, server: ProviderServer) -> None:
    box = SecretBox.from_env()
    with engine.begin() as conn:
        try:
            get_district(conn, DEMO_KEY)
        except BadInput:
            add_district(
                conn,
                key=DEMO_KEY,
                name="Demo Unified School District",
                base_url=server.base_url,
                auth_method="oauth2",
                client_id=DEMO_CLIENT_ID,
                token_url=server.token_url,
                client_secret=DEMO_CLIENT_SECRET,
                box=box,
            )
        else:
            update_district(conn, DEMO_KEY, base_url=server.base_url, token_url=server.token_url)


def active_counts(engine: sa.Engine) -> dict[str, int]:
    tables = {**{t.name: t for t in ROSTER_TABLES.values()}, "user_schools": user_schools}
    with engine.connect() as conn:
        district = get_district(conn, DEMO_KEY)
        return {
            name: conn.execute(
                sa.select(sa.func.count())
                .select_from(table)
                .where(table.c.district_id == district.id, table.c.active)
            ).scalar_one()
            for name, table in tables.items()
        }


def sync_and_report(title: str) -> None:
    outcome = run_sync(DEMO_KEY, mode="full")
    if not outcome.success:
        print(f"error: {title} failed: {outcome.message}", file=sys.stderr)
        sys.exit(outcome.exit_code)
    print(f"\n{title} (Dagster run {outcome.run_id}):")
    for line in describe_changes(outcome.changes):
        print(f"  {line}")


def main() -> None:
    print(f"data folder: {config.data_dir()}")
    ensure_secret_keys()
    upgrade()
    engine = make_engine()
    settings = ProviderSettings(district=DistrictSpec.demo())
    with ProviderServer(settings) as server:
        print(f"local OneRoster provider on {server.base_url}")
        register(engine, server)
        sync_and_report("first full sync")
        server.advance_day()
        sync_and_report('"next day" sync')
    print("\nactive rows in the application database:")
    for name, count in active_counts(engine).items():
        print(f"  {name:<18} {count:>8}")
    print(f"\napplication database: {config.database_url()}")
    print("open the Dagster UI on the same instance with: make ui  (then http://127.0.0.1:3000)")


if __name__ == "__main__":
    main()
