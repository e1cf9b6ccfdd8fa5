"""The validation gate over normalized frames: schema rules, referential rules and quarantine.

Plain Python, no Dagster: defs/ turns a Verdict into check results and a ledger row. A verdict
carries no provider value but sourced_ids (failures name the row, the rule and the field), so a
person's name or e-mail cannot reach Dagster metadata through it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

import numpy as np
import orjson
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.compute as pc

from rostering_pipeline.oneroster.entities import ENTITIES, INVALID_FIELDS
from rostering_pipeline.oneroster.vocabulary import CEDS_GRADES
from rostering_pipeline.repeated_ids import IdDigests, Repeats
from rostering_pipeline.schemas import (
    DATE_RANGES,
    END_NOT_BEFORE_BEGIN,
    PARSES,
    REQUIRED,
    ROW_RULES,
    SCHEMAS,
)

# Rule names beyond the schema's row-level ones (schemas.ROW_RULES).
UNIQUE_SOURCED_ID = "unique_sourced_id"  # structural: quarantine is keyed by sourced_id
KNOWN_REFERENCE = "known_reference"  # every referenced sourced_id is known
KNOWN_ORG = "known_org"  # a user belongs to at least one known org

_NOTHING_QUARANTINED: Mapping[str, frozenset[str]] = MappingProxyType({})


@dataclass(frozen=True)
class RuleFailure:
    """One rule a row breaks: never the offending value, which may be a name or an e-mail."""

    sourced_id: str | None
    rule: str
    field: str | None


@dataclass(frozen=True, eq=False)
class References:
    """Known sourced_ids, per entity, that another entity's rows may point at. Given as any
    collection of ids, each entity's are kept as one Arrow array of distinct ids: about 45 bytes
    an id, where a set of Python strings takes over 120 (a large district's users and classes
    are over a million)."""

    orgs: Collection[str] | pa.Array = ()
    academic_sessions: Collection[str] | pa.Array = ()
    courses: Collection[str] | pa.Array = ()
    classes: Collection[str] | pa.Array = ()
    users: Collection[str] | pa.Array = ()
    # Entities a CSV package left out (file absent): references into them never block; they
    # are counted by `references_into_absent` instead, for a WARN check.
    absent: frozenset[str] = frozenset()
    # Made once, when a rule first needs them: chunk after chunk looks them up.
    _arrays: dict[tuple[str, pa.DataType], pa.Array] = field(
        default_factory=dict, init=False, repr=False
    )
    _sets: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for entity in _REFERENCED:
            object.__setattr__(self, entity, _distinct_ids(getattr(self, entity)))

    def ids(self, target: str) -> pa.Array:
        """The known ids of `target`, distinct, as Arrow strings."""
        return getattr(self, target)

    def value_set(self, target: str, kind: pa.DataType) -> pa.Array:
        """The known ids of `target` as an Arrow array of `kind` (string or large_string)."""
        if (target, kind) not in self._arrays:
            self._arrays[(target, kind)] = self.ids(target).cast(kind)
        return self._arrays[(target, kind)]

    def id_set(self, target: str) -> frozenset[str]:
        """The known ids of `target` as Python strings, for the rules that walk JSON lists of
        them (orgs, terms) and for the orgs an allow-list kept: small entities only."""
        if target not in self._sets:
            self._sets[target] = frozenset(self.ids(target).to_pylist())
        return self._sets[target]

    @classmethod
    def from_frames(
        cls, frames: Mapping[str, pd.DataFrame], absent: frozenset[str] = frozenset()
    ) -> References:
        """The sourced_ids of every row of each frame (tobedeleted and quarantined rows too)."""
        return cls(
            **{
                entity: pa.array(frames[entity]["sourced_id"], pa.string())
                for entity in _REFERENCED
                if entity in frames
            },
            absent=absent,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, References):
            return NotImplemented
        return self.absent == other.absent and all(
            self.ids(entity).equals(other.ids(entity)) for entity in _REFERENCED
        )

    __hash__ = None  # type: ignore[assignment]  # mutable caches: compared, never hashed

    def __repr__(self) -> str:  # counts: a district's ids would fill a log
        counts = ", ".join(f"{entity}={len(self.ids(entity))}" for entity in _REFERENCED)
        return f"References({counts})"

    def union(self, other: References) -> References:
        """Delta mode: the app DB's ids plus the snapshot's."""
        return References(
            **{
                entity: pa.concat_arrays([self.ids(entity), other.ids(entity)])
                for entity in _REFERENCED
            },
            absent=self.absent | other.absent,
        )


def _distinct_ids(ids: Collection[str] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Distinct, sorted (so that equal sets compare equal), nulls left out, as Arrow strings."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if not isinstance(ids, pa.Array):
        ids = pa.array(list(ids), pa.string())
    distinct = pc.unique(ids.cast(pa.string()).drop_null())
    return distinct.take(pc.sort_indices(distinct))


_REFERENCED = ("orgs", "academic_sessions", "courses", "classes", "users")


class _Arity(Enum):
    ONE = "one"  # a sourced_id column; a null is the `required` rule's business
    EACH = "each"  # a JSON list whose every member must be known
    ANY = "any"  # a JSON list with at least one known member


@dataclass(frozen=True)
class _Reference:
    column: str
    target: str  # a References field
    arity: _Arity = _Arity.ONE

    @property
    def rule(self) -> str:
        return KNOWN_ORG if self.arity is _Arity.ANY else KNOWN_REFERENCE


REFERENCES: Mapping[str, tuple[_Reference, ...]] = {
    "courses": (
        _Reference("org_sourced_id", "orgs"),
        _Reference("school_year_sourced_id", "academic_sessions"),
    ),
    "classes": (
        _Reference("school_sourced_id", "orgs"),
        _Reference("course_sourced_id", "courses"),
        _Reference("term_sourced_ids", "academic_sessions", _Arity.EACH),
    ),
    "users": (_Reference("org_sourced_ids", "orgs", _Arity.ANY),),
    "enrollments": (
        _Reference("user_sourced_id", "users"),
        _Reference("class_sourced_id", "classes"),
        _Reference("school_sourced_id", "orgs"),
    ),
}
# Rows quarantined with the upstream row they point at: entity -> (upstream entity, column).
DEPENDENCIES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "enrollments": (("users", "user_sourced_id"), ("classes", "class_sourced_id")),
}


def align_reference_case(
    entity: str, frame: pd.DataFrame, refs: References
) -> tuple[pd.DataFrame, int]:
    """References spelled differently in case from a known id (`ABC` for a stored `abc`) take the
    known spelling: the same record, as the reconciliation treats a re-spelled sourcedId. A delta
    brings an enrollment re-spelled while its user, unchanged, is not in it. Only an unknown id
    matching exactly one known id is touched. Returns the frame and the references re-spelled."""
    aligned = 0
    for reference in REFERENCES.get(entity, ()):
        if reference.arity is not _Arity.ONE:
            continue
        values = frame[reference.column]
        unknown = values.notna().to_numpy(dtype=bool) & ~_known(values, refs, reference.target)
        if not unknown.any():
            continue
        sent = values.to_numpy(dtype=object, na_value=None)
        by_lower = _known_by_lower(refs.ids(reference.target), sent[unknown])
        spelled = sent.copy()
        for position in np.flatnonzero(unknown):
            matches = by_lower.get(sent[position].lower(), [])
            if len(matches) == 1:
                spelled[position] = matches[0]
                aligned += 1
        if aligned:
            frame = frame.assign(**{reference.column: pd.array(spelled, dtype=values.dtype)})
    return frame, aligned


def _known_by_lower(known: pa.Array, unknown: np.ndarray) -> dict[str, list[str]]:
    """The known ids that match an unknown one but for case, by their lower case: found with
    Arrow over the known ids (a large district's users), Python only for the matches."""
    wanted = pc.unique(pc.utf8_lower(pa.array(unknown, pa.string())))
    matching = known.filter(pc.is_in(pc.utf8_lower(known), value_set=wanted))
    by_lower: dict[str, list[str]] = {}
    for sourced_id in matching.to_pylist():
        by_lower.setdefault(sourced_id.lower(), []).append(sourced_id)
    return by_lower


def rules(entity: str) -> tuple[str, ...]:
    """Every rule a verdict on this entity may name, for declaring checks up front."""
    schema = SCHEMAS[entity]
    named = [check.name for column in schema.columns.values() for check in column.checks]
    named += [check.name for check in schema.checks]
    named += [reference.rule for reference in REFERENCES.get(entity, ())]
    return (UNIQUE_SOURCED_ID, *dict.fromkeys(named))


@dataclass(frozen=True)
class Verdict:
    entity: str
    rows: int
    passed: bool
    structural: tuple[str, ...]  # any of these fails the verdict
    # Every row-level failure, ordered by rule, field, row. Left out of the repr, like the ids
    # below: there may be a million.
    failures: tuple[RuleFailure, ...] = field(repr=False)
    quarantined_ids: frozenset[str] = field(repr=False)  # own failures under the ratio
    dependent_quarantined_ids: frozenset[str] = field(repr=False)  # their upstream is quarantined
    failing_rows: int  # distinct rows with at least one failure
    max_quarantine_ratio: float

    def counts(self) -> dict[tuple[str, str | None], int]:
        """Failing rows per (rule, field)."""
        return dict(Counter((failure.rule, failure.field) for failure in self.failures))

    def sample(self, n: int = 20) -> list[RuleFailure]:
        """Up to n failures, taken in turn from each (rule, field) so that every rule shows."""
        groups = [list(group) for _, group in itertools.groupby(self.failures, _rule_and_field)]
        interleaved = itertools.chain.from_iterable(itertools.zip_longest(*groups))
        return list(itertools.islice((f for f in interleaved if f is not None), n))

    def markdown(self, n: int = 20) -> str:
        """Counts per rule and a bounded sample of failures; every provider string escaped."""
        share = self.failing_rows / self.rows if self.rows else 0.0
        lines = [
            f"{_code(self.entity)} {'passed' if self.passed else 'failed'}: {self.rows} rows,"
            f" {self.failing_rows} failing ({share:.2%}, limit {self.max_quarantine_ratio:.2%}),"
            f" {len(self.quarantined_ids)} quarantined,"
            f" {len(self.dependent_quarantined_ids)} quarantined with an upstream row"
        ]
        if self.structural:
            lines += ["", "Structural failures:", ""]
            lines += [f"- {_escape(message)}" for message in self.structural]
        if self.failures:
            lines += ["", "| rule | field | rows |", "|---|---|---|"]
            lines += [
                f"| {_code(rule)} | {_code(column)} | {count} |"
                for (rule, column), count in self.counts().items()
            ]
            sample = self.sample(n)
            lines += ["", f"Sample of {len(sample)} failures out of {len(self.failures)}:", ""]
            lines += ["| sourced_id | field | rule |", "|---|---|---|"]
            lines += [
                f"| {_escape(f.sourced_id or '')} | {_code(f.field)} | {_code(f.rule)} |"
                for f in sample
            ]
        return "\n".join(lines)


def _rule_and_field(failure: RuleFailure) -> tuple[str, str | None]:
    return failure.rule, failure.field


_MAX_SHOWN_CHARS = 80


def _escape(text: str) -> str:
    """Text as inert Markdown and HTML: all but letters, digits, space and '-' become numeric
    character references, which render as the character and are never syntax or markup."""
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[:_MAX_SHOWN_CHARS] + "…"
    return "".join(ch if ch.isalnum() or ch in " -" else f"&#{ord(ch)};" for ch in text)


def _code(name: str | None) -> str:
    """One of our identifiers (rule, column, entity name) as a code span; anything else escaped."""
    return f"`{name}`" if name and name.replace("_", "").isalnum() else _escape(name or "")


def validate(
    entity: str,
    frame: pd.DataFrame,
    refs: References | None,
    *,
    max_quarantine_ratio: float = 0.005,
    upstream_quarantined: Mapping[str, frozenset[str]] = _NOTHING_QUARANTINED,
) -> Verdict:
    """Check a normalized frame of `entity` against its rules: a `Validation` of one chunk."""
    validation = Validation(
        entity,
        refs,
        max_quarantine_ratio=max_quarantine_ratio,
        upstream_quarantined=upstream_quarantined,
    )
    validation.add(frame)
    return validation.verdict()


class Validation:
    """The gate over a pull of `entity` that arrives in chunks (`add` each, then `verdict`).

    `refs`: the sourced_ids its references may point at (None: referential rules skipped). Rows
    of status tobedeleted are exempt from referential rules: they are being removed. Row-level
    failures on at most `max_quarantine_ratio` of the rows are quarantined; more, or any
    structural failure, fail the verdict, which then quarantines nothing (nothing applies).
    `upstream_quarantined` maps an entity to its quarantined ids; rows pointing at one of them
    are quarantined with it, counted apart and not against the ratio.

    Row rules run per chunk; a sourced_id's uniqueness is decided over the whole pull, from its
    ids' digests (a few bytes a row, where the chunks' frames are not kept). `ids_checked`: the
    pull's source already refuses repeated sourced_ids over every row it received (the REST
    client), so they are neither kept nor checked again.
    """

    def __init__(
        self,
        entity: str,
        refs: References | None,
        *,
        max_quarantine_ratio: float = 0.005,
        upstream_quarantined: Mapping[str, frozenset[str]] = _NOTHING_QUARANTINED,
        ids_checked: bool = False,
    ) -> None:
        if entity not in SCHEMAS:
            raise ValueError(f"unknown entity {entity!r}; expected one of {', '.join(SCHEMAS)}")
        self.entity = entity
        self.refs = refs
        self.max_quarantine_ratio = max_quarantine_ratio
        self.upstream_quarantined = upstream_quarantined
        self.rows = 0
        self._structural: dict[str, None] = {}  # messages, in order, each once
        self._findings: list[pd.DataFrame] = []  # position in the pull, rule, field, sourced_id
        self._ids = None if ids_checked else IdDigests()
        self._dependants: set[str] = set()

    def add(self, frame: pd.DataFrame) -> None:
        frame = frame.reset_index(drop=True)  # failure positions index the frame
        structural, found = _schema_findings(self.entity, frame)
        if self.refs is not None and not structural:  # referential rules need the columns
            found += _reference_findings(self.entity, frame, self.refs)
        findings = pd.concat([_findings([], "", None), *found], ignore_index=True)
        # Uniqueness is the whole pull's: found in `verdict`, over every chunk's ids.
        findings = findings[findings["rule"] != UNIQUE_SOURCED_ID].drop_duplicates()
        ids = _sourced_ids(frame)
        self._findings.append(_located(findings, ids, self.rows))
        if self._ids is not None:
            self._ids.add(_id_array(ids))
        self._structural.update(dict.fromkeys(structural))
        if not structural:  # a structural failure fails the verdict: nothing is quarantined
            self._dependants |= _dependants(self.entity, frame, self.upstream_quarantined)
        self.rows += len(frame)

    def verdict(self) -> Verdict:
        findings = pd.concat(
            [
                _located(_findings([], "", None), np.array([], dtype=object), 0),
                *self._findings,
                self._repeated_ids(),
            ],
            ignore_index=True,
        ).sort_values(["rule", "field", "position"])
        fields = findings["field"].to_numpy(dtype=object)
        failures = tuple(
            RuleFailure(sourced_id, rule, field)
            for sourced_id, rule, field in zip(
                findings["sourced_id"], findings["rule"], fields, strict=True
            )
        )
        structural = [*self._structural, *_identity_messages(failures)]
        failing_rows = findings["position"].nunique()
        passed = not structural and (
            not failing_rows or failing_rows / self.rows <= self.max_quarantine_ratio
        )
        quarantined = frozenset(findings["sourced_id"]) - {None} if passed else frozenset()
        dependants = frozenset(self._dependants) - quarantined if passed else frozenset()
        return Verdict(
            entity=self.entity,
            rows=self.rows,
            passed=passed,
            structural=tuple(structural),
            failures=failures,
            quarantined_ids=quarantined,
            dependent_quarantined_ids=dependants,
            failing_rows=failing_rows,
            max_quarantine_ratio=self.max_quarantine_ratio,
        )

    def _repeated_ids(self) -> pd.DataFrame:
        """Every row whose sourced_id another row of the pull shares (nulls are `required`'s)."""
        repeats = self._ids.repeated() if self._ids is not None else Repeats.none()
        found = _findings(repeats.positions, UNIQUE_SOURCED_ID, "sourced_id")
        return found.assign(sourced_id=repeats.names if len(found) else None)


def _id_array(ids: np.ndarray) -> pa.Array:
    """The ids as Arrow strings; a broken frame's non-text ids as their text (its dtype is
    already a structural failure)."""
    try:
        return pa.array(ids, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in ids], pa.string())


