"""A pull's normalized pages as they arrive: handed to a sink (the extract's gate, which takes
them into the snapshot chunk by chunk) or kept, and in both cases counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

PageSink = Callable[[pa.Table], None]
# A record stamped later than the provider's own clock plus this is "in the future".
FUTURE_SKEW = timedelta(minutes=5)


class Collected:
    """What a pull keeps of its pages: rows, future-dated rows and the sourced_ids (a few bytes a
    row, for the check that no id came twice) and, without a sink, the pages themselves."""

    def __init__(self, sink: PageSink | None, now: datetime) -> None:
        self.sink = sink
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.future_dated = 0
        self._ids: list[pa.Array] = []
        self._ahead = pa.scalar(now + FUTURE_SKEW, pa.timestamp("us", tz="UTC"))

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        ahead = pc.greater(table["source_modified_at"], self._ahead)
        self.future_dated += pc.sum(ahead).as_py() or 0
        self._ids.extend(table["sourced_id"].chunks)
        if self.sink is not None:
            self.sink(table)
        else:
            self.tables.append(table)

    @property
    def ids(self) -> pa.ChunkedArray:
        return pa.chunked_array(self._ids, pa.string())
