"""Raw edits to what the provider serves, for tests of bad input: records hidden, served twice,
or with wire fields replaced or removed verbatim (any JSON value, malformed on purpose)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from rostering_pipeline.devserver.records import Record
from rostering_pipeline.devserver.serialize import Shaper

REMOVE = object()  # an override value that leaves the field out of the wire object


class Tampering:
    """Thread-safe: tests edit from their thread while the server reads in its own. Every edit
    bumps `revision`, which the provider's cache of filtered rows is keyed on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.revision = 0
        self._hidden: dict[str, frozenset[str]] = {}
        self._copies: dict[str, dict[str, int]] = {}
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}

    def hide(self, table: str, sourced_ids: Iterable[str]) -> None:
        """Serve `table` as if these records did not exist."""
        with self._lock:
            self._hidden[table] = self._hidden.get(table, frozenset()) | frozenset(sourced_ids)
            self.revision += 1

    def duplicate(self, table: str, sourced_id: str, copies: int = 1) -> None:
        """Serve the record `copies` more times (same sourcedId, adjacent in sorted order)."""
        with self._lock:
            self._copies.setdefault(table, {})[sourced_id] = copies
            self.revision += 1

    def override(self, table: str, sourced_id: str, **fields: Any) -> None:
        """Replace wire fields of the record verbatim; `REMOVE` leaves a field out."""
        with self._lock:
            self._fields.setdefault(table, {}).setdefault(sourced_id, {}).update(fields)
            self.revision += 1

    def clear(self) -> None:
        with self._lock:
            self._hidden.clear()
            self._copies.clear()
            self._fields.clear()
            self.revision += 1

    def records(self, table: str, records: list[Record]) -> list[Record]:
        """The table's records as served: hidden ones out, duplicated ones repeated."""
        with self._lock:
            hidden = self._hidden.get(table, frozenset())
            copies = dict(self._copies.get(table, {}))
        if not hidden and not copies:
            return records
        served = []
        for record in records:
            if record[0] not in hidden:
                served.extend([record] * (1 + copies.get(record[0], 0)))
        return served

    def shaper(self, table: str, shape: Shaper) -> Shaper:
        """`shape` followed by the table's field overrides."""
        with self._lock:
            overrides = {sid: dict(fields) for sid, fields in self._fields.get(table, {}).items()}
        if not overrides:
            return shape

        def tampered(record: Record) -> dict[str, Any]:
            wire = shape(record)
            for name, value in overrides.get(record[0], {}).items():
                if value is REMOVE:
                    wire.pop(name, None)
                else:
                    wire[name] = value
            return wire

        return tampered
