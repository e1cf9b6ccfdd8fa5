"""Helpers for end-to-end tests: a registered district against the local provider."""

from __future__ import annotations

import sqlalchemy as sa

from rostering_pipeline.devserver import ProviderServer
from rostering_pipeline.districts import add_district
from rostering_pipeline.secrets import SecretBox

CLIENT_ID = "e2e"
SECRET = "s3cr3t-for-the-e2e-test"


def register(engine: sa.Engine, server: ProviderServer, key: str = "d1", **settings) -> None:
    with engine.begin() as conn:
        add_district(
            conn,
            key=key,
            name=f"District {key}",
            base_url=server.base_url,
            auth_method="oauth2",
            client_id=CLIENT_ID,
            token_url=server.token_url,
            client_secret=SECRET,
            box=SecretBox.from_env(),
            **settings,
        )


def active(engine: sa.Engine, table: sa.Table, **where) -> int:
    query = sa.select(sa.func.count()).select_from(table).where(table.c.active)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()
