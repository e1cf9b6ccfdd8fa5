"""Which ids of a large pull occur more than once, in little memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from rostering_pipeline.text_digests import digests, find_sorted


class IdDigests:
    """A pull's sourced_ids kept as digests, in pull order (`add` each page or chunk): what
    finds the rows whose id another row of the pull also has, in about 24 bytes a row (the
    digest, and its first half among the sorted ones seen so far) where the text takes 40-odd.
    A row whose id was seen before keeps its text, to name the repeat."""

    BATCH_ROWS = 262_144  # ids digested at a time: fewer, larger numpy calls and merges

    def __init__(self) -> None:
        self._digests: list[np.ndarray] = []
        self._valid: list[np.ndarray] = []
        self._seen = np.zeros(0, dtype=np.uint64)  # every valid row's first half, sorted
        self._names: dict[tuple[int, int], str] = {}  # digest -> id, for rows seen before
        self._pending: list[pa.Array] = []
        self._pending_rows = 0

    def add(self, ids: pa.Array | pa.ChunkedArray) -> None:
        self._pending += ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
        self._pending_rows += len(ids)
        if self._pending_rows >= self.BATCH_ROWS:
            self._digest_pending()

    def __len__(self) -> int:
        return sum(len(d) for d in self._digests) + self._pending_rows

    def _digest_pending(self) -> None:
        if not self._pending:
            return
        batch = pa.concat_arrays([chunk.cast(pa.large_string()) for chunk in self._pending])
        self._pending, self._pending_rows = [], 0
        digested = digests(batch)
        valid = ~batch.is_null().to_numpy(zero_copy_only=False)
        self._digests.append(digested)
        self._valid.append(valid)
        rows = np.flatnonzero(valid)
        first = np.sort(digested[rows, 0])
        # a row is a possible repeat when its first half was seen before or is in this batch twice
        _, hits = find_sorted(digested[rows, 0], self._seen)
        doubled = first[1:][first[1:] == first[:-1]]
        if len(doubled):
            hits |= np.isin(digested[rows, 0], doubled)
        for row in rows[hits]:
            self._names[(int(digested[row, 0]), int(digested[row, 1]))] = batch[int(row)].as_py()
        # two sorted runs: the stable sort (timsort) merges them in one pass
        self._seen = np.sort(np.concatenate([self._seen, first]), kind="stable")

    def repeated(self) -> Repeats:
        """The rows whose id another row has (nulls are never repeated)."""
        self._digest_pending()
        if not self._names:  # the usual case: no row's first half had been seen before
            return Repeats.none()
        valid = np.flatnonzero(np.concatenate(self._valid))
        every = np.concatenate(self._digests)[valid]
        pairs = every.view([("a", np.uint64), ("b", np.uint64)]).ravel()
        candidates = np.flatnonzero(np.isin(every[:, 0], [a for a, _ in self._names]))
        _, groups, counts = np.unique(pairs[candidates], return_inverse=True, return_counts=True)
        groups = groups.ravel()
        shared = counts[groups] > 1
        chosen = candidates[shared]
        names = np.array(
            [self._names.get((int(a), int(b))) for a, b in every[chosen]], dtype=object
        )
        return Repeats(valid[chosen], groups[shared], names, int((counts > 1).sum()))


@dataclass(frozen=True)
class Repeats:
    """Rows of a pull that share their id with another: their positions (ascending), the id
    each shares (as a group number, and as text), and how many distinct ids are shared."""

    positions: np.ndarray
    groups: np.ndarray
    names: np.ndarray
    ids: int

    @classmethod
    def none(cls) -> Repeats:
        empty = np.zeros(0, dtype=np.int64)
        return cls(empty, empty, np.zeros(0, dtype=object), 0)

    def example(self) -> tuple[str, int, int]:
        """The first shared id and the first two rows that have it."""
        same = self.positions[self.groups == self.groups[0]]
        return str(self.names[0]), int(same[0]), int(same[1])
