"""A pull's normalized pages as they arrive: handed to a sink (the extract's gate, which takes
them into the snapshot chunk by chunk) or kept, and in both cases counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from rostering_pipeline.repeated_ids import IdDigests

PageSink = Callable[[pa.Table], None]
# A record stamped later than the provider's own clock plus this is "in the future".
FUTURE_SKEW = timedelta(minutes=5)


class Collected:
    """What a pull keeps of its pages: rows, future-dated rows and the sourced_ids' digests
    (about 25 bytes a row, for the check that no id came twice) and, without a sink, the pages
    themselves."""

    def __init__(self, sink: PageSink | None, now: datetime) -> None:
        self.sink = sink
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.future_dated = 0
        self.ids = IdDigests()
        self._ahead = pa.scalar(now + FUTURE_SKEW, pa.timestamp("us", tz="UTC"))

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        ahead = pc.greater(table["source_modified_at"], self._ahead)
        self.future_dated += pc.sum(ahead).as_py() or 0
        self.ids.add(table["sourced_id"])
        if self.sink is not None:
            self.sink(table)
        else:
            self.tables.append(table)
