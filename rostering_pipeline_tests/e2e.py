"""Helpers for end-to-end tests: a registered district against the local provider."""

from __future__ import annotations

import sqlalchemy as sa

from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline.districts import add_district, get_district
from rostering_pipeline.secrets import SecretBox

CLIENT_ID = "e2e"
SECRET = "s3cr3t-for-the-e2e-test"


def serve_small(version: str = "1.1") -> ProviderServer:
    """Three schools of 300 students in all: enough for two-school teachers and the guard."""
    settings = ProviderSettings(
        district=DistrictSpec(seed=3, schools=3, students=300),
        client_id=CLIENT_ID,
        client_secret=SECRET,
        version=version,
    )
    return ProviderServer(settings)


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


def district_rows(engine: sa.Engine, table: sa.Table, columns: list, key: str) -> set[tuple]:
    """The district's rows of `table`, as tuples of `columns`."""
    district = get_district(engine, key)
    with engine.connect() as conn:
        return set(
            conn.execute(sa.select(*columns).where(table.c.district_id == district.id)).all()
        )
