"""`rostering-pipeline import` as an operator runs it: the installed script, a run launched
through the Dagster instance, the documented exit codes and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rostering_pipeline.devserver import DistrictSpec
from rostering_pipeline.devserver.csv_files import CsvQuirks, write_package
from rostering_pipeline.devserver.synthetic import generate
from rostering_pipeline.secrets import new_key_entry

SCRIPT = Path(sys.executable).with_name("rostering-pipeline")


@pytest.fixture
def script(data_dir):
    env = os.environ | {"ROSTERING_SECRET_KEYS": new_key_entry("k1")}

    def run(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300
        )
        return done.returncode, done.stdout, done.stderr

    assert run("db", "upgrade")[0] == 0
    assert run("districts", "add", "lake", "--name", "Lakeside", "--source", "csv")[0] == 0
    return run


def test_import_exit_codes_held_then_approved(script, tmp_path):
    district = generate(DistrictSpec(seed=3, schools=3, students=300))
    not_a_zip = tmp_path / "export.zip"
    not_a_zip.write_text("<html>Session expired</html>")
    code, _, err = script("import", "lake", str(not_a_zip))
    assert (code, err) == (2, "error: export.zip: not a zip file (nor a folder of CSV files)\n")

    day0 = write_package(district, tmp_path / "day0.zip")
    code, out, err = script("import", "lake", str(day0))
    assert code == 0, err
    assert out.startswith("imported day0.zip into 'lake' (full), run ")
    assert "users: " in out and "inserted" in out

    cut = write_package(district, tmp_path / "cut.zip", quirks=CsvQuirks(truncate_users=0.5))
    code, _, err = script("import", "lake", str(cut))
    assert code == 4 and len(err.splitlines()) == 1
    assert f"`rostering-pipeline import lake {cut} --approve-deactivations " in err
    total = err.split("--approve-deactivations ")[1].split("`")[0]
    code, out, err = script("import", "lake", str(cut), "--approve-deactivations", total)
    assert code == 0, err
    assert "deactivated" in out

    code, _, err = script("sync", "lake")
    assert code == 2 and "loads OneRoster CSV files: run `rostering-pipeline import lake" in err
