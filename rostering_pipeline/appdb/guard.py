"""The deactivation guard: hold a whole sync when an entity would lose too many active rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Guard:
    """A district's thresholds, and how many deactivations an operator approved for this run."""

    max_ratio: float = 0.10
    min_rows: int = 25
    approved_max: int = 0

    def tripped(self, *, would_deactivate: int, active: int) -> bool:
        """More than `max_ratio` of the active rows and more than `min_rows` rows."""
        return would_deactivate > self.max_ratio * active and would_deactivate > self.min_rows


def entities_over_threshold(
    guard: Guard, *, would_deactivate: Mapping[str, int], active: Mapping[str, int]
) -> dict[str, dict[str, object]]:
    """The entities that trip the guard, unless the approval covers their total."""
    tripped: dict[str, dict[str, object]] = {
        name: {"would_deactivate": count, "active": active[name]}
        for name, count in would_deactivate.items()
        if guard.tripped(would_deactivate=count, active=active[name])
    }
    total = sum(would_deactivate[name] for name in tripped)
    return tripped if total > guard.approved_max else {}
