"""The naive baseline: pandas `to_sql` for the first load, a row at a time on the next day.

    python -m benchmarks.naive first|next-day API_URL TOKEN_URL DATABASE_URL SCHEMA [--max-rows N]

Both fetch like the floor (benchmarks/floor.py) and flatten with `pandas.json_normalize` (lists
as JSON text). `first`: `DataFrame.to_sql(if_exists="replace")` per collection, pandas' default
insert, then a primary key on `sourcedId`. `next-day`: for every record an UPDATE by `sourcedId`
through SQLAlchemy, and an INSERT when it matched nothing, in one transaction; no deactivation of
absent rows (less work than the pipeline does). With `--max-rows`, only an evenly spread sample
of that many records is written, and the write time is extrapolated to every record.
"""

from __future__ import annotations

import time

import click
import orjson
import pandas as pd
import sqlalchemy as sa

from benchmarks.child import emit
from benchmarks.floor import api_client, fetch_all
from rostering_pipeline.oneroster.entities import ENTITIES


def flatten(records: list[dict]) -> pd.DataFrame:
    frame = pd.json_normalize(records)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, list | dict)).any():
            frame[column] = frame[column].map(lambda v: None if v is None else orjson.dumps(v))
            frame[column] = frame[column].str.decode("utf-8")
    return frame


def first_load(engine: sa.Engine, schema: str, frames: dict[str, pd.DataFrame]) -> None:
    """to_sql, then a primary key on sourcedId: without it every next-day UPDATE scans."""
    for name, frame in frames.items():
        frame.to_sql(name, engine, schema=schema, if_exists="replace", index=False)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'ALTER TABLE {schema}.{name} ADD PRIMARY KEY ("sourcedId")')


def upsert_rows(conn: sa.Connection, schema: str, name: str, frame: pd.DataFrame) -> None:
    """UPDATE by sourcedId, INSERT when nothing matched: one round trip or two per record."""
    known = {c["name"] for c in sa.inspect(conn).get_columns(name, schema=schema)}
    columns = [c for c in frame.columns if c in known]
    params = {c: f"p{i}" for i, c in enumerate(columns)}
    assignments = ", ".join(f'"{c}" = :{params[c]}' for c in columns if c != "sourcedId")
    update = sa.text(f'UPDATE {schema}.{name} SET {assignments} WHERE "sourcedId" = :p_id')
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(f":{params[c]}" for c in columns)
    insert = sa.text(f"INSERT INTO {schema}.{name} ({names}) VALUES ({values})")
    for row in (
        frame[columns].astype(object).where(frame[columns].notna(), None).itertuples(index=False)
    ):
        values = {params[c]: v for c, v in zip(columns, row, strict=True)}
        if conn.execute(update, {**values, "p_id": values[params["sourcedId"]]}).rowcount == 0:
            conn.execute(insert, values)


def sample(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """Every k-th row, so the sample spans the whole collection."""
    return frame if share >= 1 else frame.iloc[:: max(1, round(1 / share))]


@click.command()
@click.argument("phase", type=click.Choice(["first", "next-day"]))
@click.argument("api_url")
@click.argument("token_url")
@click.argument("database_url")
@click.argument("schema")
@click.option("--max-rows", type=int, help="Write at most about this many records; extrapolate.")
def main(
    phase: str, api_url: str, token_url: str, database_url: str, schema: str, max_rows: int | None
) -> None:
    engine = sa.create_engine(database_url)
    started = time.perf_counter()
    with api_client(api_url, token_url) as client:
        frames = {name: flatten(fetch_all(client, entity)) for name, entity in ENTITIES.items()}
    fetched = time.perf_counter()
    rows = sum(len(frame) for frame in frames.values())
    written = rows
    if phase == "first":
        first_load(engine, schema, frames)
    else:
        share = min(1.0, max_rows / rows) if max_rows else 1.0
        frames = {name: sample(frame, share) for name, frame in frames.items()}
        written = sum(len(frame) for frame in frames.values())
        with engine.begin() as conn:
            for name, frame in frames.items():
                upsert_rows(conn, schema, name, frame)
    write_s = time.perf_counter() - fetched
    fetch_s = fetched - started
    write_estimate = write_s * rows / written
    emit(
        {
            "total_s": fetch_s + write_estimate,
            "fetch_s": fetch_s,
            "write_s": write_estimate,
            "rows": rows,
            "rows_written": written,
            "extrapolated": written < rows,
        }
    )


if __name__ == "__main__":
    main()
