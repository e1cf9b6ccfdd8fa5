"""What one pull learned about the provider: the raw material of a district's provider profile.

A data engineer onboarding a district cannot fix the provider; the profile tells them what it does
(paging style, envelope, timestamp style, whether totals ignore filters) and what the pipeline had
to tolerate. It holds counts, rule names and grade codes: never a person's data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rostering_pipeline.oneroster.collected import Collected
from rostering_pipeline.oneroster.normalize import DATE_ONLY, MISSING, NAIVE, OFFSET, Tolerated

TIMESTAMP_STYLES = (OFFSET, NAIVE, DATE_ONLY, MISSING)


@dataclass(frozen=True)
class PullProfile:
    rows: int
    filtered: bool  # a delta pull (`filter=dateLastModified>…`)
    paging: str | None  # total | link | until_empty; None for a filtered pull (always until empty)
    envelope: str  # the top-level key the records came under
    # A filtered pull whose X-Total-Count disagreed with the rows it returned; None when the pull
    # could not tell (unfiltered, or no total sent).
    totals_ignore_filter: bool | None
    timestamps: Mapping[str, int]  # dateLastModified style -> rows
    tolerated: Mapping[str, int]  # tolerance rule -> values
    non_ceds_grades: tuple[str, ...]  # a few grades sent outside CEDS, as sent
    future_dated: int  # rows stamped after the provider's clock

    @property
    def timestamp_style(self) -> str | None:
        """offset | naive | date_only | mixed | none (rows, but not one timestamp); None when the
        pull had no rows to tell."""
        if not self.rows:
            return None
        styles = [s for s in (OFFSET, NAIVE, DATE_ONLY) if self.timestamps.get(s)]
        if not styles:
            return "none"
        return styles[0] if len(styles) == 1 else "mixed"

    def observed(self) -> dict[str, Any]:
        """What this pull can tell, as JSON-ready values. A filtered pull says nothing of paging
        or of a whole roster's tolerances and timestamps."""
        found: dict[str, Any] = {"envelope": self.envelope}
        if self.totals_ignore_filter is not None:
            found["totals_ignore_filter"] = self.totals_ignore_filter
        if not self.filtered:  # a delta's rows all carry the stamp its filter matched
            found.update(
                timestamp_style=self.timestamp_style,
                timestamps={s: self.timestamps.get(s, 0) for s in TIMESTAMP_STYLES},
                paging=self.paging,
                rows=self.rows,
                tolerated=dict(sorted(self.tolerated.items())),
                non_ceds_grades=list(self.non_ceds_grades),
                future_dated=self.future_dated,
            )
        return found


def profile_pull(
    collected: Collected,
    tolerated: Tolerated,
    *,
    filtered: bool,
    paging: str | None,
    envelope: str,
    total: int | None,
    received: int,
) -> PullProfile:
    return PullProfile(
        rows=collected.rows,
        filtered=filtered,
        paging=paging,
        envelope=envelope,
        totals_ignore_filter=(total != received) if filtered and total is not None else None,
        timestamps=dict(tolerated.timestamps),
        tolerated=dict(tolerated.counts),
        non_ceds_grades=tuple(tolerated.grade_examples),
        future_dated=collected.future_dated,
    )


# --- the district's profile: what its pulls taught, and what follows for its deltas -----------

DEFAULT_DELTA_OVERLAP = timedelta(hours=1)
DAY_STAMPED_DELTA_OVERLAP = timedelta(days=1)


@dataclass(frozen=True)
class DeltaPolicy:
    """How the district's deltas run: from how far before the high-water mark, or not at all."""

    overlap: timedelta
    overlap_reason: str
    runs_full_because: str | None  # why deltas run as full syncs; None: they run as deltas


def delta_policy(profiles: Mapping[str, Mapping[str, Any]], overlap_s: int | None) -> DeltaPolicy:
    """`profiles`: entity -> the merged `observed()` of its pulls. `overlap_s`: the district's
    own setting (`--delta-overlap`), which wins over what the profile suggests."""
    by_style = {
        style: sorted(e for e, p in profiles.items() if p.get("timestamp_style") == style)
        for style in ("date_only", "none")
    }
    unusable = by_style["none"]
    runs_full = (
        f"the provider sends no dateLastModified on {', '.join(unusable)}" if unusable else None
    )
    if overlap_s is not None:
        return DeltaPolicy(timedelta(seconds=overlap_s), "set for the district", runs_full)
    if by_style["date_only"]:
        reason = f"the provider stamps {', '.join(by_style['date_only'])} by day only"
        return DeltaPolicy(DAY_STAMPED_DELTA_OVERLAP, reason, runs_full)
    return DeltaPolicy(DEFAULT_DELTA_OVERLAP, "default", runs_full)


def describe(profiles: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per collection, for `districts show`: what the provider does and what was
    tolerated. Counts, styles and grade codes only."""
    lines = []
    for entity, profile in profiles.items():
        parts = [f"paging {profile.get('paging') or '?'}", f"envelope '{profile['envelope']}'"]
        if profile.get("timestamp_style"):
            parts.append(f"timestamps {profile['timestamp_style']}")
        if "totals_ignore_filter" in profile:
            ignores = profile["totals_ignore_filter"]
            parts.append("totals ignore filters" if ignores else "totals follow filters")
        if profile.get("future_dated"):
            parts.append(f"{profile['future_dated']} stamped in the future")
        tolerated = profile.get("tolerated") or {}
        if tolerated:
            parts.append(
                "tolerated " + ", ".join(f"{rule} {n}" for rule, n in sorted(tolerated.items()))
            )
        if profile.get("non_ceds_grades"):
            parts.append(
                "grades outside CEDS e.g. " + ", ".join(map(repr, profile["non_ceds_grades"]))
            )
        lines.append(f"{entity}: {'; '.join(parts)}")
    return lines