def _located(findings: pd.DataFrame, ids: np.ndarray, offset: int) -> pd.DataFrame:
    """Findings of a chunk with each row's sourced_id, positioned in the whole pull."""
    return findings.assign(
        sourced_id=ids[findings["position"].to_numpy()] if len(findings) else None,
        position=findings["position"] + offset,
    )


def _findings(positions, rule, field) -> pd.DataFrame:
    """Row-level failures as a frame: the row's position, the rule, the field (each an array or
    one value for all; a Series counts by its values, not its index)."""
    positions = np.asarray(positions, dtype=np.int64)
    return pd.DataFrame(
        {
            "position": positions,
            "rule": np.broadcast_to(np.asarray(rule, dtype=object), positions.shape),
            "field": np.broadcast_to(np.asarray(field, dtype=object), positions.shape),
        }
    )


def _schema_findings(entity: str, frame: pd.DataFrame) -> tuple[list[str], list[pd.DataFrame]]:
    """Structural messages and row-level failures found by the entity's pandera model."""
    schema = SCHEMAS[entity]
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return [], []
    check = cases["check"].astype(str)
    missing = check == "column_in_dataframe"
    unexpected = check == "column_in_schema"
    mistyped = check.str.startswith("dtype(")
    duplicate = check == "field_uniqueness"
    by_row = check.isin(ROW_RULES) & cases["index"].notna()
    structural = [
        *(f"missing column {name}" for name in cases.loc[missing, "failure_case"]),
        *(f"unexpected column {name}" for name in cases.loc[unexpected, "failure_case"]),
        *(
            f"wrong dtype for column {name}: {frame[name].dtype}, expected {schema.dtypes[name]}"
            for name in cases.loc[mistyped, "column"].unique()
        ),
        # A check that raised (its input missing or mistyped); its message may quote a value.
        *(
            f"rule {rule} could not be evaluated on {column}"
            for rule, column in cases.loc[
                ~(missing | unexpected | mistyped | duplicate | by_row), ["check", "column"]
            ]
            .drop_duplicates()
            .itertuples(index=False)
        ),
    ]
    # Nulls count as duplicates of each other there; a missing sourced_id is `required`'s.
    duplicates = cases.loc[duplicate & cases["failure_case"].notna(), "index"]
    return structural, [
        _findings(duplicates, UNIQUE_SOURCED_ID, "sourced_id"),
        *_row_findings(entity, cases.loc[by_row]),
    ]


