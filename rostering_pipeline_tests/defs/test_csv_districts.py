"""A district that sends OneRoster CSV packages gets what a REST district gets: the same assets,
checks, guard and app database rows. Packages are written by the local provider from the same
synthetic district it serves over REST.

SQLite only: what differs from a REST district is upstream of the app database (the
reconciliation's own tests run on both databases)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from rostering_pipeline import districts as registry
from rostering_pipeline.appdb import tables
from rostering_pipeline.devserver.csv_files import CsvQuirks, write_package
from rostering_pipeline.errors import BadInput
from rostering_pipeline.runner import instance, sync_in_process
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline_tests.e2e import active, district_rows, register, serve_small

BOOKKEEPING = frozenset(
    {"id", "district_id", "first_seen_at", "updated_at", "deactivated_at", "row_hash"}
)


@pytest.fixture
def app_db_url(tmp_path) -> str:
    """SQLite only, for the `env` fixture of this folder (see the module's docstring)."""
    return f"sqlite:///{tmp_path / 'app.db'}"


def add_csv_district(engine: sa.Engine, key: str = "c1", **settings) -> None:
    registry.add_district(
        engine,
        key=key,
        name=f"District {key}",
        source="csv",
        client_secret=None,
        box=SecretBox.from_env(),
        **settings,
    )


def load(key: str, package: Path, **options):
    return sync_in_process(key, package=str(package), **options)


def test_bulk_days_a_delta_and_a_truncated_file_held_then_approved(env, tmp_path):
    add_csv_district(env)
    with serve_small() as server:
        district = server.district
        day0 = load("c1", write_package(district, tmp_path / "day0.zip"))
        assert day0.success, day0.message
        assert day0.mode == "full"
        students = sum(u.role == "student" for u in district.tables["users"].records)
        assert active(env, tables.users, role="student") == students

        server.advance_day()
        day1 = load("c1", write_package(district, tmp_path / "day1.zip"))
        assert day1.success, day1.message
        assert day1.changes["users"]["deactivated"] > 0  # absent from a bulk file: gone
        assert active(env, tables.users, role="student") == sum(
            u.role == "student" and u.status == "active" for u in district.tables["users"].records
        )

        student = next(u for u in district.tables["users"].records if u.role == "student")
        server.edit("users", student.sourcedId, givenName="Renamed", status="tobedeleted")
        delta = write_package(district, tmp_path / "delta.zip", delta_since_day=district.day)
        before = active(env, tables.users)
        outcome = load("c1", delta)
        assert outcome.success, outcome.message
        assert outcome.mode == "delta"
        # a delta never deactivates by absence: only the tobedeleted row goes
        assert active(env, tables.users) == before - 1
        assert outcome.changes["users"]["deactivated"] == 1

        cut = write_package(district, tmp_path / "cut.zip", quirks=CsvQuirks(truncate_users=0.5))
    held = load("c1", cut)
    assert not held.success and held.exit_code == 4
    assert f"import c1 {cut}" in held.message
    assert active(env, tables.users) == before - 1  # nothing applied
    total = int(held.message.split("--approve-deactivations ")[1].split("`")[0])
    approved = load("c1", cut, approve_deactivations=total)
    assert approved.success, approved.message
    assert active(env, tables.users) < before / 2 + 5


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_same_district_by_csv_and_by_rest_ends_in_the_same_rows(env, tmp_path, version):
    with serve_small(version) as server:
        register(env, server, key="rest", oneroster_version=version)
        assert sync_in_process("rest").success
        package = write_package(server.district, tmp_path / "p.zip", version=version)
    add_csv_district(env, "csv")
    outcome = load("csv", package)
    assert outcome.success, outcome.message

    for table in (*tables.ROSTER_TABLES.values(), tables.user_schools):
        compared = [c for c in table.c if c.name not in BOOKKEEPING]
        rows = {key: district_rows(env, table, compared, key) for key in ("rest", "csv")}
        assert rows["rest"] == rows["csv"], table.name
        assert rows["csv"], table.name
    if version == "1.2":  # pronouns were in users.csv: stored nowhere
        with env.connect() as conn:
            dump = repr([conn.execute(t.select()).all() for t in tables.metadata.sorted_tables])
        assert "she/her" not in dump and "they/them" not in dump


def test_an_absent_file_leaves_its_entity_as_it_is_and_warns_of_references_into_it(env, tmp_path):
    add_csv_district(env)
    with serve_small() as server:
        full = write_package(server.district, tmp_path / "full.zip")
        # real sample packages leave courses out and still name them from classes
        no_courses = write_package(
            server.district, tmp_path / "no_courses.zip", quirks=CsvQuirks(no_courses=True)
        )
    first = load("c1", no_courses)
    assert first.success, first.message
    assert active(env, tables.courses) == 0
    assert active(env, tables.classes) == len(server.district.tables["classes"])
    warned = _check(first.run_id, "oneroster/classes", "references_into_absent_files")
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["course_sourced_id"].value == active(env, tables.classes)

    assert load("c1", full).success
    courses = active(env, tables.courses)
    again = load("c1", no_courses)
    assert again.success, again.message
    assert active(env, tables.courses) == courses > 0  # absent: not deactivated
    assert _check(again.run_id, "oneroster/classes", "references_into_absent_files").passed


def test_packages_are_for_csv_districts_and_preview_takes_bulk_files(env, tmp_path):
    add_csv_district(env, status="preview")
    with serve_small() as server:
        register(env, server, key="rest")
        bulk = write_package(server.district, tmp_path / "bulk.zip")
        delta = write_package(server.district, tmp_path / "delta.zip", delta_since_day=0)
    with pytest.raises(BadInput, match="only preview runs"):
        load("c1", bulk)
    with pytest.raises(BadInput, match="a preview needs bulk files"):
        load("c1", delta, mode="preview")
    with pytest.raises(BadInput, match="packages are for CSV districts"):
        load("rest", bulk)
    with pytest.raises(BadInput, match=r"import c1 PACKAGE\.zip"):
        sync_in_process("c1", mode="preview")
    preview = load("c1", bulk, mode="preview")
    assert preview.success, preview.message
    assert active(env, tables.users) == 0  # a preview applies nothing


def _check(run_id: str, asset: str, name: str) -> dg.AssetCheckEvaluation:
    records = (
        instance()
        .get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        .records
    )
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.asset_key.to_user_string() == asset and evaluation.check_name == name:
            return evaluation
    raise AssertionError(f"no {name} check of {asset} in run {run_id}")


def test_a_package_with_every_quirk_of_real_files_ends_in_the_same_rows(env, tmp_path):
    """Through the run, not only the reader: BOM, CRLF, shuffled and vendor columns, blank
    status and dateLastModified, TRUE/FALSE, 8/1/2026 dates, a folder inside the zip, 1.2."""
    quirks = CsvQuirks(
        bom=True,
        crlf=True,
        shuffled_columns=True,
        blank_status=True,
        bool_style="upper",
        slashed_dates=True,
        in_folder=True,
    )
    with serve_small("1.2") as server:
        plain = write_package(server.district, tmp_path / "plain.zip", version="1.2")
        quirky = write_package(server.district, tmp_path / "q.zip", version="1.2", quirks=quirks)
    for key, package in (("plain", plain), ("quirky", quirky)):
        add_csv_district(env, key)
        outcome = load(key, package)
        assert outcome.success, outcome.message
    # blank dateLastModified: unknown, and so are the hashes that include it
    differ = BOOKKEEPING | {"source_modified_at"}
    for table in (*tables.ROSTER_TABLES.values(), tables.user_schools):
        compared = [c for c in table.c if c.name not in differ]
        rows = {key: district_rows(env, table, compared, key) for key in ("plain", "quirky")}
        assert rows["plain"] == rows["quirky"], table.name


def test_a_package_whose_rows_fail_the_checks_applies_nothing(env, tmp_path):
    add_csv_district(env)
    with serve_small() as server:
        first = load("c1", write_package(server.district, tmp_path / "day0.zip"))
        assert first.success, first.message
        users = server.district.tables["users"]
        for user in users.records[: len(users) // 4]:  # their enrollments now point nowhere
            server.edit("users", user.sourcedId, sourcedId=f"gone-{user.sourcedId}")
        broken = write_package(server.district, tmp_path / "broken.zip")
    before = active(env, tables.users)
    outcome = load("c1", broken)
    assert (outcome.success, outcome.exit_code) == (False, 3)
    assert "known_reference" in outcome.message
    assert active(env, tables.users) == before


def test_a_package_that_repeats_a_sourced_id_applies_nothing(env, tmp_path):
    """A package has no paging to check ids on the way: the gate finds the repeat itself."""
    add_csv_district(env)
    with serve_small() as server:
        day0 = write_package(server.district, tmp_path / "day0.zip")
    assert load("c1", day0).success
    repeated = tmp_path / "repeated.zip"
    with zipfile.ZipFile(day0) as source, zipfile.ZipFile(repeated, "w") as copy:
        for name in source.namelist():
            data = source.read(name)
            if name == "users.csv":  # its first user twice
                data += data.splitlines(keepends=True)[1]
            copy.writestr(name, data)
    before = active(env, tables.users)
    outcome = load("c1", repeated)
    assert (outcome.success, outcome.exit_code) == (False, 3)
    assert "users (structure: 1; unique_sourced_id sourced_id: 2)" in outcome.message
    assert active(env, tables.users) == before


def test_a_held_file_is_not_approved_once_a_later_roster_applied(env, tmp_path):
    add_csv_district(env)
    with serve_small() as server:
        district = server.district
        assert load("c1", write_package(district, tmp_path / "day0.zip")).success
        cut = write_package(district, tmp_path / "cut.zip", quirks=CsvQuirks(truncate_users=0.5))
        held = load("c1", cut)
        assert held.exit_code == 4
        server.advance_day()
        assert load("c1", write_package(district, tmp_path / "day1.zip")).success
    total = int(held.message.split("--approve-deactivations ")[1].split("`")[0])
    with pytest.raises(BadInput, match="approving a held file now would apply an older roster"):
        load("c1", cut, approve_deactivations=total)


def test_a_package_named_by_url_loads(env, tmp_path):
    add_csv_district(env)
    with serve_small() as server:
        package = write_package(server.district, tmp_path / "day0.zip")
    outcome = load("c1", f"file://{package}")
    assert outcome.success, outcome.message
    assert active(env, tables.users) > 0
