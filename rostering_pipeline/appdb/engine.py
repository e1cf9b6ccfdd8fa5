"""Opening the application database and bringing its schema to the current revision.

The Alembic configuration is built in code around the migrations folder shipped inside the
package, so no `alembic.ini` is needed on disk. To write the next migration against a database
at head: `command.revision(alembic_config(conn), message, autogenerate=True, rev_id="0002")`.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from rostering_pipeline import config
from rostering_pipeline.errors import BadInput, RosteringError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
UPGRADE_HINT = "run `rostering-pipeline db upgrade`"
# How long a SQLite writer waits for the write lock: longer than the largest district's
# reconciliation on SQLite. A `?timeout=SECONDS` in the URL overrides it.
SQLITE_BUSY_TIMEOUT_S = 900


def make_engine(url: str | None = None, *, connections: int | None = None) -> sa.Engine:
    """An engine for `url` (default `ROSTERING_DATABASE_URL`); PostgreSQL always via psycopg 3.
    `connections`: a pool of exactly that many, kept open (SQLAlchemy's default opens up to 15
    and closes all but 5 as they come back, so a busy server keeps connecting anew)."""
    try:
        parsed = sa.make_url(url or config.database_url())
    except sa.exc.ArgumentError:
        # the URL may hold a password: name the setting, not the value
        raise BadInput("ROSTERING_DATABASE_URL is not a valid SQLAlchemy URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend in ("postgresql", "postgres"):  # "postgres://" as many hosts print it
        pool = {"pool_size": connections, "max_overflow": 0} if connections else {}
        # the reconciliation COPYs through psycopg 3, so no other driver will do
        return sa.create_engine(parsed.set(drivername="postgresql+psycopg"), **pool)
    raise BadInput(f"unsupported application database '{backend}': use PostgreSQL or SQLite")


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if "timeout" not in url.query:
        # One writer at a time: a district's reconciliation holds the write lock for its whole
        # transaction, and every other writer (another district's run, a webhook, an outcome)
        # waits its turn rather than failing after Python's default of 5 s.
        url = url.update_query_dict({"timeout": str(SQLITE_BUSY_TIMEOUT_S)})
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        # SQLite leaves foreign keys off per connection; WAL lets readers (the UI, another
        # district's validation) run beside a writer, and NORMAL is WAL's durable-enough sync.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic configuration whose env.py runs on `connection`."""
    cfg = Config(attributes={"connection": connection})
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def upgrade(url: str | None = None) -> None:
    """Bring the database at `url` (default `ROSTERING_DATABASE_URL`) to the newest revision."""
    engine = make_engine(url)
    try:
        with _connected(engine) as connection:
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with _connected(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_schema(engine: sa.Engine) -> None:
    """BadInput unless the database is at the revision this version of the code expects."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise BadInput(f"database not initialised; {UPGRADE_HINT}")
    if current != head:
        raise BadInput(f"database schema is at revision {current}, expected {head}; {UPGRADE_HINT}")


def ready_engine(url: str | None = None, *, connections: int | None = None) -> sa.Engine:
    """`make_engine`, refusing a database whose schema is missing or out of date."""
    engine = make_engine(url, connections=connections)
    try:
        require_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _connected(engine: sa.Engine) -> sa.Connection:
    """`engine.connect()` with an unreachable database reported as one line."""
    try:
        return engine.connect()
    except sa.exc.OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "unreachable"
        raise RosteringError(f"cannot open the application database {where}: {reason}") from exc