def _row_findings(entity: str, cases: pd.DataFrame) -> list[pd.DataFrame]:
    check = cases["check"].astype(str)
    per_column = cases[~check.isin([PARSES, END_NOT_BEFORE_BEGIN])]
    found = [_findings(per_column["index"], per_column["check"], per_column["column"])]
    # A frame-wide check reports each column of a failing row; the rule is about the end date.
    ranged = cases.loc[check == END_NOT_BEFORE_BEGIN, "index"].unique()
    if len(ranged):
        found.append(_findings(ranged, END_NOT_BEFORE_BEGIN, DATE_RANGES[entity][1]))
    # invalid_fields lists the columns the normalizer could not parse: each is a failure.
    listed = cases.loc[check == PARSES].set_index("index")["failure_case"].astype(str)
    named = listed.str.split(",").explode()
    named = named.where(named.isin(ENTITIES[entity].all_columns.keys()), INVALID_FIELDS)
    found.append(_findings(named.index, PARSES, named.to_numpy(dtype=object)))
    return found


def _reference_findings(entity: str, frame: pd.DataFrame, refs: References) -> list[pd.DataFrame]:
    """Rows pointing at sourced_ids `refs` does not know; tobedeleted rows are exempt."""
    return [
        _findings(np.flatnonzero(unknown), reference.rule, reference.column)
        for reference, unknown in _unknown_references(entity, frame, refs, absent=False)
    ]


