"""The inbox on pyarrow's file systems: a local folder, and the same through a URL (the way an
object store is named), with packages read from where the inbox says they are."""

from __future__ import annotations

import hashlib
import os

import pytest

from rostering_pipeline.devserver import DistrictSpec
from rostering_pipeline.devserver.csv_files import write_package
from rostering_pipeline.devserver.synthetic import generate
from rostering_pipeline.inbox import Inbox
from rostering_pipeline.oneroster.csv_package import PackageError, open_package


@pytest.mark.parametrize("as_url", [False, True])
def test_waiting_files_oldest_first_then_settled_with_a_reason(tmp_path, as_url):
    folder = tmp_path / "inbox" / "c1"
    folder.mkdir(parents=True)
    district = generate(DistrictSpec(seed=2, schools=1, students=40))
    newer = write_package(district, folder / "a-newer.zip")
    older = write_package(district, folder / "b-older.zip")
    os.utime(older, (1_800_000_000, 1_800_000_000))
    os.utime(newer, (1_800_000_100, 1_800_000_100))
    (folder / ".partial-upload").write_text("x")
    (folder / "processed").mkdir()
    inbox = Inbox(f"file://{tmp_path / 'inbox'}" if as_url else str(tmp_path / "inbox"))

    waiting = inbox.files("c1")
    assert [f.name for f in waiting] == ["b-older.zip", "a-newer.zip"]
    assert waiting[0].size == older.stat().st_size
    assert inbox.checksum(waiting[0]) == hashlib.sha256(older.read_bytes()).hexdigest()
    assert inbox.files("nobody") == []
    with open_package(waiting[0].location) as package:  # read where the inbox says it is
        assert package.manifest.version == "1.1"

    moved = inbox.settle(waiting[0], succeeded=False)
    inbox.write_reason(moved, "users.csv, row 2: 4 fields where the header has 3")
    assert moved.endswith("c1/failed/b-older.zip")
    assert (folder / "failed" / "b-older.zip.reason.txt").read_text().startswith("users.csv")
    assert not inbox.exists(waiting[0]) and inbox.exists(waiting[1])
    write_package(district, folder / "b-older.zip")  # the same name again: kept apart
    (redelivered,) = [f for f in inbox.files("c1") if f.name == "b-older.zip"]
    again = inbox.settle(redelivered, succeeded=False)
    assert again != moved and again.endswith("-b-older.zip")


def test_a_missing_remote_package_is_one_line(tmp_path):
    with (
        pytest.raises(PackageError, match="no such file"),
        open_package(f"file://{tmp_path}/nowhere.zip"),
    ):
        pass
