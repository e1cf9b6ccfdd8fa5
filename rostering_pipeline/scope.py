"""A district's school allow-list: rows outside it are left out as if never sent.

Academic sessions are kept whole; courses follow their org, which may be the district itself.
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
import pandas as pd

from rostering_pipeline.oneroster.entities import INVALID_FIELDS


def restrict_to_schools(
    entity: str,
    frame: pd.DataFrame,
    schools: Collection[str],
    kept_orgs: Collection[str] = (),
) -> pd.DataFrame:
    """The part of `frame` inside the allow-list. Non-school orgs (the district) stay.

    `kept_orgs`: for courses, the orgs this pull kept (the restricted `orgs` snapshot).
    """
    allowed = pd.Index(list(schools), dtype=frame["sourced_id"].dtype)
    if entity == "orgs":
        outside = frame["org_type"].eq("school") & ~frame["sourced_id"].isin(allowed)
        outside |= frame["parent_sourced_id"].isin(frame.loc[outside, "sourced_id"])
        return frame[~outside.fillna(False)].reset_index(drop=True)
    if entity == "courses":
        return _keep(frame, frame["org_sourced_id"].isin(pd.Index(list(kept_orgs), dtype=str)))
    if entity in ("classes", "enrollments"):
        return _keep(frame, frame["school_sourced_id"].isin(allowed))
    if entity == "users":
        return _restrict_users(frame, set(schools))
    return frame


def _keep(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    return frame[mask.fillna(False)].reset_index(drop=True)


def _restrict_users(frame: pd.DataFrame, schools: set[str]) -> pd.DataFrame:
    """Users linked to an allowed school keep only their allowed links; the others are dropped.
    A user whose org list could not be read stays, to be quarantined with what depends on it:
    dropping it would turn its enrollments into unknown references."""
    kept_orgs = [
        [org for org in orgjson_list if org in schools]
        for orgjson_list in map(orjson.loads, frame["org_sourced_ids"])
    ]
    unreadable = frame[INVALID_FIELDS].str.contains("org_sourced_ids", regex=False)
    mask = pd.Series([bool(orgs) for orgs in kept_orgs], index=frame.index)
    mask |= unreadable.fillna(False).astype(bool)
    out = frame[mask].copy()
    out["org_sourced_ids"] = pd.array(
        [orjson.dumps(orgs).decode() for orgs, keep in zip(kept_orgs, mask, strict=True) if keep],
        dtype=frame["org_sourced_ids"].dtype,
    )
    return out.reset_index(drop=True)
