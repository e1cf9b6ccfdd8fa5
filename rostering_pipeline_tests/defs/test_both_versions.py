"""A district whose provider speaks OneRoster 1.2 syncs like a 1.1 district: one suite, run on
both versions, over real HTTP against the local provider serving the same synthetic district in
each version's shape.

SQLite only: what differs between the versions is upstream of the app database (the
reconciliation's own tests run on both databases)."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import orjson
import pytest
import sqlalchemy as sa

from rostering_pipeline import districts as registry
from rostering_pipeline import privacy
from rostering_pipeline.appdb import tables
from rostering_pipeline.defs.resources import SnapshotStorage
from rostering_pipeline.devserver import ProviderServer
from rostering_pipeline.runner import instance, sync_in_process
from rostering_pipeline_tests.e2e import active, district_rows, register, serve_small

VERSIONS = ("1.1", "1.2")
PRONOUNS = ("she/her", "he/him", "they/them")  # what the 1.2 provider sends, never stored
# Columns that differ between two districts whatever their version.
BOOKKEEPING = frozenset(
    {"id", "district_id", "first_seen_at", "updated_at", "deactivated_at", "row_hash"}
)
ONLY_IN_1_2 = {"users": {"preferred_given_name", "preferred_family_name"}, "user_schools": {"role"}}


@pytest.fixture
def app_db_url(tmp_path) -> str:
    """SQLite only, for the `env` fixture of this folder (see the module's docstring)."""
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture(params=VERSIONS)
def served(request, env) -> Iterator[ProviderServer]:
    """District d1 registered against a provider speaking the version."""
    with serve_small(request.param) as server:
        register(env, server, oneroster_version=request.param)
        yield server


def test_full_sync_next_day_and_delta(env, served):
    first = sync_in_process("d1")
    assert first.success, first.message
    users = served.district.tables["users"].records
    assert active(env, tables.users, role="student") == sum(u.role == "student" for u in users)

    changes = served.advance_day()
    next_day = sync_in_process("d1")
    assert next_day.success, next_day.message
    user_changes = next_day.changes["users"]
    assert user_changes["inserted"] + user_changes["updated"] + user_changes["deactivated"] > 0
    assert user_changes["inserted"] + user_changes["updated"] <= len(changes.changed["users"])

    edited = next(u for u in served.district.tables["users"].records if u.role == "student")
    served.edit("users", edited.sourcedId, givenName="Renamed")
    delta = sync_in_process("d1", mode="delta")
    assert delta.success, delta.message
    with env.connect() as conn:
        given = conn.execute(
            sa.select(tables.users.c.given_name).where(
                tables.users.c.sourced_id == edited.sourcedId
            )
        ).scalar_one()
    assert given == "Renamed"
    assert served.stats.demographics_requests == 0


def test_preview_cutover_guard_export_and_purge(env, served, tmp_path):
    registry.set_status(env, "d1", "preview")
    preview = sync_in_process("d1", mode="preview")
    assert preview.success, preview.message
    assert active(env, tables.users) == 0
    registry.set_status(env, "d1", "active")
    assert sync_in_process("d1").success

    orgs = served.district.tables["orgs"].records
    schools = sorted(org.sourcedId for org in orgs if org.type == "school")
    registry.update_district(env, "d1", school_allow_list=tuple(schools[:1]))  # a pilot, late
    held = sync_in_process("d1")
    assert held.exit_code == 4, held.message
    held_counts = orjson.loads(_last_sync_run(env)["held"])
    total = sum(entry["would_deactivate"] for entry in held_counts.values())
    approved = sync_in_process("d1", approve_deactivations=total)
    assert approved.success, approved.message

    counts = privacy.export_oneroster_csv(env, "d1", tmp_path / "d1.zip")
    assert counts["users.csv"] == active(env, tables.users) > 0
    privacy.purge_district(env, "d1", SnapshotStorage().store(), instance())
    assert active(env, tables.users) == 0
    assert registry.get_district(env, "d1").status == "purged"


def _last_sync_run(engine: sa.Engine) -> sa.RowMapping:
    with engine.connect() as conn:
        query = sa.select(tables.sync_runs).order_by(tables.sync_runs.c.id.desc()).limit(1)
        return conn.execute(query).mappings().one()


def test_the_same_district_in_either_version_ends_in_the_same_rows(env):
    with serve_small("1.1") as v11, serve_small("1.2") as v12:
        register(env, v11, key="v11")
        register(env, v12, key="v12", oneroster_version="1.2")
        for key in ("v11", "v12"):
            outcome = sync_in_process(key)
            assert outcome.success, outcome.message
        assert v12.stats.demographics_requests == 0

    for table in (*tables.ROSTER_TABLES.values(), tables.user_schools):
        compared = [
            c for c in table.c if c.name not in BOOKKEEPING | ONLY_IN_1_2.get(table.name, set())
        ]
        rows = {key: district_rows(env, table, compared, key) for key in ("v11", "v12")}
        assert rows["v11"] == rows["v12"], table.name
        assert rows["v11"], table.name

    # what only 1.2 carries: chosen names, and the role held at each school, as sent
    with env.connect() as conn:
        users = tables.users
        preferred = conn.execute(
            sa.select(sa.func.count()).where(users.c.preferred_given_name.is_not(None))
        ).scalar_one()
        roles = set(conn.execute(sa.select(tables.user_schools.c.role).distinct()).scalars())
    assert preferred > 0
    assert {"principal", "siteAdministrator", "teacher", "student", None} <= roles


def test_no_pronoun_or_demographic_value_is_stored_anywhere(env):
    """Not in the app database, not in a snapshot (decrypted), not in Dagster's runs and events."""
    with serve_small("1.2") as server:
        register(env, server, oneroster_version="1.2")
        outcome = sync_in_process("d1")
        assert outcome.success, outcome.message
        assert server.stats.demographics_requests == 0
    with env.connect() as conn:
        places = {
            table.name: repr(conn.execute(table.select()).all())
            for table in tables.metadata.sorted_tables
        }
    storage = SnapshotStorage()
    store, key = storage.store(), storage.key(env, "d1")
    for run_id in store.runs("d1"):
        for entity in tables.ROSTER_TABLES:
            location = store.location("d1", run_id, entity)
            places[location] = repr(store.read(location, key).to_dict("records"))
    events = instance().all_logs(outcome.run_id)
    places["Dagster events"] = "\n".join(dg.serialize_value(event) for event in events)

    assert any("preferred" in text for text in places.values())  # the search reaches the data
    for place, text in places.items():
        assert not [p for p in PRONOUNS if p in text], place
        assert "pronouns" not in text and "birthDate" not in text, place
