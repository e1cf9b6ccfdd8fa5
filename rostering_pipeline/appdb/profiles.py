"""Stored provider profiles: one row per district and collection, merged pull by pull."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from rostering_pipeline.appdb.tables import provider_profiles
from rostering_pipeline.oneroster.entities import ENTITIES


def record_profile(
    conn: sa.Connection, district_id: int, entity: str, observed: Mapping[str, Any], at: datetime
) -> None:
    """Merge what one pull observed into the stored profile (a pull's silence keeps what earlier
    pulls taught). Each collection's row is written by its own asset only."""
    t = provider_profiles
    mine = sa.and_(t.c.district_id == district_id, t.c.entity == entity)
    stored = conn.execute(sa.select(t.c.profile).where(mine)).scalar_one_or_none()
    merged = orjson.dumps({**(orjson.loads(stored) if stored else {}), **observed}).decode()
    if stored is None:
        conn.execute(
            t.insert().values(district_id=district_id, entity=entity, profile=merged, updated_at=at)
        )
    else:
        conn.execute(t.update().where(mine).values(profile=merged, updated_at=at))


def load_profiles(bind: sa.Engine | sa.Connection, district_id: int) -> dict[str, dict[str, Any]]:
    """entity -> its merged profile, in the order of ENTITIES; collections never pulled are left
    out."""
    t = provider_profiles
    query = sa.select(t.c.entity, t.c.profile).where(t.c.district_id == district_id)
    if isinstance(bind, sa.Engine):
        with bind.connect() as conn:
            rows = dict(conn.execute(query).all())
    else:
        rows = dict(bind.execute(query).all())
    return {name: orjson.loads(rows[name]) for name in ENTITIES if name in rows}
