"""The `csv_inbox` sensor end to end: files dropped in the inbox become runs of `roster_sync`
(executed here as the daemon would launch them, one per run key), then move to processed/ or
failed/ with their reason. SQLite only, as the other CSV tests."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from rostering_pipeline.appdb import tables
from rostering_pipeline.defs.csv_inbox import SENSOR_NAME, csv_inbox
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.devserver import DistrictSpec
from rostering_pipeline.devserver.csv_files import CsvQuirks, write_package
from rostering_pipeline.devserver.daily import advance_day
from rostering_pipeline.devserver.synthetic import generate
from rostering_pipeline.districts import add_district, set_status
from rostering_pipeline.runner import instance, sync_in_process
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline_tests.defs.test_csv_districts import add_csv_district
from rostering_pipeline_tests.e2e import active


@pytest.fixture
def app_db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def inbox(env, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "inbox"
    monkeypatch.setenv("ROSTERING_CSV_INBOX", str(folder))
    add_csv_district(env)
    (folder / "c1").mkdir(parents=True)
    return folder / "c1"


class Daemon:
    """Ticks the sensor with its cursor and executes each run it asks for, once per run key."""

    def __init__(self, engine) -> None:
        self.resources = {"app_db": AppDatabase(url=engine.url.render_as_string(False))}
        self.cursor: str | None = None
        self.launched: list[str] = []

    def tick(self) -> list[dg.RunRequest]:
        dagster = instance()
        context = dg.build_sensor_context(
            instance=dagster, cursor=self.cursor, resources=self.resources
        )
        result = csv_inbox(context)
        self.cursor = result.cursor
        for added in result.dynamic_partitions_requests or ():
            dagster.add_dynamic_partitions(added.partitions_def_name, added.partition_keys)
        for request in result.run_requests:
            tags = {"dagster/run_key": request.run_key, "dagster/sensor_name": SENSOR_NAME}
            if dagster.get_run_records(dg.RunsFilter(tags=tags), limit=1):
                continue
            from rostering_pipeline.definitions import defs

            defs.resolve_job_def("roster_sync").execute_in_process(
                instance=dagster,
                partition_key=request.partition_key,
                run_config=request.run_config,
                tags={**request.tags, **tags},
                raise_on_error=False,
            )
            self.launched.append(request.run_key)
        return result.run_requests


def drop(district, folder: Path, name: str, age_s: int = 0, **options) -> Path:
    """A package written elsewhere, then moved in whole (as a mover does), `age_s` old."""
    staged = write_package(district, folder.parent / f".{name}", **options)
    target = folder / name
    staged.rename(target)
    stamp = time.time() - age_s
    os.utime(target, (stamp, stamp))
    return target


def test_files_load_oldest_first_once_settled_then_move_with_their_reason(env, inbox):
    district = generate(DistrictSpec(seed=3, schools=3, students=300))
    drop(district, inbox, "day0.zip", age_s=60)
    advance_day(district)
    drop(district, inbox, "day1.zip", age_s=30)
    daemon = Daemon(env)

    assert daemon.tick() == []  # first seen: sizes must hold for a tick
    first = daemon.tick()
    assert [r.run_key.split(":")[1] for r in first] == ["day0.zip"]
    assert first[0].tags["rostering/trigger"] == SENSOR_NAME
    assert daemon.tick() and len(daemon.launched) == 2  # day0 settled, then day1 at once
    daemon.tick()
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
        "day0.zip",
        "day0.zip.reason.txt",
        "day1.zip",
        "day1.zip.reason.txt",
    ]
    assert "loaded by run" in (inbox / "processed" / "day1.zip.reason.txt").read_text()
    students = sum(
        u.role == "student" and u.status == "active" for u in district.tables["users"].records
    )
    assert active(env, tables.users, role="student") == students
    assert daemon.tick() == []  # nothing left, nothing twice

    # the same file delivered again: never a second run
    shutil.copy(inbox / "processed" / "day1.zip", inbox / "day1.zip")
    daemon.tick()
    assert daemon.tick() == []
    assert len(daemon.launched) == 2
    (again,) = (inbox / "processed").glob("*-day1.zip.reason.txt")  # a name taken: stamped
    assert "was loaded by run" in again.read_text()


def test_a_file_still_being_written_waits(env, inbox):
    district = generate(DistrictSpec(seed=3, schools=3, students=300))
    package = write_package(district, inbox.parent / "whole.zip")
    content = package.read_bytes()
    growing = inbox / "growing.zip"
    growing.write_bytes(content[: len(content) // 2])
    daemon = Daemon(env)
    assert daemon.tick() == []
    growing.write_bytes(content)  # the upload goes on
    assert daemon.tick() == []
    assert len(daemon.tick()) == 1
    daemon.tick()
    assert (inbox / "processed" / "growing.zip").exists()


def test_a_bad_file_and_a_held_file_go_to_failed_with_their_reason(env, inbox, tmp_path):
    district = generate(DistrictSpec(seed=3, schools=3, students=300))
    (inbox / "notes.zip").write_text("<html>Session expired</html>")
    daemon = Daemon(env)
    daemon.tick(), daemon.tick(), daemon.tick()
    reason = (inbox / "failed" / "notes.zip.reason.txt").read_text()
    assert "notes.zip: not a zip file" in reason and "exit code 2" in reason
    assert active(env, tables.users) == 0

    drop(district, inbox, "day0.zip")
    daemon.tick(), daemon.tick(), daemon.tick()
    drop(district, inbox, "cut.zip", quirks=CsvQuirks(truncate_users=0.5))
    daemon.tick(), daemon.tick(), daemon.tick()
    held = (inbox / "failed" / "cut.zip").resolve()
    reason = (inbox / "failed" / "cut.zip.reason.txt").read_text()
    assert "held by the deactivation guard" in reason and "exit code 4" in reason
    assert f"import c1 {held} --approve-deactivations" in reason  # where the file now is
    before = active(env, tables.users)
    total = int(reason.split("--approve-deactivations ")[1].split("`")[0])
    approved = sync_in_process("c1", package=str(held), approve_deactivations=total)
    assert approved.success, approved.message
    assert active(env, tables.users) < before


def test_files_of_paused_and_rest_districts_wait(env, inbox):
    district = generate(DistrictSpec(seed=3, schools=3, students=300))
    set_status(env, "c1", "paused")
    drop(district, inbox, "day0.zip")
    add_district(
        env,
        key="r1",
        name="REST",
        base_url="https://r1.example.org",
        client_id="c",
        token_url="https://r1.example.org/token",
        client_secret="s",
        box=SecretBox.from_env(),
    )
    (inbox.parent / "r1").mkdir()
    drop(district, inbox.parent / "r1", "day0.zip")
    daemon = Daemon(env)
    daemon.tick(), daemon.tick()
    assert daemon.launched == []
    assert (inbox / "day0.zip").exists() and (inbox.parent / "r1" / "day0.zip").exists()
    set_status(env, "c1", "active")
    daemon.tick()
    assert len(daemon.launched) == 1


def test_a_redelivered_failed_file_and_a_file_replaced_during_its_run(env, inbox):
    district = generate(DistrictSpec(seed=3, schools=3, students=300))
    daemon = Daemon(env)
    (inbox / "notes.zip").write_text("<html>Session expired</html>")
    daemon.tick(), daemon.tick(), daemon.tick()
    shutil.copy(inbox / "failed" / "notes.zip", inbox / "notes.zip")  # sent again, unchanged
    daemon.tick(), daemon.tick()
    assert len(daemon.launched) == 1  # never run twice...
    (again,) = (inbox / "failed").glob("*-notes.zip.reason.txt")  # ...and not called loaded
    assert "failed in run" in again.read_text()

    drop(district, inbox, "nightly.zip")
    daemon.tick(), daemon.tick()  # nightly.zip's run happens in this tick
    advance_day(district)
    drop(district, inbox, "nightly.zip")  # the next night's file, under the same name
    daemon.tick()  # the first run's file is gone: the new one is not moved in its place
    assert (inbox / "nightly.zip").exists()
    assert not (inbox / "processed" / "nightly.zip").exists()
    daemon.tick()
    assert len(daemon.launched) == 3  # the replacement made its own run
    daemon.tick()
    assert (inbox / "processed" / "nightly.zip").exists()


def test_one_districts_trouble_does_not_stall_the_others(env, inbox):
    district = generate(DistrictSpec(seed=3, schools=3, students=300))
    add_csv_district(env, "c0")  # listed before c1
    (inbox.parent / "c0").write_text("a file where the district's folder should be")
    drop(district, inbox, "day0.zip")
    daemon = Daemon(env)
    daemon.tick(), daemon.tick()
    assert len(daemon.launched) == 1
