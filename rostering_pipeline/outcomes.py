"""How a failed sync is described: a kind, an exit code and one safe line (DESIGN.md exit codes)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from rostering_pipeline import errors


@dataclass(frozen=True)
class Outcome:
    kind: str  # credentials | provider | validation | held | bad_input | unexpected
    exit_code: int
    message: str  # one line, no secret, no personal data


def describe(exc: BaseException) -> Outcome:
    # The client's typed errors are RosteringErrors too: their messages are known to be safe.
    if isinstance(exc, errors.RosteringError):
        return Outcome(exc.kind, exc.exit_code, " ".join(str(exc).split())[:500])
    # Unknown errors may carry anything in their text (SQL, row values): name the type only.
    return Outcome("unexpected", 1, f"unexpected {type(exc).__name__}; see the run's logs")


def exit_code_for(kind: str | None) -> int:
    """The exit code of a failure kind recorded on a district."""
    families = (errors.RosteringError, *errors.RosteringError.__subclasses__())
    return next((family.exit_code for family in families if family.kind == kind), 1)


def describe_held(district_key: str, held: dict, package: str | None = None) -> str:
    """What the guard held and the command that approves it, after review (a CSV district's:
    importing the same `package` again)."""
    losses = ", ".join(
        f"{entity} would lose {info['would_deactivate']} of {info['active']} active rows"
        for entity, info in held.items()
    )
    total = sum(int(info["would_deactivate"]) for info in held.values())
    command = f"sync {district_key}"
    if package:
        command = f"import {district_key} {shlex.quote(package)}"
    return (
        f"{losses}; after review, approve with "
        f"`rostering-pipeline {command} --approve-deactivations {total}`"
    )


def describe_failed_checks(failures: dict[str, dict[str, int]]) -> str:
    """Every failing entity with its rules and failing rows: 'users (allowed_value role: 12
    rows; structure: 1); classes (...)'. Rule and column names and counts only."""
    return "; ".join(
        f"{entity} ({'; '.join(f'{rule}: {rows}' for rule, rows in counts.items()) or 'failed'})"
        for entity, counts in failures.items()
    )


# How each count of the roster step reads in a sentence (the CLI's and the demo's report).
CHANGE_WORDS = {
    "inserted": "inserted",
    "updated": "updated",
    "deactivated": "deactivated",
    "reactivated": "reactivated",
    "unchanged": "unchanged",
    "quarantined": "quarantined by a check (not applied)",
    "dependent_quarantined": "left out with a quarantined row they refer to",
    "id_case_changed": "re-keyed to a new letter case of their id",
    "teacher_changed": "with a new teacher of record",
}


def describe_changes(changes: dict[str, dict[str, int]]) -> list[str]:
    """One line per entity with its non-zero counts: 'users: 20 inserted, 1036 unchanged'."""
    lines = []
    for entity, counts in changes.items():
        parts = [f"{counts[a]} {words}" for a, words in CHANGE_WORDS.items() if counts.get(a)]
        lines.append(f"{entity}: {', '.join(parts) or 'nothing'}")
    return lines
