"""Pandera models of the normalized frames: one DataFrameSchema per entity.

Columns and dtypes come from the entity contract (oneroster/entities.py), so the two cannot
drift; this module adds the row-level rules. Each check's name is the rule name a verdict reports
(rostering_pipeline/validation.py). Checks are vectorized; pyarrow comparisons yield NA for
nulls, so every check turns its result into plain booleans itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from rostering_pipeline.oneroster.entities import ENTITIES, INVALID_FIELDS, Entity, Kind
from rostering_pipeline.oneroster.vocabulary import (
    CLASS_TYPES,
    ENROLLMENT_ROLES,
    ORG_TYPES,
    SESSION_TYPES,
    STATUSES,
    USER_ROLES,
)

# Row-level rule names: the `check` of a pandera failure case and the `rule` of a RuleFailure.
REQUIRED = "required"
ALLOWED_VALUE = "allowed_value"
EMAIL_SHAPE = "email_shape"
PARSES = "parses"
END_NOT_BEFORE_BEGIN = "end_not_before_begin"
ROW_RULES = (REQUIRED, ALLOWED_VALUE, EMAIL_SHAPE, PARSES, END_NOT_BEFORE_BEGIN)

EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"

# The entity's essentials, beyond sourced_id and status (required everywhere). JSON list columns
# are required too: the contract serializes an absent list as '[]'.
ESSENTIALS: Mapping[str, tuple[str, ...]] = {
    "orgs": ("name", "org_type"),
    "academic_sessions": ("title", "session_type", "start_date", "end_date"),
    "courses": ("title", "org_sourced_id"),
    "classes": ("title", "course_sourced_id", "school_sourced_id"),
    "users": ("role",),
    "enrollments": ("user_sourced_id", "class_sourced_id", "role"),
}
ENUMERATIONS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "orgs": {"org_type": ORG_TYPES},
    "academic_sessions": {"session_type": SESSION_TYPES},
    "courses": {},
    "classes": {"class_type": CLASS_TYPES},
    "users": {"role": USER_ROLES},
    "enrollments": {"role": ENROLLMENT_ROLES},
}
# (begin column, end column) of entities with a date range; a failure is reported on the end.
DATE_RANGES: Mapping[str, tuple[str, str]] = {
    "academic_sessions": ("start_date", "end_date"),
    "enrollments": ("begin_date", "end_date"),
}


def _plain(result: pd.Series, *, na: bool) -> pd.Series:
    return result.fillna(na).astype(bool)


def _is_present(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.StringDtype):
        return _plain(values.str.strip().ne(""), na=False)
    return values.notna()


def _check(name: str, test: Callable[[pd.Series], pd.Series], *, ignore_na: bool) -> pa.Check:
    return pa.Check(test, name=name, ignore_na=ignore_na)


def _required() -> pa.Check:
    return _check(REQUIRED, _is_present, ignore_na=False)


def _one_of(allowed: tuple[str, ...]) -> pa.Check:
    return _check(ALLOWED_VALUE, lambda s: _plain(s.isin(allowed), na=False), ignore_na=True)


def _matches(name: str, pattern: str) -> pa.Check:
    anchored = f"^(?:{pattern})$"

    def test(values: pd.Series) -> pd.Series:
        # Arrow's RE2 directly: pandas falls back to Python's re, value by value, on `\s`.
        matched = pc.match_substring_regex(pyarrow.array(values), anchored).fill_null(False)
        return pd.Series(matched.to_numpy(zero_copy_only=False), index=values.index)

    return _check(name, test, ignore_na=True)


def _parsed() -> pa.Check:
    # The normalizer lists the columns it could not parse; a row with any is rejected.
    return _check(PARSES, lambda s: s.isna(), ignore_na=False)


def _ends_not_before_begins(begin: str, end: str) -> pa.Check:
    def test(frame: pd.DataFrame) -> pd.Series:
        return ~_plain(frame[end] < frame[begin], na=False)

    return pa.Check(test, name=END_NOT_BEFORE_BEGIN)


def _column_checks(entity: Entity, column: str, kind: Kind) -> list[pa.Check]:
    required = {"sourced_id", "status", *ESSENTIALS[entity.name]}
    allowed = {"status": STATUSES, **ENUMERATIONS[entity.name]}
    checks = []
    if column in required or kind is Kind.JSON_LIST:
        checks.append(_required())
    if column in allowed:
        checks.append(_one_of(allowed[column]))
    if column == "email":
        checks.append(_matches(EMAIL_SHAPE, EMAIL_PATTERN))
    if column == INVALID_FIELDS:
        checks.append(_parsed())
    return checks


def build_schema(entity: Entity) -> pa.DataFrameSchema:
    """The entity's model: exactly its contract columns and dtypes, plus its row-level rules."""
    dtypes = entity.dtypes()
    columns = {
        column: pa.Column(
            dtypes[column],
            checks=_column_checks(entity, column, kind),
            nullable=True,  # presence is the `required` rule, which also rejects blank text
            unique=column == "sourced_id",
        )
        for column, kind in entity.all_columns.items()
    }
    date_range = DATE_RANGES.get(entity.name)
    checks = [_ends_not_before_begins(*date_range)] if date_range else []
    return pa.DataFrameSchema(columns, checks=checks, strict=True, name=entity.name)


SCHEMAS: Mapping[str, pa.DataFrameSchema] = {
    name: build_schema(entity) for name, entity in ENTITIES.items()
}
