"""Normalized frames → staging rows: what each row asks for (op) and its change hash.

Pure data work (pandas/pyarrow), no database: the reconciliation loads the result into
temporary staging tables and lets set-based SQL do the rest.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.hashing import row_hashes
from rostering_pipeline.oneroster.entities import ENTITIES

# What the pull asks for a staged row.
UPSERT = "u"  # insert, update or reactivate
DEACTIVATE = "d"  # status tobedeleted (1.0's "inactive" included)
KEEP = "k"  # quarantined: leave the stored row exactly as it is

_DEACTIVATING_STATUSES = ("tobedeleted", "inactive")
USER_SCHOOLS = "user_schools"


@dataclass(frozen=True)
class Plan:
    """One target table of the reconciliation and how its staged rows are keyed and hashed."""

    name: str  # the name counts are reported under
    table: sa.Table
    keys: tuple[str, ...]  # identify a row within a district
    business: tuple[str, ...]  # the tracked columns, copied from the pull and hashed
    # Business columns added by a later version: hashed only where set (hashing.row_hashes).
    added: tuple[str, ...] = ()


# Columns tracked since OneRoster 1.2: a 1.1 row's stored hash stays valid without them.
ADDED_IN_1_2 = frozenset({"preferred_given_name", "preferred_family_name"})


def _entity_plan(name: str) -> Plan:
    table = tables.ROSTER_TABLES[name]
    business = tuple(c for c in ENTITIES[name].columns if c in table.c)
    added = tuple(c for c in business if c in ADDED_IN_1_2)
    return Plan(name=name, table=table, keys=("sourced_id",), business=business, added=added)


# In the order they are applied: a later table refers only to earlier ones.
PLANS: tuple[Plan, ...] = (
    *(_entity_plan(name) for name in ("orgs", "academic_sessions", "courses", "classes", "users")),
    Plan(
        USER_SCHOOLS,
        tables.user_schools,
        ("user_sourced_id", "school_sourced_id"),
        business=("role",),
        added=("role",),
    ),
    _entity_plan("enrollments"),
)
PLANS_BY_NAME: dict[str, Plan] = {plan.name: plan for plan in PLANS}


def staging_columns(plan: Plan) -> tuple[str, ...]:
    return (*plan.keys, "op", "row_hash", "source_modified_at", *plan.business)


@dataclass(frozen=True)
class Staged:
    """A plan's staging rows and the counts only the frame knows."""

    rows: pa.Table  # columns: staging_columns(plan)
    quarantined: int
    dependent_quarantined: int


def _ops(
    sourced_ids: pa.ChunkedArray,
    status: pa.ChunkedArray,
    held_back: Collection[str],
) -> pa.ChunkedArray:
    deactivating = pc.fill_null(pc.is_in(status, pa.array(_DEACTIVATING_STATUSES)), False)
    ops = pc.if_else(deactivating, DEACTIVATE, UPSERT)
    kept = pc.is_in(sourced_ids, pa.array(sorted(held_back), pa.string()))
    return pc.if_else(kept, KEEP, ops)


def stage_entity(
    plan: Plan,
    frame: pd.DataFrame,
    quarantined: Collection[str],
    dependent_quarantined: Collection[str],
) -> Staged:
    """Staging rows for one entity; held-back ids missing from the frame are kept too."""
    source = pa.Table.from_pandas(
        frame[["sourced_id", "status", "source_modified_at", *plan.business]],
        preserve_index=False,
    )
    held_back = set(quarantined) | set(dependent_quarantined)
    columns: dict[str, pa.ChunkedArray | pa.Array] = {
        "sourced_id": source["sourced_id"],
        "op": _ops(source["sourced_id"], source["status"], held_back),
        "row_hash": row_hashes(
            [source[c] for c in plan.business if c not in plan.added],
            [source[c] for c in plan.added],
        ),
        "source_modified_at": source["source_modified_at"],
        **{c: source[c] for c in plan.business},
    }
    rows = _cast_strings(pa.table(columns))
    missing = sorted(held_back - set(source["sourced_id"].to_pylist()))
    if missing:
        kept = pa.table({"sourced_id": missing, "op": [KEEP] * len(missing)})
        rows = pa.concat_tables([rows, _cast_strings(kept)], promote_options="default")
    quarantined = set(quarantined)
    return Staged(
        rows=rows,
        quarantined=len(quarantined),
        dependent_quarantined=len(set(dependent_quarantined) - quarantined),
    )


def stage_user_schools(users: pd.DataFrame, users_staged: Staged) -> Staged:
    """One row per (user, org) of every upserted user, with the role held there (1.2; null for
    1.1); a user's org list is complete."""
    ops = users_staged.rows["op"].to_pylist()[: len(users)]  # the frame's rows come first
    columns = ("sourced_id", "org_sourced_ids", "school_roles", "source_modified_at")
    links: dict[tuple[str, str], tuple[object, str | None]] = {}
    quarantined_pairs = 0
    for op, (user_id, org_ids, roles, modified_at) in zip(
        ops, users[list(columns)].itertuples(index=False), strict=True
    ):
        if op == KEEP:
            quarantined_pairs += len(set(orjson.loads(org_ids)))
        elif op == UPSERT:
            roles_at = orjson.loads(roles)
            for n, org_id in enumerate(orjson.loads(org_ids)):
                links[(user_id, org_id)] = (modified_at, roles_at[n] if n < len(roles_at) else None)
    user_column = pa.array([user for user, _ in links], pa.string())
    school_column = pa.array([school for _, school in links], pa.string())
    role_column = pa.array([role for _, role in links.values()], pa.string())
    rows = pa.table(
        {
            "user_sourced_id": user_column,
            "school_sourced_id": school_column,
            "op": pa.array([UPSERT] * len(links), pa.string()),
            "row_hash": row_hashes([user_column, school_column], [role_column]),
            "source_modified_at": pa.array(
                [modified for modified, _ in links.values()],
                pa.timestamp("us", tz="UTC"),
                from_pandas=True,
            ),
            "role": role_column,
        }
    )
    return Staged(rows=rows, quarantined=quarantined_pairs, dependent_quarantined=0)


def _cast_strings(rows: pa.Table) -> pa.Table:
    """pandas' pyarrow strings arrive as large_string; staging expects plain utf8."""
    schema = pa.schema(
        [
            field.with_type(pa.string()) if pa.types.is_large_string(field.type) else field
            for field in rows.schema
        ]
    )
    return rows.cast(schema)