def references_into_absent(entity: str, frame: pd.DataFrame, refs: References) -> dict[str, int]:
    """Rows whose reference into an entity the package left out is unknown (to the app DB too),
    per column: kept as sent, as real packages need, and reported, never blocking."""
    return {
        reference.column: int(unknown.sum())
        for reference, unknown in _unknown_references(entity, frame, refs, absent=True)
    }


def _unknown_references(
    entity: str, frame: pd.DataFrame, refs: References, *, absent: bool
) -> Iterator[tuple[_Reference, np.ndarray]]:
    """Per reference into a present (`absent` False) or absent entity: the rows, tobedeleted
    ones exempt, pointing at an id `refs` does not know."""
    checked = (frame["status"] != "tobedeleted").to_numpy(dtype=bool, na_value=True)
    for reference in REFERENCES.get(entity, ()):
        if (reference.target in refs.absent) != absent:
            continue
        values = frame[reference.column]
        if reference.arity is _Arity.ONE:
            unknown = values.notna().to_numpy(dtype=bool) & ~_known(values, refs, reference.target)
        else:
            known = refs.id_set(reference.target)
            unknown = _unknown_lists(values, known, reference.arity, checked)
        yield reference, checked & unknown


def _known(values: pd.Series, refs: References, target: str) -> np.ndarray:
    """Membership of a string column in the ids of `target`, nulls False. Series.isin converts a
    set value by value, several times slower on a million rows than one Arrow compute call."""
    arrow = pa.array(values)
    found = pc.is_in(arrow, value_set=refs.value_set(target, arrow.type))
    return found.to_numpy(zero_copy_only=False)


