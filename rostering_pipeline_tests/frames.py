"""Normalized frames for unit tests: given rows, with the contract's columns and dtypes."""

from __future__ import annotations

import pandas as pd

from rostering_pipeline.oneroster.entities import ENTITIES


def typed_frame(entity: str, rows: list[dict]) -> pd.DataFrame:
    """Columns a row leaves out are null."""
    spec = ENTITIES[entity]
    data = {c: [row.get(c) for row in rows] for c in spec.all_columns}
    return pd.DataFrame(data).astype(spec.dtypes())
