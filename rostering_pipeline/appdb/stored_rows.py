"""A district's stored rows of one table, held compactly while a full pull is staged.

A pulled row that asks for an upsert of an active stored row with the same change hash would
change nothing: it never reaches the database (on a re-sync, nearly every row). What a full pull
did not carry is known here too: its active stored rows left unseen are staged as ABSENT, which is
what the reconciliation deactivates, so the rows skipped are never taken for absent.

Rows are matched on a 128-bit digest of their keys (text_digests.py): the stored digests are
sorted once and each chunk of the pull is binary-searched against them (numpy), so memory is a
few dozen bytes per stored row and the pull is never held.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from rostering_pipeline.appdb.prepare import ABSENT, UPSERT, Plan, staging_columns
from rostering_pipeline.text_digests import digests, find_sorted

_DIGEST = np.dtype("S16")
# Stored rows are read from PostgreSQL and parsed in blocks of about this many bytes of CSV.
_BLOCK_BYTES = 8 << 20
# Between the parts of a compound key: PostgreSQL's text cannot hold NUL, so no key contains it.
_KEY_SEPARATOR = "\x00"


def key_digests(rows: pa.Table, keys: tuple[str, ...]) -> np.ndarray:
    """One 16-byte digest per row of its keys (joined by NUL), as a numpy S16 array; a row
    missing a key gets zeros, which no stored row's keys digest to."""
    if len(keys) == 1:
        joined = rows[keys[0]]
    else:  # null where a key is
        joined = pc.binary_join_element_wise(*(rows[key] for key in keys), _KEY_SEPARATOR)
    return np.ascontiguousarray(digests(joined)).view(_DIGEST).ravel()


class StoredRows:
    """One plan's stored rows in a district: keys, change hash, active; sorted by key digest."""

    def __init__(self, plan: Plan, stored: pa.Table) -> None:
        self.plan = plan
        digests = key_digests(stored, plan.keys)
        order = np.argsort(digests, kind="stable")
        self._digests = digests[order]
        self._keys = stored.select(list(plan.keys)).take(order)
        self._hashes = stored["row_hash"].take(order)
        self._active = stored["active"].to_numpy(zero_copy_only=False)[order]
        self._seen = np.zeros(len(order), dtype=bool)
        self.skipped = 0  # upserts that would have changed nothing

    @classmethod
    def read(cls, conn: sa.Connection, plan: Plan, district_id: int) -> StoredRows:
        table = plan.table
        query = sa.select(*(table.c[k] for k in plan.keys), table.c.row_hash, table.c.active).where(
            table.c.district_id == district_id
        )
        return cls(plan, _fetch(conn, query, plan.keys))

    @classmethod
    def nothing(cls, plan: Plan) -> StoredRows:
        """For a pull compared with nothing (a delta, or a file the package left out)."""
        columns = {key: pa.array([], pa.string()) for key in plan.keys}
        empty = {"row_hash": pa.array([], pa.string()), "active": pa.array([], pa.bool_())}
        return cls(plan, pa.table({**columns, **empty}))

    def sift(self, rows: pa.Table) -> pa.Table:
        """Notes every row's key as carried by the pull; returns the staging rows less the
        upserts of an active stored row whose hash they share."""
        if not len(self._digests) or not rows.num_rows:
            return rows
        digests = key_digests(rows, self.plan.keys)
        at, hit = find_sorted(digests, self._digests)
        found = np.flatnonzero(hit)
        stored_at = at[found]
        self._seen[stored_at] = True
        same_hash = pc.equal(rows["row_hash"].take(found), self._hashes.take(stored_at))
        same_hash = pc.fill_null(same_hash, False).to_numpy(zero_copy_only=False)
        upsert = pc.equal(rows["op"].take(found), UPSERT).to_numpy(zero_copy_only=False)
        unchanged = np.zeros(rows.num_rows, dtype=bool)
        unchanged[found] = same_hash & upsert & self._active[stored_at]
        self.skipped += int(unchanged.sum())
        return rows.filter(pa.array(~unchanged))

    def absent(self) -> pa.Table:
        """Staging rows (op ABSENT) for the active stored rows no sifted row carried."""
        unseen = self._keys.filter(pa.array(self._active & ~self._seen))
        n = unseen.num_rows
        columns = {
            name: unseen[name] if name in self.plan.keys else pa.nulls(n)
            for name in staging_columns(self.plan)
            if name != "op"
        }
        return pa.table({**columns, "op": pa.array([ABSENT] * n, pa.string())})


def _fetch(conn: sa.Connection, query: sa.Select, keys: tuple[str, ...]) -> pa.Table:
    """The query's rows as Arrow: COPY on PostgreSQL (a large district's rows in seconds)."""
    schema = _schema(keys)
    if conn.dialect.name != "postgresql":
        rows = conn.execute(query).all()
        columns = {name: [row[n] for row in rows] for n, name in enumerate(schema.names)}
        return pa.table(columns, schema=schema)
    compiled = query.compile(dialect=conn.dialect)
    blocks = [schema.empty_table()]
    block = io.BytesIO()
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params) as copy:
        for row in copy:  # one row's CSV line each: a block never ends inside a row
            block.write(row)
            if block.tell() >= _BLOCK_BYTES:
                blocks.append(_parse_csv(block, schema))
                block = io.BytesIO()
    if block.tell():
        blocks.append(_parse_csv(block, schema))
    return pa.concat_tables(blocks)


def _parse_csv(block: io.BytesIO, schema: pa.Schema) -> pa.Table:
    block.seek(0)
    return pacsv.read_csv(
        block,
        read_options=pacsv.ReadOptions(column_names=schema.names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, true_values=["t"], false_values=["f"]
        ),
    )


def _schema(keys: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [*((key, pa.string()) for key in keys), ("row_hash", pa.string()), ("active", pa.bool_())]
    )
