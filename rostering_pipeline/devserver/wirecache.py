"""Each record's wire bytes, kept per variant so that pulling an unchanged district again is a
join of bytes already made instead of shaping and encoding every record anew."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import orjson

from rostering_pipeline.devserver.records import Record
from rostering_pipeline.devserver.serialize import Shaper

# the large district itself takes about 0.8 GB; its enrollments encoded, about 1.1 GB
DEFAULT_BUDGET_BYTES = 900 * 1024 * 1024
_ENTRY_OVERHEAD = 90  # a bytes object's header and its slot in the dict, roughly


class WireCache:
    """Encoded records per variant: everything that changes a record's bytes (table, href base,
    quirks, field selection, tampering) is in the variant key, and the district and tampering
    revisions are the `revision`. Used from the serving event loop only, so it takes no lock."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self.size_bytes = 0
        self._revision: Hashable = None
        self._variants: OrderedDict[Hashable, dict[str, bytes]] = OrderedDict()

    def encoded(
        self, revision: Hashable, variant: Hashable, records: list[Record], shape: Shaper
    ) -> list[bytes]:
        """The JSON bytes of each record, shaped by `shape` when not already cached."""
        cached = self._cache_for(revision, variant)
        parts = [cached.get(r[0]) for r in records]
        if None not in parts:
            return parts
        dumps = orjson.dumps
        for at, part in enumerate(parts):
            if part is None:
                record = records[at]
                parts[at] = part = dumps(shape(record))
                if self.size_bytes < self.budget_bytes:
                    # an exact-size copy: orjson's output sits in a larger block it shrank, and
                    # keeping those would fragment the heap to several times the bytes held
                    cached[record[0]] = bytes(memoryview(part))
                    self.size_bytes += len(part) + _ENTRY_OVERHEAD
        return parts

    def _cache_for(self, revision: Hashable, variant: Hashable) -> dict[str, bytes]:
        if revision != self._revision:  # a changed district or tampering: every byte is stale
            self._variants.clear()
            self.size_bytes = 0
            self._revision = revision
        cached = self._variants.get(variant)
        if cached is not None:
            self._variants.move_to_end(variant)
            return cached
        while self._variants and self.size_bytes >= self.budget_bytes:
            _, evicted = self._variants.popitem(last=False)  # least recently pulled first
            self.size_bytes -= sum(len(part) + _ENTRY_OVERHEAD for part in evicted.values())
        cached = self._variants[variant] = {}
        return cached
