"""Set-based reconciliation of one district's pull into the application database.

The frames are staged into temporary tables, then a handful of SQL statements per table apply
inserts, updates, deactivations (with the user cascade) and reactivations, and recompute the
teacher of record. Everything happens in ONE transaction per district; the guard and preview
mode run the very same statements and roll them back, so their counts are exactly what an apply
would do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.guard import Guard, entities_over_threshold
from rostering_pipeline.appdb.id_case import follow_id_case_changes, respell_references
from rostering_pipeline.appdb.locks import lock_unpurged
from rostering_pipeline.appdb.prepare import (
    ABSENT,
    DEACTIVATE,
    KEEP,
    PLANS,
    PLANS_BY_NAME,
    UPSERT,
    USER_SCHOOLS,
    EntityStager,
    Plan,
    stage_user_schools,
    staging_columns,
)
from rostering_pipeline.appdb.staging import create, create_and_load, finish, load, staging_table
from rostering_pipeline.appdb.stored_rows import StoredRows
from rostering_pipeline.errors import BadInput
from rostering_pipeline.oneroster.entities import ENTITIES

MODES = ("full", "delta", "preview")
FAULT_POINTS = (
    "after_staging",
    *(f"after_{plan.name}" for plan in PLANS),
    "after_teacher_of_record",
    "before_commit",
)
_HELD_SAMPLE_SIZE = 20
_ERROR_MAX_CHARS = 300
_EMPTY: Mapping[str, frozenset[str]] = MappingProxyType({})
_DEFAULT_GUARD = Guard()

# An entity's pulled rows: one frame, or chunks of them read as they are staged (a large
# district's pull is never in memory at once).
Pull = pd.DataFrame | Iterable[pd.DataFrame]


@dataclass(frozen=True)
class ReconcileResult:
    status: str  # "succeeded" | "held" | "preview"
    # plan name (entities and "user_schools") -> inserted, updated, deactivated, reactivated,
    # unchanged, quarantined, dependent_quarantined (classes also: teacher_changed)
    counts: dict[str, dict[str, int]]
    # entity -> {would_deactivate, active, sample_ids}: the entities over the guard's threshold
    held: dict[str, dict[str, object]] | None
    sync_run_id: int
    # plan name -> the district's active rows after this run (held or preview: as before it)
    active: dict[str, int]
    # plan name -> the rows sent to the database (a full pull's unchanged rows never are)
    staged: dict[str, int]

    @property
    def held_total(self) -> int:
        """The deactivations an operator must approve for this pull to apply."""
        return sum(int(entry["would_deactivate"]) for entry in (self.held or {}).values())


def reconcile(
    engine: sa.Engine,
    *,
    district_id: int,
    frames: Mapping[str, Pull],
    mode: str,
    absent: frozenset[str] = frozenset(),
    quarantined: Mapping[str, frozenset[str]] = _EMPTY,
    dependent_quarantined: Mapping[str, frozenset[str]] = _EMPTY,
    guard: Guard = _DEFAULT_GUARD,
    dagster_run_id: str | None = None,
    high_water_mark: datetime | None = None,
    pulled_at: datetime | None = None,
    now: datetime | None = None,
    preview: Mapping[str, object] | None = None,
    fault_hook: Callable[[str], None] | None = None,
) -> ReconcileResult:
    """Apply (full, delta) or diff (preview) one district's validated frames (each entity's
    whole, or in chunks that are staged one at a time inside the district's transaction).

    `high_water_mark`: where the district's next delta starts (minus its overlap): the provider's
    clock when this run's pulls began; `now` when not given.
    `absent`: entities a CSV package left out: whatever their frames, nothing of them is
    deactivated for being absent (users absent: their school links neither).
    `pulled_at`: when the frames' snapshots were taken (the oldest); a set older than the one the
    district holds is refused, so a run that waited never applies its roster over a newer one.

    Returns the outcome ("succeeded", "held" by the guard, or "preview"); any error rolls the
    whole district back, records a failed `sync_runs` row and is re-raised.
    """
    now = now or datetime.now(UTC)
    run = _RunRecord(district_id, mode, now, dagster_run_id, guard.approved_max)
    try:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        pulls = _pulls(frames, mode, absent)
        with engine.connect() as conn:
            _begin_district_transaction(conn, district_id, pulled_at)
            apply = _Apply(conn, district_id, mode, absent, now, fault_hook or _no_fault)
            active = apply.active_counts()
            held_back = apply.stage(pulls, quarantined, dependent_quarantined)
            counts = apply.run(held_back)
            deactivated = {name: entry["deactivated"] for name, entry in counts.items()}
            held = entities_over_threshold(guard, would_deactivate=deactivated, active=active)
            for name, entry in held.items():
                entry["sample_ids"] = apply.deactivated_sample(PLANS_BY_NAME[name])
            if mode == "preview" or held:
                conn.rollback()
            else:
                apply.record_applied(high_water_mark or now, pulled_at)
                sync_run_id = run.write(conn, "succeeded", counts=counts)
                apply.fault("before_commit")
                apply.drop_staging()
                conn.commit()
                after = {
                    name: active[name]
                    + entry["inserted"]
                    + entry["reactivated"]
                    - entry["deactivated"]
                    for name, entry in counts.items()
                }
                return ReconcileResult("succeeded", counts, None, sync_run_id, after, apply.staged)
    except Exception as exc:
        with engine.begin() as conn:
            run.write(conn, "failed", error=_describe(exc))
        raise
    status = "preview" if mode == "preview" else "held"
    with engine.begin() as conn:
        sync_run_id = run.write(conn, status, counts=counts, held=held or None, preview=preview)
    return ReconcileResult(status, counts, held or None, sync_run_id, active, apply.staged)


def _no_fault(_point: str) -> None:
    return None


@dataclass(frozen=True)
class _RunRecord:
    """What every `sync_runs` row of this attempt shares."""

    district_id: int
    mode: str
    started_at: datetime
    dagster_run_id: str | None
    approved_max: int

    def write(
        self,
        conn: sa.Connection,
        status: str,
        *,
        counts: Mapping[str, object] | None = None,
        held: Mapping[str, object] | None = None,
        preview: Mapping[str, object] | None = None,
        error: str | None = None,
    ) -> int:
        statement = (
            sa.insert(tables.sync_runs)
            .values(
                district_id=self.district_id,
                mode=self.mode,
                started_at=self.started_at,
                finished_at=datetime.now(UTC),
                status=status,
                dagster_run_id=self.dagster_run_id,
                counts=_json(counts),
                held=_json(held),
                approved_max=self.approved_max,
                preview=_json(preview),
                error=error,
            )
            .returning(tables.sync_runs.c.id)
        )
        return conn.execute(statement).scalar_one()


def _json(value: Mapping[str, object] | None) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _describe(exc: Exception) -> str:
    """Class name and first line of the error: never the SQL or its parameters."""
    cause = exc.orig if isinstance(exc, sa.exc.StatementError) and exc.orig else exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"[:_ERROR_MAX_CHARS]


def _pulls(
    frames: Mapping[str, Pull], mode: str, absent: frozenset[str]
) -> dict[str, Iterable[pd.DataFrame]]:
    """Each entity's chunks; an entity a delta did not pull, or a package left out, has none."""
    missing = [name for name in ENTITIES if name not in frames and name not in absent]
    if missing and mode != "delta":
        raise ValueError(f"a {mode} sync needs every entity; missing: {', '.join(missing)}")
    pulls: dict[str, Iterable[pd.DataFrame]] = {}
    for name in ENTITIES:
        pull = frames.get(name, ())
        pulls[name] = [pull] if isinstance(pull, pd.DataFrame) else pull
    return pulls


