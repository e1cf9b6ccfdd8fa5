"""How a stored value is written to a CSV cell, the same in every export: empty for NULL,
lowercase booleans, ISO 8601 dates and timestamps, anything else as it is."""

from __future__ import annotations

from datetime import date
from typing import Any


def as_csv(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return value
