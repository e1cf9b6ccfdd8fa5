"""The CSV package reader against packages written by the local provider (which shares no code
with it) and against hand-made files shaped like real ones: every quirk loads to the same frames
as a plain package; every unreadable package fails with one line naming file, row and column."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from rostering_pipeline.devserver import DistrictSpec
from rostering_pipeline.devserver.csv_files import CsvQuirks, parse_csv_quirks, write_package
from rostering_pipeline.devserver.synthetic import District, generate
from rostering_pipeline.oneroster.csv_package import PackageError, open_package
from rostering_pipeline.oneroster.entities import ENTITIES

SPEC = DistrictSpec(seed=5, schools=2, students=120)
# Columns a quirk changes by design, per quirk: the rest of the frames must be identical.
CHANGED_BY = {
    "blank_status": {"source_modified_at"},
    "tricky_text": {"title", "location"},
}


@pytest.fixture(scope="module")
def district() -> District:
    return generate(SPEC)


def frames(path: Path, timezone: str = "UTC") -> dict[str, pd.DataFrame]:
    with open_package(path) as package:
        return {
            name: package.fetch(entity, timezone=timezone).frame
            for name, entity in ENTITIES.items()
        }


@pytest.fixture(scope="module", params=["1.1", "1.2"])
def plain(request, district, tmp_path_factory) -> tuple[str, dict[str, pd.DataFrame]]:
    out = tmp_path_factory.mktemp("plain") / "plain.zip"
    write_package(district, out, version=request.param)
    return request.param, frames(out)


def test_a_plain_package_reads_every_record_of_the_district(district, plain):
    version, read = plain
    assert len(read["enrollments"]) == len(district.tables["enrollments"])
    assert len(read["classes"]) == len(district.tables["classes"])
    stored_users = [u for u in district.tables["users"].records if u.role not in ("guardian",)]
    assert set(read["users"]["sourced_id"]) <= {u.sourcedId for u in stored_users}
    for name, frame in read.items():
        assert frame["invalid_fields"].isna().all(), name
        assert list(frame.columns) == list(ENTITIES[name].all_columns), name
    classes = read["classes"].set_index("sourced_id")
    record = district.tables["classes"].records[0]
    assert classes.loc[record.sourcedId, "term_sourced_ids"].count('"') == 2 * len(record.terms)
    if version == "1.2":  # school links and their roles come from roles.csv
        assert (read["users"]["school_roles"] != "[]").all()


@pytest.mark.parametrize(
    "knob",
    [
        "bom",
        "crlf",
        "shuffled_columns",
        "blank_status",
        "bool_style=upper",
        "bool_style=digit",
        "slashed_dates",
        "tricky_text",
        "in_folder",
    ],
)
def test_each_quirk_of_real_files_loads_to_the_same_frames(knob, district, plain, tmp_path):
    version, expected = plain
    out = write_package(
        district, tmp_path / "quirky.zip", version=version, quirks=parse_csv_quirks((knob,))
    )
    read = frames(out)
    changed = CHANGED_BY.get(knob.partition("=")[0], set())
    for name, frame in read.items():
        kept = [c for c in frame.columns if c not in changed]
        pd.testing.assert_frame_equal(frame[kept], expected[name][kept], obj=f"{knob} {name}")
    if knob == "blank_status":  # blank status is active, a blank time unknown
        assert (read["users"]["status"] == "active").all()
        assert read["users"]["source_modified_at"].isna().all()
    if knob == "tricky_text":  # commas, quotes and newlines inside quoted fields, kept exactly
        assert read["classes"]["location"].str.contains('"A"\nwing', regex=False).all()


def test_slashed_dates_are_month_day_year(tmp_path):
    package = _package(
        tmp_path,
        {
            "academicSessions.csv": "sourcedId,title,type,startDate,endDate,schoolYear\r\n"
            "t1,Fall,term,8/1/2026,12/18/2026,2027\r\n",
        },
        academicSessions="bulk",
    )
    with open_package(package) as opened:
        frame = opened.fetch(ENTITIES["academic_sessions"]).frame
    assert str(frame.loc[0, "start_date"]) == "2026-08-01"
    assert str(frame.loc[0, "end_date"]) == "2026-12-18"


def test_a_date_only_last_modified_is_local_to_the_district(tmp_path):
    package = _package(
        tmp_path,
        {"orgs.csv": "sourcedId,status,dateLastModified,name,type\ns1,active,8/1/2026,A,school\n"},
        orgs="bulk",
    )
    with open_package(package) as opened:
        frame = opened.fetch(ENTITIES["orgs"], timezone="America/Chicago").frame
    assert frame.loc[0, "source_modified_at"] == pd.Timestamp("2026-08-01 05:00", tz="UTC")


def test_vendor_columns_and_unknown_files_are_never_read(tmp_path):
    package = _package(
        tmp_path,
        {
            "users.csv": "role,sourcedId,orgSourcedIds,givenName,familyName,password,ssn\n"
            'Student,u1,"s1,s2",Ann,Lee,hunter2,123-45-6789\n',
            "demographics.csv": "sourcedId,birthDate\nu1,2010-01-01\n",
        },
        users="bulk",
        demographics="bulk",
    )
    with open_package(package) as opened:
        frame = opened.fetch(ENTITIES["users"]).frame
    assert frame.loc[0, "org_sourced_ids"] == '["s1","s2"]'
    assert frame.loc[0, "role"] == "student"  # case tolerated as for REST
    assert "hunter2" not in repr(frame.to_dict()) and "123-45-6789" not in repr(frame.to_dict())


def test_a_zip_inside_a_folder_and_a_folder_of_files_are_packages(district, tmp_path):
    write_package(district, tmp_path / "drop" / "roster.zip")
    with open_package(tmp_path / "drop") as package:
        assert package.manifest.version == "1.1"
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(tmp_path / "drop" / "roster.zip") as archive:
        archive.extractall(folder)
    assert len(frames(folder)["enrollments"]) == len(district.tables["enrollments"])


@pytest.mark.parametrize(
    ("files", "modes", "message"),
    [
        ({}, None, "no manifest.csv"),
        ({"users.csv": "sourcedId\n"}, {"users": "bulk"}, "users.csv, row 1: missing required "),
        ({}, {"users": "bulk"}, "says file.users=bulk, but the package has no users.csv"),
        (
            {"orgs.csv": "sourcedId,name,type\ns1,A,school,extra\n"},
            {"orgs": "bulk"},
            "orgs.csv, row 2: 4 fields where the header has 3",
        ),
        (
            {"orgs.csv": 'sourcedId,name,type\ns1,"A,school\n'},
            {"orgs": "bulk"},
            "orgs.csv, row 2: unexpected end of data",
        ),
        (
            {"orgs.csv": b"sourcedId,name,type\ns1,\xff\xfe,school\n"},
            {"orgs": "bulk"},
            "orgs.csv, row 2, column name: not UTF-8 text",
        ),
        ({}, {"users": "sometimes"}, "file.users is 'sometimes'"),
        (
            {"users.csv": "sourcedId,givenName,familyName\n"},
            {"users": "bulk", "roles": "absent", "version": "1.2"},
            "1.2 users need roles.csv",
        ),
    ],
)
def test_an_unreadable_package_fails_with_one_line_naming_where(tmp_path, files, modes, message):
    manifest = modes is not None
    modes = dict(modes or {})
    version = modes.pop("version", "1.1")
    package = _package(tmp_path, files, manifest=manifest, version=version, **modes)
    with pytest.raises(PackageError, match=None) as caught, open_package(package) as opened:
        for entity in ENTITIES.values():
            opened.fetch(entity)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "roster.zip"
    path.write_text("<html>Session expired</html>")
    with pytest.raises(PackageError, match=r"roster\.zip: not a zip file"), open_package(path):
        pass
    with pytest.raises(PackageError, match="no such file"), open_package(tmp_path / "nope.zip"):
        pass


def test_an_absent_file_reads_as_no_rows(district, tmp_path):
    out = write_package(district, tmp_path / "p.zip", quirks=CsvQuirks(no_courses=True))
    with open_package(out) as package:
        assert package.mode_of(ENTITIES["courses"]) == "absent"
        assert package.fetch(ENTITIES["courses"]).frame.empty
        assert not package.fetch(ENTITIES["classes"]).frame["course_sourced_id"].isna().any()


def _package(
    tmp_path: Path,
    files: dict[str, str | bytes],
    *,
    manifest: bool = True,
    version: str = "1.1",
    **modes: str,
) -> Path:
    path = tmp_path / "package.zip"
    with zipfile.ZipFile(path, "w") as archive:
        if manifest:
            text = io.StringIO()
            text.write(f"propertyName,value\nmanifest.version,1.0\noneroster.version,{version}\n")
            for name, mode in modes.items():
                text.write(f"file.{name},{mode}\n")
            archive.writestr("manifest.csv", text.getvalue())
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def test_manifest_names_are_read_in_any_case_and_once(tmp_path):
    orgs = {"orgs.csv": "sourcedId,name,type\ns1,A,school\n"}
    package = _package(tmp_path, orgs, Orgs="BULK")
    with open_package(package) as opened:
        assert opened.mode_of(ENTITIES["orgs"]) == "bulk"
        assert len(opened.fetch(ENTITIES["orgs"]).frame) == 1
    twice = tmp_path / "twice"
    twice.mkdir()
    path = _package(twice, orgs, orgs="bulk", ORGS="absent")
    with pytest.raises(PackageError, match=r"file\.orgs is given twice"), open_package(path):
        pass


def test_a_1_2_delta_of_users_or_roles_is_refused_rather_than_guessed(tmp_path):
    """A delta roles.csv lists only changed roles: a user's other schools are not there."""
    files = {
        "users.csv": "sourcedId,givenName,familyName\nu1,Ann,Lee\n",
        "roles.csv": "userSourcedId,roleType,role,orgSourcedId\nu2,primary,student,s1\n",
    }
    package = _package(tmp_path, files, version="1.2", users="delta", roles="delta")
    refused = pytest.raises(PackageError, match=r"users\.csv and roles\.csv as delta files")
    with refused, open_package(package):
        pass


def test_a_damaged_zip_member_is_one_line(tmp_path):
    path = tmp_path / "damaged.zip"
    body = "sourcedId,name,type\n" + "".join(f"s{i},School {i},school\n" for i in range(200))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        manifest = "propertyName,value\noneroster.version,1.1\nfile.orgs,bulk\n"
        archive.writestr("manifest.csv", manifest)
        archive.writestr("orgs.csv", body)
    data = bytearray(path.read_bytes())
    at = data.index(b"School 150")
    data[at : at + 6] = b"Scho0l"  # the stored bytes no longer match their CRC
    path.write_bytes(bytes(data))
    refused = pytest.raises(PackageError, match=r"orgs\.csv: cannot be read from the zip")
    with refused, open_package(path) as opened:
        opened.fetch(ENTITIES["orgs"])
