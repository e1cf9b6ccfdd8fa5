"""sourcedIds whose case changes between pulls (`ABC123` -> `abc123`): the same record.

Some providers re-spell identifiers (a migration, a case-insensitive SIS). Matched exactly, such a
record would be deactivated and inserted again: a person split in two, their history lost. Before
an entity is applied, each stored row absent from the pull whose id equals a new pulled id but
for case takes the new spelling, when the match is one to one.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa

from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.prepare import ABSENT, KEEP


def follow_id_case_changes(
    conn: sa.Connection,
    target: sa.Table,
    staged: sa.Table,
    district_id: int,
    now: sa.ColumnElement[datetime],
    *,
    absence_staged: bool,
) -> dict[str, str]:
    """Re-spell the stored ids the pull spells differently; returns {old id: new id}.

    `absence_staged`: a full pull's staging holds its changed rows and, as ABSENT, the active
    stored rows it did not carry (stored_rows.py); otherwise what is not staged was not pulled.
    Cheap when nothing changed: new pulled ids are found by the unique index, and only when there
    are some (and stored rows at all) is the district's table scanned for their lowercase."""
    in_district = target.c.district_id == district_id
    same_id = staged.c.sourced_id == target.c.sourced_id
    left_out = ~sa.exists().where(same_id)
    if absence_staged:
        # An active row carried unchanged was never staged; an inactive one left out was not.
        staged_absent = sa.exists().where(same_id, staged.c.op == ABSENT)
        left_out = sa.or_(staged_absent, sa.and_(~target.c.active, left_out))
    if conn.execute(sa.select(target.c.id).where(in_district).limit(1)).first() is None:
        return {}  # a first sync: nothing to re-spell
    is_new = (
        staged.c.op != KEEP,
        staged.c.sourced_id.is_not(None),
        ~sa.exists().where(in_district, target.c.sourced_id == staged.c.sourced_id),
    )
    new = conn.execute(sa.select(staged.c.sourced_id).where(*is_new)).scalars().all()
    if not new:
        return {}
    by_lower: dict[str, list[str]] = defaultdict(list)
    for sourced_id in new:
        by_lower[sourced_id.lower()].append(sourced_id)
    # One join, not a scan of the district's table per batch of new ids.
    lowered = sa.func.lower(staged.c.sourced_id).label("lowered")
    new_lowers = sa.select(lowered).where(*is_new).distinct().subquery()
    stored = conn.execute(
        sa.select(target.c.sourced_id)
        .join(new_lowers, sa.func.lower(target.c.sourced_id) == new_lowers.c.lowered)
        .where(in_district, left_out)
    ).scalars()
    candidates: dict[str, list[str]] = defaultdict(list)
    for sourced_id in stored:
        candidates[sourced_id.lower()].append(sourced_id)
    renamed = {
        olds[0]: by_lower[lower][0]
        for lower, olds in candidates.items()
        if len(olds) == 1 and len(by_lower[lower]) == 1  # one to one, or left alone
    }
    if renamed:
        conn.execute(
            sa.update(target)
            .where(in_district, target.c.sourced_id == sa.bindparam("old_id"))
            .values(sourced_id=sa.bindparam("new_id"), updated_at=now),
            [{"old_id": old, "new_id": new} for old, new in renamed.items()],
        )
    return renamed


# Where each entity's sourced_id is referred to by other rows (single-valued references). A
# re-spelled id is carried there too, or a delta would leave rows pointing at a spelling that no
# longer exists (and the user cascade would take an absent user's enrollments for gone).
REFERRED_BY: dict[str, tuple[tuple[sa.Table, str], ...]] = {
    "orgs": (
        (tables.schools, "parent_sourced_id"),
        (tables.courses, "org_sourced_id"),
        (tables.classes, "school_sourced_id"),
        (tables.enrollments, "school_sourced_id"),
        (tables.user_schools, "school_sourced_id"),
    ),
    "academic_sessions": (
        (tables.academic_sessions, "parent_sourced_id"),
        (tables.courses, "school_year_sourced_id"),
    ),
    "courses": ((tables.classes, "course_sourced_id"),),
    "classes": ((tables.enrollments, "class_sourced_id"),),
    "users": (
        (tables.enrollments, "user_sourced_id"),
        (tables.user_schools, "user_sourced_id"),
        (tables.classes, "teacher_sourced_id"),
    ),
}


def respell_references(
    conn: sa.Connection, entity: str, renamed: dict[str, str], district_id: int
) -> None:
    """Carry an entity's new spellings into the rows that refer to it. (A JSON list of ids, a
    class's terms, follows with the next full sync, which sends it re-spelled.)"""
    if not renamed:
        return
    pairs = [{"old_id": old, "new_id": new} for old, new in renamed.items()]
    for table, column in REFERRED_BY.get(entity, ()):
        conn.execute(
            sa.update(table)
            .where(table.c.district_id == district_id, table.c[column] == sa.bindparam("old_id"))
            .values({column: sa.bindparam("new_id")}),
            pairs,
        )
