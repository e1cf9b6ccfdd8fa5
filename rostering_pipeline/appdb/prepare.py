"""Normalized frames → staging rows: what each row asks for (op) and its change hash.

Pure data work (pandas/pyarrow), no database, a chunk of rows at a time: the reconciliation
loads each chunk's rows into temporary staging tables and lets set-based SQL do the rest.
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
ABSENT = "a"  # an active stored row a full pull did not carry (stored_rows.py)

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


def _ops(
    sourced_ids: pa.ChunkedArray,
    status: pa.ChunkedArray,
    held_back: pa.Array,
) -> pa.ChunkedArray:
    deactivating = pc.fill_null(pc.is_in(status, pa.array(_DEACTIVATING_STATUSES)), False)
    ops = pc.if_else(deactivating, DEACTIVATE, UPSERT)
    return pc.if_else(pc.is_in(sourced_ids, held_back), KEEP, ops)


class EntityStager:
    """Staging rows for one entity's pull, a chunk of its rows at a time: a district's pull
    never has to be in memory at once. Remembers only which held-back ids it met."""

    def __init__(
        self, plan: Plan, quarantined: Collection[str], dependent_quarantined: Collection[str]
    ) -> None:
        self.plan = plan
        quarantined = set(quarantined)
        self.held_back = quarantined | set(dependent_quarantined)
        self.quarantined = len(quarantined)
        self.dependent_quarantined = len(self.held_back - quarantined)
        self._held_back = pa.array(sorted(self.held_back), pa.string())
        self._met: set[str] = set()

    def stage(self, frame: pd.DataFrame) -> pa.Table:
        """The chunk's rows, in its order: what each asks for (op), its hash, its columns."""
        plan = self.plan
        source = pa.Table.from_pandas(
            frame[["sourced_id", "status", "source_modified_at", *plan.business]],
            preserve_index=False,
        )
        ops = _ops(source["sourced_id"], source["status"], self._held_back)
        if self.held_back:
            self._met.update(pc.filter(source["sourced_id"], pc.equal(ops, KEEP)).to_pylist())
        columns: dict[str, pa.ChunkedArray | pa.Array] = {
            "sourced_id": source["sourced_id"],
            "op": ops,
            "row_hash": row_hashes(
                [source[c] for c in plan.business if c not in plan.added],
                [source[c] for c in plan.added],
            ),
            "source_modified_at": source["source_modified_at"],
            **{c: source[c] for c in plan.business},
        }
        return _cast_strings(pa.table(columns))

    def kept_but_absent(self) -> pa.Table:
        """After the last chunk: held-back ids the pull did not carry are kept too."""
        missing = sorted(self.held_back - self._met)
        columns = {
            name: pa.nulls(len(missing))
            for name in staging_columns(self.plan)
            if name not in ("sourced_id", "op")
        }
        ids = pa.array(missing, pa.string())
        return pa.table({"sourced_id": ids, "op": pa.array([KEEP] * len(missing)), **columns})


def stage_user_schools(users: pd.DataFrame, ops: list[str]) -> tuple[pa.Table, int]:
    """One row per (user, org) of every upserted user in a chunk of users (`ops`: their staged
    ops, in order), with the role held there (1.2; null for 1.1); a user's org list is complete.
    Also the links of quarantined users, which are left as they are."""
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
    return rows, quarantined_pairs


def _cast_strings(rows: pa.Table) -> pa.Table:
    """pandas' pyarrow strings arrive as large_string; staging expects plain utf8."""
    schema = pa.schema(
        [
            field.with_type(pa.string()) if pa.types.is_large_string(field.type) else field
            for field in rows.schema
        ]
    )
    return rows.cast(schema)
