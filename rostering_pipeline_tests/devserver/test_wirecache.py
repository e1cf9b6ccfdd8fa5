from __future__ import annotations

import orjson

from rostering_pipeline.devserver.records import Enrollment
from rostering_pipeline.devserver.wirecache import WireCache


def _enrollments(n: int) -> list[Enrollment]:
    return [
        Enrollment(f"e{i:04d}", "active", "2026-01-01T00:00:00Z", f"u{i}", f"c{i}", "s1",
                   "student", True, "2026-01-01", "2026-06-30")
        for i in range(n)
    ]  # fmt: skip


class _CountingShape:
    def __init__(self, tag: str) -> None:
        self.tag, self.calls = tag, 0

    def __call__(self, record: Enrollment) -> dict[str, str]:
        self.calls += 1
        return {"sourcedId": record.sourcedId, "tag": self.tag}


def test_a_second_pull_of_the_same_variant_reuses_the_bytes() -> None:
    cache, records, shape = WireCache(), _enrollments(5), _CountingShape("a")
    first = cache.encoded(1, "v", records, shape)
    again = cache.encoded(1, "v", records, shape)
    assert again == first == [orjson.dumps({"sourcedId": r.sourcedId, "tag": "a"}) for r in records]
    assert shape.calls == 5


def test_a_new_revision_or_variant_is_shaped_anew() -> None:
    cache, records = WireCache(), _enrollments(3)
    cache.encoded(1, "v", records, _CountingShape("old"))
    assert orjson.loads(cache.encoded(2, "v", records, _CountingShape("new"))[0])["tag"] == "new"
    assert orjson.loads(cache.encoded(2, "w", records, _CountingShape("w"))[0])["tag"] == "w"


def test_the_budget_bounds_what_is_kept() -> None:
    cache, records = WireCache(budget_bytes=1_000), _enrollments(100)
    shape = _CountingShape("a")
    assert len(cache.encoded(1, "v", records, shape)) == 100
    assert cache.size_bytes < 1_000 + 200  # stops adding once over: at most one entry beyond
    cache.encoded(1, "v", records, shape)
    assert shape.calls > 100 + 80  # what did not fit is shaped again
    cache.encoded(1, "w", records, _CountingShape("w"))  # a new variant evicts the full one
    assert cache.size_bytes < 1_000 + 200
