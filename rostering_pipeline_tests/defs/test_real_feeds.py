"""Feeds shaped like real OneRoster servers', end to end through Dagster: each knob of the local
provider (devserver/feeds.py) syncs full, then delta after a day of changes, then full again,
and ends with exactly the roster a fresh full sync of the same feed gives.

SQLite only: what is tested here is what the pipeline tolerates, which does not depend on the app
database (the reconciliation's own tests run on both)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rostering_pipeline.appdb.profiles import load_profiles
from rostering_pipeline.appdb.tables import ROSTER_TABLES, user_schools
from rostering_pipeline.cli import cli
from rostering_pipeline.devserver import ProviderServer, Quirks
from rostering_pipeline.devserver.feeds import FeedQuirks
from rostering_pipeline.districts import get_district
from rostering_pipeline.runner import SyncOutcome, sync_in_process
from rostering_pipeline_tests.e2e import register
from rostering_pipeline_tests.faults.support import SMALL_DISTRICT, export, serve, synced

pytestmark = pytest.mark.slow


@pytest.fixture
def app_db_url(tmp_path) -> str:
    """SQLite only, for the `env` fixture of this folder (see the module's docstring)."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def feed(**knobs: object) -> Quirks:
    return Quirks(feed=FeedQuirks(**knobs))


def stored(engine: sa.Engine, entity: str, column: str) -> list:
    table = ROSTER_TABLES[entity]
    with engine.connect() as conn:
        return conn.execute(sa.select(table.c[column]).where(table.c.active)).scalars().all()


_COMPARED = ("given_name", "family_name", "email", "role", "grades", "enabled", "active")


def full_delta_full(engine: sa.Engine, server: ProviderServer, **settings: object) -> SyncOutcome:
    """The day's walk: full sync, a day of changes, delta, full again; a reference district
    synced once from the same feed must then hold exactly the same roster. Returns the delta's
    outcome."""
    register(engine, server, "d1", **settings)
    synced("d1")
    return full_delta_full_after(engine, server, **settings)


def full_delta_full_after(
    engine: sa.Engine, server: ProviderServer, **settings: object
) -> SyncOutcome:
    """The walk's rest, for "d1" already synced: a day of changes, delta, full, compared."""
    changes = server.advance_day()
    delta = synced("d1", mode="delta")
    register(engine, server, "reference", **settings)
    synced("reference")
    if delta.materializations["oneroster/users"]["mode"] == "delta":
        # The delta alone brought the day's changes: those users read as in the reference.
        respell = str.upper if server.quirks.feed.upper_case_user_ids else str
        ours, theirs = export(engine, "d1"), export(engine, "reference")
        changed = sorted(changes.changed["users"])
        assert changed
        for sourced_id in changed[:40]:
            mine = ours.row("users", respell(sourced_id)) or {}
            reference = theirs.row("users", respell(sourced_id))
            if reference is None:  # removed that day (or a guardian): not active here either
                assert mine.get("active") in (None, "false"), sourced_id
                continue
            assert {k: mine.get(k) for k in _COMPARED} == {
                k: reference.get(k) for k in _COMPARED
            }, sourced_id
    synced("d1")
    assert export(engine, "d1").active_content() == export(engine, "reference").active_content()
    return delta


def show(key: str) -> str:
    """`rostering-pipeline districts show KEY`, as a data engineer reads it."""
    result = CliRunner().invoke(cli, ["districts", "show", key])
    assert result.exit_code == 0, result.output
    return result.stdout


def profile(engine: sa.Engine, key: str = "d1") -> dict[str, dict]:
    return load_profiles(engine, get_district(engine, key).id)


def test_enumerations_in_any_case(env):
    with serve(quirks=feed(enum_case=True)) as server:
        full_delta_full(env, server)
    assert set(stored(env, "classes", "class_type")) <= {"homeroom", "scheduled"}
    assert set(stored(env, "users", "role")) == {"administrator", "student", "teacher"}
    assert set(stored(env, "academic_sessions", "session_type")) == {"schoolYear", "semester"}
    assert profile(env)["classes"]["tolerated"]["enumeration_case"] > 0


def test_what_real_servers_send_is_tolerated_on_1_2_too(env):
    """Roles in any case, naive timestamps in the district's zone, totals ignoring the filter:
    the 1.1 tolerances hold for 1.2 users (the other knobs touch no field 1.2 changes)."""
    knobs = feed(enum_case=True, totals_ignore_filter=True, timestamps="naive", local_zone="UTC")
    with serve(quirks=knobs, version="1.2") as server:
        full_delta_full(env, server, oneroster_version="1.2")
        assert server.stats.demographics_requests == 0
    assert set(stored(env, "users", "role")) == {"administrator", "student", "teacher"}
    with env.connect() as conn:
        query = sa.select(user_schools.c.role).where(user_schools.c.active)
        roles = set(conn.execute(query).scalars())
    spelled = {"principal", "siteAdministrator", "student", "teacher"}  # whatever the case sent
    assert {"student", "teacher"} <= roles <= spelled
    assert profile(env)["users"]["timestamp_style"] == "naive"


def test_csv_backed_server_blank_status_and_timestamps_runs_deltas_as_full(env):
    with serve(quirks=feed(csv_blanks=True)) as server:
        delta = full_delta_full(env, server)
    mode = delta.materializations["oneroster/users"]["mode"]
    assert mode.startswith("full (delta asked for; the provider")
    assert set(stored(env, "users", "source_modified_at")) == {None}  # unknown, still applied
    assert set(stored(env, "classes", "class_code")) == {None}
    assert "deltas: run as full syncs (the provider sends no dateLastModified on" in show("d1")
    profiles = profile(env)
    assert profiles["users"]["timestamp_style"] == "none"
    assert profiles["users"]["tolerated"]["empty_status_as_active"] > 0


def test_naive_timestamps_are_local_time_of_the_district(env):
    with serve(quirks=feed(timestamps="naive", local_zone="Europe/Oslo")) as server:
        full_delta_full(env, server, timezone="Europe/Oslo")
        served = {r.sourcedId: r.dateLastModified for r in server.district.tables["users"].records}
    # the reference district's fresh sync stored each stamp as the provider served it
    checked = [(i, m) for i, m in _stored_stamps(env, "reference") if i in served]
    assert len(checked) > 100
    for sourced_id, modified in checked:
        assert modified == datetime.fromisoformat(served[sourced_id].replace("Z", "+00:00"))
    assert profile(env)["users"]["timestamp_style"] == "naive"


def _stored_stamps(engine: sa.Engine, key: str) -> list[tuple[str, datetime]]:
    users = ROSTER_TABLES["users"]
    query = sa.select(users.c.sourced_id, users.c.source_modified_at).where(
        users.c.district_id == get_district(engine, key).id
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(sourced_id, stamp.replace(tzinfo=UTC)) for sourced_id, stamp in rows]


def test_a_provider_stamping_by_day_gets_a_day_of_delta_overlap(env):
    """A change made the same day, after the last sync, is stamped with that day only and the
    provider compares by day: an hour of overlap would miss it for good."""
    with serve(quirks=feed(timestamps="date_only", local_zone="UTC")) as server:
        full_delta_full(env, server)
        synced("d1", mode="delta")  # at noon of the provider's day
        server.provider.clock_time = time(18, 0)  # later that day: one more change
        user = next(r for r in server.district.tables["users"].records if r.role == "student")
        server.edit("users", user.sourcedId, givenName="Renamed")
        server.provider.clock_time = time(19, 0)
        delta = synced("d1", mode="delta")
    assert delta.materializations["oneroster/users"]["delta_overlap"] == (
        "1d (the provider stamps academic_sessions, classes, courses, enrollments, "
        "orgs, users by day only)"
    )
    assert export(env, "d1").row("users", user.sourcedId)["given_name"] == "Renamed"
    shown = show("d1")
    assert "delta overlap: 1d (the provider stamps academic_sessions, classes" in shown
    assert "users: paging total; envelope 'users'; timestamps date_only" in shown


def test_totals_that_ignore_the_filter(env):
    with serve(quirks=feed(totals_ignore_filter=True)) as server:
        delta = full_delta_full(env, server)
    assert delta.materializations["oneroster/users"]["rows_from_provider"] > 0
    assert profile(env)["users"]["totals_ignore_filter"] is True


def test_a_1_0_style_school_year_is_read_as_the_year(env):
    with serve(quirks=feed(school_year_as_year=True)) as server:
        full_delta_full(env, server)
        year = server.district.tables["academicSessions"].records[0].schoolYear
    assert set(stored(env, "courses", "school_year")) == {year}
    assert set(stored(env, "courses", "school_year_sourced_id")) == {None}


def test_grades_outside_ceds_warn_and_are_stored(env):
    with serve(quirks=feed(non_ceds_grades=True)) as server:
        delta = full_delta_full(env, server)
    grades = {g for text in stored(env, "users", "grades") for g in orjson.loads(text)}
    assert grades and grades <= {"KG", *(f"{n:02d}" for n in range(1, 13))}  # mapped to CEDS
    class_grades = {g for text in stored(env, "classes", "grades") for g in orjson.loads(text)}
    assert any(g.startswith("Year ") for g in class_grades)  # kept as sent
    assert profile(env)["classes"]["non_ceds_grades"]
    assert delta.materializations["oneroster/classes"]["dagster/row_count"] > 0


def test_a_record_stamped_in_the_future_never_moves_the_mark(env):
    with serve(quirks=feed(future_dated_users=3)) as server:
        delta = full_delta_full(env, server)
        clock = server.provider.clock()
    mark = get_district(env, "d1").delta_high_water_mark
    assert mark.year < 2099 and mark <= clock
    assert delta.materializations["oneroster/users"]["rows_from_provider"] > 0
    assert profile(env)["users"]["future_dated"] == 3


def test_a_user_whose_org_refs_have_no_sourced_id_is_quarantined_not_fatal(env):
    # big enough that one bad user stays under the quarantine ratio in a one-school pilot too
    spec = dataclasses.replace(SMALL_DISTRICT, students=700)
    with serve(spec, quirks=feed(refs_without_sourced_id=1)) as server:
        delta = full_delta_full(env, server)
        users = server.district.tables["users"].records
        bad = next(user for user in users if user.role == "student")  # the first, by sourcedId
        # the school allow-list reads every user's org list: the bad one must not break it
        register(env, server, "pilot", school_allow_list=bad.orgs[:1])
        pilot = synced("pilot")
    assert delta.materializations["oneroster/users"]["mode"] == "delta"
    # kept by the allow-list (its schools cannot be read) so that it is quarantined, with its
    # enrollments, instead of leaving them pointing at an unknown user
    applied = pilot.changes
    assert applied["users"]["quarantined"] == 1
    assert applied["enrollments"]["dependent_quarantined"] > 0


def test_a_bare_json_array_is_a_clear_provider_error(env):
    with serve(quirks=feed(bare_array=True)) as server:
        register(env, server, "d1")
        outcome = sync_in_process("d1")
    assert (outcome.success, outcome.exit_code) == (False, 6)
    assert "bare JSON array, not a OneRoster collection" in outcome.message


def test_sourced_ids_whose_case_changes_stay_the_same_people(env):
    """A provider re-spells every user id: a delta re-spells the users it brings, the next full
    sync the rest; nobody is deactivated and inserted again, and the roster ends as a fresh
    sync of the re-spelled feed."""
    with serve() as server:
        register(env, server, "d1")
        synced("d1")
        before = {u["sourced_id"].upper(): u["id"] for u in export(env, "d1").tables["users"]}
        respelled = FeedQuirks(upper_case_user_ids=True)
        server.quirks = dataclasses.replace(server.quirks, feed=respelled)
        delta = full_delta_full_after(env, server)
    assert delta.changes["users"]["id_case_changed"] > 0  # the delta's changed users
    users = export(env, "d1").tables["users"]
    after = {u["sourced_id"]: u["id"] for u in users}
    # the old spelling is left only on users removed before they could be re-spelled, never
    # beside a new row of the same person
    old_spellings = [u["sourced_id"] for u in users if u["sourced_id"] != u["sourced_id"].upper()]
    assert all(u["active"] == "false" for u in users if u["sourced_id"] in old_spellings)
    assert not {s.upper() for s in old_spellings} & set(after)
    assert {k: v for k, v in after.items() if k in before} == {
        k: v for k, v in before.items() if k in after
    }  # same rows, new spelling


def test_a_failed_validation_names_every_failing_entity_and_rule_with_counts(env):
    """Two collections fail at once (each past the quarantine ratio): the CLI's line and the
    district's last error name both, with their rules and counts, not only the first."""
    with serve() as server:
        register(env, server, "d1")
        school = next(o for o in server.district.tables["orgs"].records if o.type == "school")
        server.tampering.override("orgs", school.sourcedId, type="campus")
        session = server.district.tables["academicSessions"].records[0]
        server.tampering.override("academicSessions", session.sourcedId, type="quarter")
        outcome = sync_in_process("d1")
    assert (outcome.success, outcome.exit_code) == (False, 3)
    assert outcome.message.startswith("validation failed, nothing applied: ")
    assert "orgs (allowed_value org_type: 1)" in outcome.message
    assert "academic_sessions (allowed_value session_type: 1)" in outcome.message
    assert get_district(env, "d1").last_error == outcome.message
