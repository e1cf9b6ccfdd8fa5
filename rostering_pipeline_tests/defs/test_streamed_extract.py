"""The extract gates a pull's pages as they arrive, a chunk at a time: a district gated in chunks
of a few pages ends with the roster, the metadata and the checks of the same district gated
whole, and a pull that fails after chunks were written leaves no snapshot."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rostering_pipeline import pull_gate
from rostering_pipeline.config import snapshot_url
from rostering_pipeline.devserver import Quirks
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline.snapshots import SnapshotStore, SnapshotWriter
from rostering_pipeline_tests.defs.test_real_feeds import feed
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import SMALL_DISTRICT, export, serve


@pytest.fixture
def app_db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


def test_a_district_gated_in_small_chunks_ends_as_one_gated_whole(env, monkeypatch):
    """Pages of 25 rows, chunks of 30 (so two pages each): a pilot of one school (the allow-list
    applied per chunk) with a user whose org list cannot be read (quarantined, with enrollments
    in other chunks)."""
    spec = dataclasses.replace(SMALL_DISTRICT, students=700)
    outcomes = {}
    with serve(spec, quirks=feed(refs_without_sourced_id=1)) as server:
        bad = next(u for u in server.district.tables["users"].records if u.role == "student")
        for key, rows in (("whole", 10**9), ("chunked", 30)):
            monkeypatch.setattr(pull_gate, "CHUNK_ROWS", rows)
            register(env, server, key, page_size=25, school_allow_list=bad.orgs[:1])
            outcomes[key] = sync_in_process(key)
            assert outcomes[key].success, outcomes[key].message

    assert export(env, "chunked").content() == export(env, "whole").content()
    volatile = ("duration_s", "snapshot")
    metadata = {
        key: {
            asset: {k: v for k, v in meta.items() if k not in volatile}
            for asset, meta in outcome.materializations.items()
            if asset.startswith("oneroster/")
        }
        for key, outcome in outcomes.items()
    }
    assert metadata["chunked"] == metadata["whole"]
    users = metadata["chunked"]["oneroster/users"]
    assert users["rows_outside_schools"] > 0 and users["rows_quarantined"] == 1
    assert outcomes["chunked"].changes["enrollments"]["dependent_quarantined"] > 0


def test_a_pull_failing_after_chunks_were_written_leaves_no_snapshot(env, monkeypatch):
    """Pages of 25, chunks of 30: courses reach the snapshot before the provider's duplicate
    across pages is found (a check of the whole pull, made after its last page)."""
    monkeypatch.setattr(pull_gate, "CHUNK_ROWS", 30)
    written = []
    write = SnapshotWriter.write_table
    monkeypatch.setattr(
        SnapshotWriter,
        "write_table",
        lambda self, t: (written.append(self.location), write(self, t)),
    )
    with serve(quirks=Quirks(duplicate_across_pages=True)) as server:
        register(env, server, "d1", page_size=25)
        outcome = sync_in_process("d1")

    assert not outcome.success and "sent more than once across pages" in outcome.message
    store = SnapshotStore(snapshot_url())
    courses = store.location("d1", outcome.run_id, "courses")
    assert written.count(courses) >= 2  # chunks went in before the pull failed
    assert not Path(courses).exists()
    assert Path(store.location("d1", outcome.run_id, "orgs")).exists()  # one page: no duplicate
