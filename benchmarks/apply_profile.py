"""Where a reconciliation's time goes on PostgreSQL: the seconds of each SQL statement it runs
(SQLAlchemy's cursor events) and of each staging table's COPY (the rows encoded as CSV and
sent), and what a roster table's foreign key to `districts` costs a large insert (EXPLAIN
ANALYZE: PostgreSQL checks it by a trigger on every row).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import orjson
import sqlalchemy as sa

from rostering_pipeline.appdb import reconcile as reconcile_module
from rostering_pipeline.appdb import tables

_PARAMETER = re.compile(r"%\(\w+\)s(::[A-Z]+( WITH TIME ZONE)?)?")
_COLUMN_LIST = re.compile(r"^(INSERT INTO \w+) \([^)]*\)")
_LABEL_CHARS = 90


def label(statement: str) -> str:
    """The statement's opening words, parameters shown as `?`: enough to tell them apart."""
    text = _COLUMN_LIST.sub(r"\1 (…)", _PARAMETER.sub("?", " ".join(statement.split())))
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


@contextmanager
def statement_seconds(engine: sa.Engine) -> Iterator[Counter[str]]:
    """Seconds by statement label while inside, COPYs included (as `COPY <staging table>`)."""
    seconds: Counter[str] = Counter()
    started: dict[int, float] = {}

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        seconds[label(statement)] += time.perf_counter() - started.pop(id(cursor))

    def load(conn: sa.Connection, table: sa.Table, rows) -> None:
        begin = time.perf_counter()
        original_load(conn, table, rows)
        seconds[f"COPY {table.name}"] += time.perf_counter() - begin

    # reconcile.py calls staging's `load` by the name it imported, so that name is wrapped.
    original_load: Callable = reconcile_module.load
    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    reconcile_module.load = load
    try:
        yield seconds
    finally:
        reconcile_module.load = original_load
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)


def statement_lines(seconds: Counter[str], total_s: float, top: int = 10) -> list[str]:
    """The `top` statements by seconds, as a Markdown table, and what the rest took."""
    in_database = sum(seconds.values())
    lines = [
        f"The initial apply's {total_s:.1f} s: {in_database:.1f} s in SQL statements and "
        f"COPYs, {total_s - in_database:.1f} s in Python (hashing, sifting, CSV encoding "
        "outside COPY).",
        "",
        "| statement (initial apply) | seconds | share |",
        "|---|---:|---:|",
    ]
    for statement, spent in seconds.most_common(top):
        escaped = statement.replace("|", "\\|")
        lines.append(f"| `{escaped}` | {spent:.2f} | {spent / total_s:.0%} |")
    rest = in_database - sum(spent for _, spent in seconds.most_common(top))
    lines.append(
        f"| {len(seconds) - min(top, len(seconds))} other statements | {rest:.2f} | "
        f"{rest / total_s:.0%} |"
    )
    return lines


def foreign_key_lines(engine: sa.Engine, district_id: int, other_district_id: int) -> list[str]:
    """The district's enrollments inserted again under another district, explained and rolled
    back: the insert's time, and the foreign key trigger's share of it."""
    enrollments = tables.enrollments
    copied = [c.name for c in enrollments.columns if c.name not in ("id", "district_id")]
    rows = sa.select(
        sa.literal(other_district_id, tables.BigId), *(enrollments.c[c] for c in copied)
    ).where(enrollments.c.district_id == district_id)
    insert = sa.insert(enrollments).from_select(["district_id", *copied], rows)
    with engine.connect() as conn:
        text = str(insert.compile(conn, compile_kwargs={"literal_binds": True}))
        explained = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {text}").scalar_one()
        conn.rollback()
    (plan,) = orjson.loads(explained) if isinstance(explained, str) else explained
    inserted = plan["Plan"]["Plans"][0]["Actual Rows"]
    total_s = plan["Execution Time"] / 1000
    lines = [
        f"Inserting the district's {inserted:,} enrollments again, as another district's "
        f"(EXPLAIN ANALYZE, rolled back): {total_s:.1f} s, of which:"
    ]
    for trigger in plan.get("Triggers", []):
        name = trigger.get("Constraint Name", trigger["Trigger Name"])
        lines.append(
            f"- {name}: {trigger['Time'] / 1000:.1f} s over {trigger['Calls']:,} calls "
            f"({trigger['Time'] / 1000 / total_s:.0%}): one check of the same `districts` row "
            "per inserted row"
        )
    return lines
