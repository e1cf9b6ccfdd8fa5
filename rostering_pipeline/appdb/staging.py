"""Temporary staging tables, bulk-loaded: COPY on PostgreSQL, executemany on SQLite.

A staging table lives only inside the district's transaction: ON COMMIT DROP on PostgreSQL;
on SQLite (where temporary tables outlive a transaction on the pooled connection) `drop_all`
removes them before the commit.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

_BATCH_ROWS = 100_000
# SQLAlchemy's own SQLite storage format for DateTime, so the app reads staged values back.
_SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def staging_table(metadata: sa.MetaData, name: str, columns: Iterable[sa.Column]) -> sa.Table:
    """A temporary table, dropped at commit on PostgreSQL."""
    return sa.Table(
        name,
        metadata,
        *columns,
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def create(conn: sa.Connection, table: sa.Table) -> None:
    """Create `table` afresh, empty."""
    table.drop(conn, checkfirst=True)
    table.create(conn)


def load(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """Append arrow rows (with `table`'s column names) to it."""
    if not rows.num_rows:
        return
    rows = rows.select([c.name for c in table.columns])
    if conn.dialect.name == "postgresql":
        _copy_postgresql(conn, table, rows)
    else:
        _insert_sqlite(conn, table, rows)


def finish(conn: sa.Connection, table: sa.Table, keys: Sequence[str]) -> None:
    """Index and analyze a loaded table, so joins against it plan well."""
    if conn.dialect.name == "sqlite":
        # SQLite joins by nested loops: without an index every anti-join is quadratic.
        sa.Index(f"ix_{table.name}_keys", *(table.c[k] for k in keys)).create(conn)
    conn.exec_driver_sql(f"ANALYZE {_quoted(conn, table.name)}")


def create_and_load(
    conn: sa.Connection, table: sa.Table, fill: sa.Insert, keys: Sequence[str]
) -> None:
    """Create `table` afresh, fill it by an INSERT ... SELECT, then index and analyze it."""
    create(conn, table)
    conn.execute(fill)
    finish(conn, table, keys)


def _quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _copy_postgresql(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    names = ", ".join(_quoted(conn, c.name) for c in table.columns)
    statement = f"COPY {_quoted(conn, table.name)} ({names}) FROM STDIN (FORMAT csv)"
    # Arrow's CSV writer leaves null unquoted and quotes every string, which is exactly
    # PostgreSQL's CSV distinction between NULL and ''.
    options = pacsv.WriteOptions(include_header=False)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy:
        for batch in rows.to_batches(_BATCH_ROWS):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())


def _sqlite_values(column: pa.ChunkedArray) -> list[object]:
    """Values stored the way SQLAlchemy stores them on SQLite (text dates, 0/1 booleans)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        column = pc.strftime(column, _SQLITE_TIMESTAMP)
    elif pa.types.is_date(kind):
        column = pc.cast(column, pa.string())
    elif pa.types.is_boolean(kind):
        column = pc.cast(column, pa.int8())
    return column.to_pylist()


def _insert_sqlite(conn: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    names = ", ".join(_quoted(conn, c.name) for c in table.columns)
    marks = ", ".join("?" for _ in table.columns)
    statement = f"INSERT INTO {_quoted(conn, table.name)} ({names}) VALUES ({marks})"
    cursor = conn.connection.driver_connection.cursor()
    for start in range(0, rows.num_rows, _BATCH_ROWS):
        batch = rows.slice(start, _BATCH_ROWS)
        cursor.executemany(statement, zip(*(_sqlite_values(c) for c in batch.columns), strict=True))
