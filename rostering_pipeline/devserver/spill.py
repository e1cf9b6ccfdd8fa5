"""Tables too large to hold: records written to disk as they are generated, sorted there, and
read back a chunk at a time, so that the provider generates and serves a district of any size in
about the same memory (`dev-provider --spill`)."""

from __future__ import annotations

import heapq
import pickle
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import overload

from rostering_pipeline.devserver.records import Record

CHUNK_RECORDS = 10_000  # a page of 1,000 decodes at most two chunks
RUN_RECORDS = 200_000  # records sorted in memory at a time while generating
CACHED_CHUNKS = 16  # decoded chunks kept: pages in flight fall in the same few
_sourced_id = itemgetter(0)


class SpillWriter:
    """Takes a table's records in any order (`append`, `extend`), keeps them on disk in sorted
    runs, then merges the runs into a `SpilledTable` (`table`)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self._run: list[Record] = []
        self._runs: list[Path] = []

    def append(self, record: Record) -> None:
        self._run.append(record)
        if len(self._run) >= RUN_RECORDS:
            self._write_run()

    def extend(self, records: Iterable[Record]) -> None:
        for record in records:
            self.append(record)

    def table(self) -> SpilledTable:
        self._write_run()
        path = self.directory / f"{self.name}.table"
        offsets: list[int] = []
        first_ids: list[str] = []
        length = 0
        merged = heapq.merge(*(_read_chunks(run) for run in self._runs), key=_sourced_id)
        with path.open("wb") as out:
            for chunk in _batched(merged, CHUNK_RECORDS):
                offsets.append(out.tell())
                first_ids.append(chunk[0][0])
                pickle.dump(chunk, out, pickle.HIGHEST_PROTOCOL)
                length += len(chunk)
        for run in self._runs:
            run.unlink()
        self._runs = []
        return SpilledTable(path, offsets, first_ids, length)

    def _write_run(self) -> None:
        if not self._run:
            return
        self._run.sort(key=_sourced_id)
        path = self.directory / f"{self.name}.run{len(self._runs)}"
        with path.open("wb") as out:
            for start in range(0, len(self._run), CHUNK_RECORDS):
                pickle.dump(self._run[start : start + CHUNK_RECORDS], out, pickle.HIGHEST_PROTOCOL)
        self._runs.append(path)
        self._run = []


class SpilledTable:
    """A `Table` whose records stay on disk, in chunks of CHUNK_RECORDS sorted by `sourcedId`;
    only the chunk boundaries and a few decoded chunks are held. Never mutated, like `Table`."""

    def __init__(self, path: Path, offsets: list[int], first_ids: list[str], length: int) -> None:
        self.path = path
        self._offsets = offsets
        self._first_ids = first_ids
        self._length = length
        self._cache: OrderedDict[int, list[Record]] = OrderedDict()
        self._lock = threading.Lock()  # served from the event loop, edited from control threads
        self.records = SpilledRecords(self)

    def __len__(self) -> int:
        return self._length

    def get(self, sourced_id: str) -> Record | None:
        at = bisect_right(self._first_ids, sourced_id) - 1
        if at < 0:
            return None
        chunk = self.chunk(at)
        found = bisect_left(chunk, sourced_id, key=_sourced_id)
        if found < len(chunk) and chunk[found][0] == sourced_id:
            return chunk[found]
        return None

    @property
    def chunks(self) -> int:
        return len(self._offsets)

    def chunk(self, index: int) -> list[Record]:
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
        with self.path.open("rb") as source:
            source.seek(self._offsets[index])
            chunk = pickle.load(source)  # noqa: S301 - a file this process wrote
        with self._lock:
            self._cache[index] = chunk
            while len(self._cache) > CACHED_CHUNKS:
                self._cache.popitem(last=False)
        return chunk


class SpilledRecords(Sequence[Record]):
    """A spilled table's records as a read-only sequence: a slice reads only its chunks."""

    def __init__(self, table: SpilledTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...
    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return list(self)[index]
            return self._span(start, stop)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("record index out of range")
        return self._table.chunk(index // CHUNK_RECORDS)[index % CHUNK_RECORDS]

    def __iter__(self) -> Iterator[Record]:
        for index in range(self._table.chunks):
            yield from self._table.chunk(index)

    def _span(self, start: int, stop: int) -> list[Record]:
        records: list[Record] = []
        while start < stop:
            index, within = divmod(start, CHUNK_RECORDS)
            chunk = self._table.chunk(index)
            taken = chunk[within : within + stop - start]
            records += taken
            start += len(taken)
        return records


def _read_chunks(path: Path) -> Iterator[Record]:
    with path.open("rb") as source:
        while True:
            try:
                chunk = pickle.load(source)  # noqa: S301 - a file this process wrote
            except EOFError:
                return
            yield from chunk


def _batched(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
