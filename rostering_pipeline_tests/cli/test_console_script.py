"""The installed `rostering-pipeline` script: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rostering_pipeline.secrets import new_key_entry

SCRIPT = Path(sys.executable).with_name("rostering-pipeline")
SECRET = "cl1ent-s3cret"
ADD = [
    "districts", "add", "north", "--name", "North", "--client-id", "c",
    "--token-url", "https://north.example.org/oauth/token",
]  # fmt: skip


@pytest.fixture
def script(data_dir):
    env = os.environ | {"ROSTERING_SECRET_KEYS": new_key_entry("k1")}

    def run(*args: str, input: str = "", unset: tuple[str, ...] = ()) -> tuple[int, str, str]:
        done = subprocess.run(
            [str(SCRIPT), *args],
            input=input,
            capture_output=True,
            text=True,
            env={name: value for name, value in env.items() if name not in unset},
            timeout=60,
        )
        return done.returncode, done.stdout, done.stderr

    return run


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_exit_codes_and_one_line_errors(script):
    assert "database not initialised" in _one_line_error(script("districts", "list")[2])
    assert script("db", "upgrade")[0] == 0

    code, out, err = script(*ADD, "--base-url", "https://north.example.org", input=SECRET)
    assert (code, err) == (0, "")
    assert SECRET not in out

    code, _, err = script(*ADD, "--base-url", "http://north.example.org", input=SECRET)
    assert code == 2
    assert "plain http://" in _one_line_error(err)

    code, _, err = script("districts", "show", "nowhere")
    assert (code, _one_line_error(err)) == (2, "error: unknown district 'nowhere'")

    code, _, err = script("districts", "rotate-secrets", unset=("ROSTERING_SECRET_KEYS",))
    assert code == 2
    assert "ROSTERING_SECRET_KEYS is not set" in _one_line_error(err)

    code, _, err = script("districts", "add", "south", "--auth", "basic")
    assert code == 2
    assert "'basic' is not one of" in _one_line_error(err)

    code, out, err = script("districts", "show", "north")
    assert code == 0 and SECRET not in out + err
