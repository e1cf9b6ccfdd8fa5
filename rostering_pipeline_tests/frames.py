"""Normalized frames for unit tests: given rows, with the contract's columns and dtypes."""

from __future__ import annotations

import pandas as pd

from rostering_pipeline.oneroster.entities import ENTITIES, Kind


def typed_frame(entity: str, rows: list[dict]) -> pd.DataFrame:
    """Columns a row leaves out are null, but lists: empty, as the contract has them."""
    spec = ENTITIES[entity]
    data = {
        c: [row.get(c, "[]" if kind is Kind.JSON_LIST else None) for row in rows]
        for c, kind in spec.all_columns.items()
    }
    return pd.DataFrame(data).astype(spec.dtypes())