def _isin(values: pd.Series, ids: frozenset[str]) -> np.ndarray:
    """Membership of a string column in a few ids (quarantined ones), nulls False."""
    arrow = pa.array(values)
    found = pc.is_in(arrow, value_set=pa.array(list(ids), type=arrow.type))
    return found.to_numpy(zero_copy_only=False)


def _unknown_lists(
    values: pd.Series, known: frozenset[str], arity: _Arity, checked: np.ndarray
) -> np.ndarray:
    """Which JSON lists break the rule: a member unknown (EACH) or none known (ANY).

    A list that does not parse breaks it too (the `required` rule reports null ones)."""
    unknown = np.zeros(len(values), dtype=bool)
    rows = np.flatnonzero(checked & values.notna().to_numpy(dtype=bool))
    parsed = [_parse_list(text) for text in values.iloc[rows].tolist()]
    members = pd.Series([listed or [] for listed in parsed], index=rows, dtype=object).explode()
    is_known = members.isin(known)
    if arity is _Arity.EACH:
        breaks = (members.notna() & ~is_known).groupby(level=0).any()
    else:
        breaks = ~is_known.groupby(level=0).any()
    unknown[breaks.index[breaks.to_numpy(dtype=bool)]] = True
    unknown[rows[[listed is None for listed in parsed]]] = True
    return unknown