def _begin_district_transaction(
    conn: sa.Connection, district_id: int, pulled_at: datetime | None
) -> None:
    """Serialize runs of one district: an advisory lock on PostgreSQL, the write lock on SQLite.
    A district purged, or given a roster pulled later, while the run waited takes nothing more."""
    lock_unpurged(conn, district_id)
    districts = tables.districts
    held_pulled_at = conn.execute(
        sa.select(districts.c.roster_pulled_at).where(districts.c.id == district_id)
    ).scalar_one()
    if pulled_at is not None and held_pulled_at is not None and pulled_at < held_pulled_at:
        raise BadInput(
            f"nothing applied; a roster pulled later was applied by run "
            f"{_last_applied_by(conn, district_id)}: this run's snapshots (pulled "
            f"{pulled_at:%Y-%m-%d %H:%M:%S} UTC) are older; sync again to pull anew"
        )
    if conn.dialect.name == "postgresql":
        # Room for the hash joins of a large district to stay in memory.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")


def _last_applied_by(conn: sa.Connection, district_id: int) -> str:
    runs = tables.sync_runs
    return (
        conn.execute(
            sa.select(sa.func.coalesce(runs.c.dagster_run_id, "(outside Dagster)"))
            .where(runs.c.district_id == district_id, runs.c.status == "succeeded")
            .order_by(runs.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        or "(unknown)"
    )


class _Apply:
    """The statements of one district's run, on one connection inside its transaction."""

    def __init__(
        self,
        conn: sa.Connection,
        district_id: int,
        mode: str,
        absent: frozenset[str],
        now: datetime,
        fault_hook: Callable[[str], None],
    ) -> None:
        self.conn = conn
        self.district_id = district_id
        self.full = mode != "delta"
        # Plans whose absence from the frames means nothing: school links follow their users.
        self.absent = absent | ({USER_SCHOOLS} if "users" in absent else set())
        self.staged = dict.fromkeys(PLANS_BY_NAME, 0)
        self.skipped = dict.fromkeys(PLANS_BY_NAME, 0)
        self.now = sa.literal(now, tables.Timestamp)
        self.fault = fault_hook
        metadata = sa.MetaData()
        self.staging = {
            plan.name: staging_table(metadata, f"stg_{plan.table.name}", _staging_schema(plan))
            for plan in PLANS
        }
        self.teachers = staging_table(
            metadata,
            "stg_teacher_of_record",
            [sa.Column("class_sourced_id", sa.Text), sa.Column("teacher_sourced_id", sa.Text)],
        )

    def active_counts(self) -> dict[str, int]:
        return {
            plan.name: self.conn.execute(
                sa.select(sa.func.count()).where(self._in_district(plan.table), plan.table.c.active)
            ).scalar_one()
            for plan in PLANS
        }

    def stage(
        self,
        pulls: Mapping[str, Iterable[pd.DataFrame]],
        quarantined: Mapping[str, frozenset[str]],
        dependent_quarantined: Mapping[str, frozenset[str]],
    ) -> dict[str, dict[str, int]]:
        """Load every entity's pull into its staging table, chunk by chunk (users' chunks give
        the school links too), less what a full pull carries unchanged and plus what it left out
        (stored_rows.py); returns the rows each plan holds back, counted."""
        for plan in PLANS:
            create(self.conn, self.staging[plan.name])
        held_back = {}
        stored_links = self._stored(PLANS_BY_NAME[USER_SCHOOLS])
        held_users = pa.array([], pa.string())
        quarantined_links = 0
        for name in ENTITIES:
            stored = self._stored(PLANS_BY_NAME[name])
            stager = EntityStager(
                PLANS_BY_NAME[name],
                quarantined.get(name, frozenset()),
                dependent_quarantined.get(name, frozenset()),
            )
            for chunk in pulls[name]:
                rows = stager.stage(chunk)
                self._load(name, stored.sift(rows))
                if name == "users":
                    user_links, held_links = stage_user_schools(chunk, rows["op"].to_pylist())
                    self._load(USER_SCHOOLS, stored_links.sift(user_links))
                    quarantined_links += held_links
            self._load(name, stored.sift(stager.kept_but_absent()))
            self._load(name, stored.absent())
            self.skipped[name] = stored.skipped
            if name == "users":
                held_users = pa.array(sorted(stager.held_back), pa.string())
            held_back[name] = {
                "quarantined": stager.quarantined,
                "dependent_quarantined": stager.dependent_quarantined,
            }
        # A held-back user's school links stay as they are, carried or not.
        absent_links = stored_links.absent()
        self._load(
            USER_SCHOOLS,
            absent_links.filter(pc.invert(pc.is_in(absent_links["user_sourced_id"], held_users))),
        )
        self.skipped[USER_SCHOOLS] = stored_links.skipped
        held_back[USER_SCHOOLS] = {"quarantined": quarantined_links, "dependent_quarantined": 0}
        for plan in PLANS:
            finish(self.conn, self.staging[plan.name], plan.keys)
        self.fault("after_staging")
        return held_back

    def _stored(self, plan: Plan) -> StoredRows:
        """What a full pull is compared with before staging; a delta, or a file the package
        left out, is compared with nothing (nothing skipped, nothing absent)."""
        if self._compared(plan):
            return StoredRows.read(self.conn, plan, self.district_id)
        return StoredRows.nothing(plan)

    def _compared(self, plan: Plan) -> bool:
        """Whether the plan's pull is compared with the stored rows: skipped when unchanged,
        and what it left out staged as ABSENT."""
        return self.full and plan.name not in self.absent

    def _load(self, name: str, rows: pa.Table) -> None:
        load(self.conn, self.staging[name], rows)
        self.staged[name] += rows.num_rows

    def run(self, held_back: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
        counts = {}
        for plan in PLANS:
            counts[plan.name] = {**self._apply_plan(plan), **held_back[plan.name]}
            self.fault(f"after_{plan.name}")
        counts["classes"]["teacher_changed"] = self._teacher_of_record()
        self.fault("after_teacher_of_record")
        return counts

    def deactivated_sample(self, plan: Plan) -> list[str]:
        """Up to 20 keys deactivated by this run, for the held report (ids only, no names)."""
        table = plan.table
        rows = self.conn.execute(
            sa.select(*(table.c[k] for k in plan.keys))
            .where(self._in_district(table), table.c.deactivated_at == self.now)
            .order_by(*(table.c[k] for k in plan.keys))
            .limit(_HELD_SAMPLE_SIZE)
        )
        return ["/".join(row) for row in rows]

    def record_applied(self, high_water_mark: datetime, pulled_at: datetime | None) -> None:
        """Where the next delta starts, and when the roster now held was pulled."""
        districts = tables.districts
        values: dict[str, datetime] = {"delta_high_water_mark": high_water_mark}
        if pulled_at is not None:
            values["roster_pulled_at"] = pulled_at
        self.conn.execute(
            sa.update(districts).where(districts.c.id == self.district_id).values(**values)
        )

    def drop_staging(self) -> None:
        """SQLite keeps temporary tables on the pooled connection; PostgreSQL drops them itself."""
        if self.conn.dialect.name != "postgresql":
            for table in (*self.staging.values(), self.teachers):
                table.drop(self.conn)

    def _in_district(self, table: sa.Table) -> sa.ColumnElement[bool]:
        return table.c.district_id == self.district_id

    def _same_row(self, plan: Plan, staged: sa.Table) -> sa.ColumnElement[bool]:
        return sa.and_(*(plan.table.c[k] == staged.c[k] for k in plan.keys))

    def _apply_plan(self, plan: Plan) -> dict[str, int]:
        target, staged = plan.table, self.staging[plan.name]
        respelled = self._follow_id_case_changes(plan)
        if "user_sourced_id" in target.c:
            self._withhold_rows_of_inactive_users(plan)
        copied = {c: staged.c[c] for c in ("row_hash", "source_modified_at", *plan.business)}
        matched = sa.and_(
            self._in_district(target), self._same_row(plan, staged), staged.c.op == UPSERT
        )
        reactivated = self._rowcount(
            sa.update(target)
            .where(matched, sa.not_(target.c.active))
            .values(active=True, deactivated_at=None, updated_at=self.now, **copied)
        )
        updated = self._rowcount(
            sa.update(target)
            .where(matched, target.c.active, target.c.row_hash != staged.c.row_hash)
            .values(updated_at=self.now, **copied)
        )
        inserted = self._insert_new(plan)
        deactivated = self._deactivate(plan)
        upserts = self.conn.execute(
            sa.select(sa.func.count()).where(staged.c.op == UPSERT)
        ).scalar_one()
        return {
            "inserted": inserted,
            "updated": updated,
            "deactivated": deactivated,
            "reactivated": reactivated,
            "unchanged": upserts - inserted - updated - reactivated + self.skipped[plan.name],
            "id_case_changed": respelled,
        }

    def _follow_id_case_changes(self, plan: Plan) -> int:
        """A record whose sourcedId changed case only keeps its row; rows referring to it follow."""
        if plan.keys != ("sourced_id",):
            return 0
        staged = self.staging[plan.name]
        renamed = follow_id_case_changes(
            self.conn,
            plan.table,
            staged,
            self.district_id,
            self.now,
            absence_staged=self._compared(plan),
        )
        respell_references(self.conn, plan.name, renamed, self.district_id)
        return len(renamed)

    def _withhold_rows_of_inactive_users(self, plan: Plan) -> None:
        """Enrollments and school links are upserted only for active users."""
        staged = self.staging[plan.name]
        self.conn.execute(
            sa.update(staged)
            .where(staged.c.op == UPSERT, ~self._user_is_active(staged.c.user_sourced_id))
            .values(op=DEACTIVATE)
        )

    def _user_is_active(self, user_sourced_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
        """Whether the district has this user, active: deactivated and unknown users alike own
        no active enrollments or school links, whatever order the pulls came in."""
        users = tables.users
        return sa.exists().where(
            self._in_district(users), users.c.sourced_id == user_sourced_id, users.c.active
        )

    def _insert_new(self, plan: Plan) -> int:
        target, staged = plan.table, self.staging[plan.name]
        copied = (*plan.keys, "source_modified_at", "row_hash", *plan.business)
        rows = sa.select(
            sa.literal(self.district_id, tables.BigId),
            sa.true(),
            self.now,
            self.now,
            *(staged.c[c] for c in copied),
        ).where(
            staged.c.op == UPSERT,
            ~sa.exists().where(self._in_district(target), self._same_row(plan, staged)),
        )
        columns = ["district_id", "active", "first_seen_at", "updated_at", *copied]
        return self._rowcount(sa.insert(target).from_select(columns, rows))

    def _deactivate(self, plan: Plan) -> int:
        """Explicit (tobedeleted), absent from a full pull (staged as such), a delta user's
        school links it no longer lists, and cascaded from users."""
        target, staged = plan.table, self.staging[plan.name]
        deactivate = sa.update(target).values(
            active=False, deactivated_at=self.now, updated_at=self.now
        )
        active_here = sa.and_(self._in_district(target), target.c.active)
        same_row = self._same_row(plan, staged)
        explicit_or_absent = sa.exists().where(staged.c.op.in_((DEACTIVATE, ABSENT)), same_row)
        count = self._rowcount(deactivate.where(active_here, explicit_or_absent))
        if plan.name == USER_SCHOOLS and not self.full and plan.name not in self.absent:
            absent = ~sa.exists().where(same_row)
            count += self._rowcount(deactivate.where(active_here, absent, self._delta_users()))
        if "user_sourced_id" in target.c:
            user_gone = ~self._user_is_active(target.c.user_sourced_id)
            kept = sa.exists().where(staged.c.op == KEEP, same_row)
            count += self._rowcount(deactivate.where(active_here, user_gone, ~kept))
        return count

    def _delta_users(self) -> sa.ColumnElement[bool]:
        """School links of the users a delta upserts: a user's org list is complete."""
        users = self.staging["users"]
        link_user = tables.user_schools.c.user_sourced_id
        return sa.exists().where(users.c.op == UPSERT, users.c.sourced_id == link_user)

    def _teacher_of_record(self) -> int:
        """Primary active teacher enrollment, else the active one with the lowest sourced_id.

        Ranked once into a staging table: joining classes to a window over 1.4 million
        enrollments directly makes both planners loop.
        """
        classes, enrollments, chosen = tables.classes, tables.enrollments, self.teachers
        ranked = (
            sa.select(
                enrollments.c.class_sourced_id,
                enrollments.c.user_sourced_id,
                sa.func.row_number()
                .over(
                    partition_by=enrollments.c.class_sourced_id,
                    order_by=(
                        sa.func.coalesce(enrollments.c.is_primary, sa.false()).desc(),
                        enrollments.c.sourced_id,
                    ),
                )
                .label("rank"),
            )
            .where(
                self._in_district(enrollments),
                enrollments.c.active,
                enrollments.c.role == "teacher",
            )
            .subquery()
        )
        first = sa.select(ranked.c.class_sourced_id, ranked.c.user_sourced_id).where(
            ranked.c.rank == 1
        )
        fill = sa.insert(chosen).from_select(["class_sourced_id", "teacher_sourced_id"], first)
        create_and_load(self.conn, chosen, fill, ["class_sourced_id"])
        staged = self.staging["classes"]
        changeable = sa.and_(
            self._in_district(classes),
            ~sa.exists().where(staged.c.op == KEEP, staged.c.sourced_id == classes.c.sourced_id),
        )
        assigned = self._rowcount(
            sa.update(classes)
            .where(
                changeable,
                classes.c.sourced_id == chosen.c.class_sourced_id,
                classes.c.teacher_sourced_id.is_distinct_from(chosen.c.teacher_sourced_id),
            )
            .values(teacher_sourced_id=chosen.c.teacher_sourced_id, updated_at=self.now)
        )
        cleared = self._rowcount(
            sa.update(classes)
            .where(
                changeable,
                classes.c.teacher_sourced_id.is_not(None),
                ~sa.exists().where(chosen.c.class_sourced_id == classes.c.sourced_id),
            )
            .values(teacher_sourced_id=None, updated_at=self.now)
        )
        return assigned + cleared

    def _rowcount(self, statement: sa.Executable) -> int:
        # SQLAlchemy reports INSERT rowcounts only when asked to keep them.
        return self.conn.execute(statement, execution_options={"preserve_rowcount": True}).rowcount


def _staging_schema(plan: Plan) -> list[sa.Column]:
    types = {
        "op": sa.Text(),
        "row_hash": sa.Text(),
        **{c.name: c.type for c in plan.table.columns},
    }
    return [sa.Column(name, types[name]) for name in staging_columns(plan)]
