"""A spilled district (`dev-provider --spill`): the same records as one held in memory, served as
the same bytes, with its large tables in files read a chunk at a time."""

from __future__ import annotations

import gc
import importlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from rostering_pipeline.devserver import ProviderServer, ProviderSettings, spill
from rostering_pipeline.devserver.records import Table
from rostering_pipeline.devserver.spill import SpilledTable
from rostering_pipeline.devserver.synthetic import DistrictSpec, generate
from rostering_pipeline_tests.devserver.conftest import api_client

SPEC = DistrictSpec(seed=7, schools=4, students=600)
SPILLED = ("classes", "users", "enrollments")
# the module, which the package's `dev_provider` command shadows
dev_provider_module = importlib.import_module("rostering_pipeline.cli.dev_provider")


@pytest.fixture
def small_chunks(monkeypatch):
    """Runs and chunks far smaller than a table, so that merging and chunk edges are exercised."""
    monkeypatch.setattr(spill, "RUN_RECORDS", 700)
    monkeypatch.setattr(spill, "CHUNK_RECORDS", 97)
    monkeypatch.setattr(spill, "CACHED_CHUNKS", 3)


def test_a_spilled_district_has_the_same_records_in_the_same_order(tmp_path, small_chunks):
    held = generate(SPEC)
    spilled = generate(SPEC, spill_to=tmp_path)
    assert spilled.counts() == held.counts()
    for name, table in held.tables.items():
        kept = spilled.tables[name]
        assert isinstance(kept, SpilledTable if name in SPILLED else Table), name
        assert list(kept.records) == table.records, name
    enrollments = spilled.tables["enrollments"]
    assert enrollments.chunks > 40  # many chunks, merged from several runs
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{n}.table" for n in sorted(SPILLED)]


def test_slices_and_lookups_cross_chunk_edges(tmp_path, small_chunks):
    held = generate(SPEC).tables["enrollments"]
    spilled = generate(SPEC, spill_to=tmp_path).tables["enrollments"]
    records, expected = spilled.records, held.records
    for start, stop in ((0, 1000), (96, 98), (97, 194), (500, 1500), (len(expected) - 5, 10**9)):
        assert records[start:stop] == expected[start:stop], (start, stop)
    assert records[-1] == expected[-1] and records[97] == expected[97]
    assert records[::-50] == expected[::-50]
    with pytest.raises(IndexError):
        records[len(expected)]
    for record in expected[::37]:
        assert spilled.get(record.sourcedId) == record
    first, last = expected[0].sourcedId, expected[-1].sourcedId
    assert spilled.get(chr(ord(first[0]) - 1)) is None  # before the first chunk
    assert spilled.get(last + "0") is None  # after the last
    assert spilled.get(expected[200].sourcedId + "0") is None  # between two ids


@pytest.fixture(scope="module")
def two_providers():
    spec = DistrictSpec(seed=3, schools=3, students=400)
    with (
        ProviderServer(ProviderSettings(district=spec)) as held,
        ProviderServer(ProviderSettings(district=spec, spill=True)) as spilled,
    ):
        yield held, spilled


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/enrollments", {"limit": 1000, "offset": 1000, "sort": "sourcedId"}),
        ("/users", {"limit": 100, "offset": 300, "sort": "sourcedId", "fields": "sourcedId,role"}),
        ("/users", {"filter": "dateLastModified>'2026-01-01'", "sort": "familyName"}),
        ("/students", {"limit": 50, "offset": 20}),
        ("/classes", {"limit": 100, "sort": "sourcedId", "orderBy": "desc"}),
    ],
)
def test_a_spilled_provider_serves_the_same_bytes(two_providers, path, params):
    held, spilled = two_providers
    with api_client(held) as left, api_client(spilled) as right:
        expected, got = left.get(path, params=params), right.get(path, params=params)
    assert got.status_code == expected.status_code == 200
    # hrefs name each server's own port
    assert got.content.replace(spilled.base_url.encode(), b"") == expected.content.replace(
        held.base_url.encode(), b""
    )
    assert len(got.json()[next(iter(got.json()))]) > 10
    assert got.headers["X-Total-Count"] == expected.headers["X-Total-Count"]


def test_a_spilled_provider_answers_single_items(two_providers):
    held, spilled = two_providers
    user = held.district.tables["users"].records[123]
    with api_client(spilled) as api:
        found = api.get(f"/users/{user.sourcedId}")
        missing = api.get(f"/users/{user.sourcedId}x")
    assert found.json()["user"]["sourcedId"] == user.sourcedId
    assert missing.status_code == 404


def test_the_spilled_files_go_with_the_provider():
    server = ProviderServer(ProviderSettings(district=DistrictSpec(students=50), spill=True))
    folder = server.district.tables["users"].path.parent
    assert any(folder.iterdir())
    del server
    gc.collect()
    assert not Path(folder).exists()


class _Stop(Exception):
    pass


def test_the_cli_option_asks_for_a_spilled_district(monkeypatch):
    seen = []

    def server(settings, **_):
        seen.append(settings.spill)
        raise _Stop

    monkeypatch.setattr(dev_provider_module, "ProviderServer", server)
    result = CliRunner().invoke(dev_provider_module.dev_provider, ["--students", "50", "--spill"])
    assert isinstance(result.exception, _Stop)
    assert seen == [True]