def _parse_list(text: str) -> list | None:
    try:
        members = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return members if isinstance(members, list) else None


def _identity_messages(failures: tuple[RuleFailure, ...]) -> list[str]:
    """Quarantine is keyed by sourced_id: a row without one, or sharing one, is structural."""
    missing = sum(1 for f in failures if f.rule == REQUIRED and f.field == "sourced_id")
    duplicated = [f.sourced_id for f in failures if f.rule == UNIQUE_SOURCED_ID]
    messages = []
    if missing:
        messages.append(f"{missing} rows without sourced_id")
    if duplicated:
        messages.append(
            f"duplicate sourced_id: {len(duplicated)} rows share {len(set(duplicated))} values"
        )
    return messages


def _dependants(
    entity: str, frame: pd.DataFrame, upstream_quarantined: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    dependent = np.zeros(len(frame), dtype=bool)
    for upstream, column in DEPENDENCIES.get(entity, ()):
        quarantined = upstream_quarantined.get(upstream)
        if quarantined and column in frame:
            dependent |= _isin(frame[column], quarantined)
    return frozenset(_sourced_ids(frame)[dependent]) - {None}


def _sourced_ids(frame: pd.DataFrame) -> np.ndarray:
    """Each row's sourced_id or None (also when the column is missing: a structural failure)."""
    if "sourced_id" not in frame:
        return np.full(len(frame), None, dtype=object)
    return frame["sourced_id"].to_numpy(dtype=object, na_value=None)


@dataclass(frozen=True)
class VolumeVerdict:
    """A WARN-only comparison with the last applied roster: never blocks anything."""

    entity: str
    measure: str  # what is counted, e.g. "active students"
    previous: int | None  # in the last applied roster; None when nothing was applied yet
    current: int
    drop_ratio: float
    ok: bool  # False: the count fell by more than drop_ratio

    @property
    def summary(self) -> str:
        if self.previous is None:
            return f"{self.entity}: {self.current} {self.measure}, no applied roster to compare"
        change = (self.current - self.previous) / self.previous if self.previous else 0.0
        verdict = "ok" if self.ok else f"WARN: fell by more than {self.drop_ratio:.0%}"
        return (
            f"{self.entity}: {self.current} {self.measure}, {self.previous} last applied"
            f" ({change:+.1%}), {verdict}"
        )


# What the volume rule counts per entity; the caller counts the same in the app DB.
VOLUME_MEASURES: Mapping[str, str] = {
    **{entity: "active rows" for entity in ENTITIES},
    "users": "active students",
}


def volume_count(entity: str, frame: pd.DataFrame) -> int:
    """Active rows (status active); for users, active students."""
    counted = frame["status"] == "active"
    if entity == "users":
        counted &= frame["role"] == "student"
    return int(counted.sum())


def volume_change(
    entity: str, current: int, last_applied_active: int | None, *, drop_ratio: float = 0.25
) -> VolumeVerdict:
    """Warn when the pull's VOLUME_MEASURES count (`current`, summed `volume_count` of its
    chunks) fell by more than drop_ratio since the last applied roster (`last_applied_active`:
    the same count in the app DB, None when empty)."""
    fell = last_applied_active is not None and current < (1 - drop_ratio) * last_applied_active
    return VolumeVerdict(
        entity=entity,
        measure=VOLUME_MEASURES[entity],
        previous=last_applied_active,
        current=current,
        drop_ratio=drop_ratio,
        ok=not fell,
    )


# Entities with a `grades` list: their grades outside CEDS are a warning, never a failure.
GRADED = ("courses", "classes", "users")
_GRADE_EXAMPLES = 10


@dataclass(frozen=True)
class GradeVerdict:
    """A WARN-only look at grades outside the CEDS list (stored as sent): the spec says they
    *should* be CEDS codes, and real servers send "Year 7" or "6 ano - Portugues"."""

    entity: str
    rows: int  # rows with at least one grade outside CEDS
    values: tuple[tuple[str, int], ...]  # (grade as sent, rows), most frequent first, bounded
    distinct: int  # distinct non-CEDS grades in the pull

    @property
    def ok(self) -> bool:
        return not self.rows

    @property
    def summary(self) -> str:
        if self.ok:
            return f"{self.entity}: every grade is a CEDS code"
        return (
            f"{self.entity}: {self.rows} rows carry {self.distinct} grades outside CEDS, "
            "stored as sent"
        )

    def markdown(self) -> str:
        lines = [_escape(self.summary)]
        if self.values:
            lines += ["", "| grade as sent | rows |", "|---|---|"]
            lines += [f"| {_escape(value)} | {rows} |" for value, rows in self.values]
        return "\n".join(lines)


def grade_vocabulary(entity: str, frame: pd.DataFrame) -> GradeVerdict:
    """The grades outside CEDS in one frame: a `GradeTally` of one chunk."""
    tally = GradeTally(entity)
    tally.add(frame)
    return tally.verdict()


class GradeTally:
    """Rows whose grades fall outside CEDS, over a pull's chunks. A pull holds few distinct
    grade lists, so each distinct JSON text of a chunk is parsed once."""

    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.rows = 0
        self.outside: Counter[str] = Counter()

    def add(self, frame: pd.DataFrame) -> None:
        column = pa.array(frame["grades"], pa.string())
        if isinstance(column, pa.ChunkedArray):  # pyarrow-backed columns come chunked
            column = column.combine_chunks()
        texts = column.dictionary_encode()
        counts = pc.value_counts(texts.indices)
        rows_per_text = dict(
            zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
        )
        for index, text in enumerate(texts.dictionary.to_pylist()):
            grades = {g for g in (_parse_list(text) or []) if isinstance(g, str)} - CEDS_GRADES
            if grades:
                self.rows += rows_per_text.get(index, 0)
                for grade in grades:
                    self.outside[grade] += rows_per_text.get(index, 0)

    def verdict(self) -> GradeVerdict:
        return GradeVerdict(
            entity=self.entity,
            rows=self.rows,
            values=tuple(self.outside.most_common(_GRADE_EXAMPLES)),
            distinct=len(self.outside),
        )
