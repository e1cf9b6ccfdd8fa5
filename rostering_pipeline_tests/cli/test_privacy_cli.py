from __future__ import annotations

import json
from pathlib import Path

import orjson
import sqlalchemy as sa
from click.testing import CliRunner

from rostering_pipeline import districts as registry
from rostering_pipeline import privacy
from rostering_pipeline.appdb import tables
from rostering_pipeline.cli import cli
from rostering_pipeline.errors import BadInput
from rostering_pipeline.preview import render
from rostering_pipeline.runner import instance as shared_instance

# the seeded districts, and the fixtures (engine, env, instance, store) they need
from rostering_pipeline_tests.test_privacy import (  # noqa: F401
    district_rows,
    engine,
    env,
    instance,
    secret_forms,
    seed,
    store,
)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(*args: str) -> str:
    """The one-line BadInput of a refused command (the console script prints it, exit 2)."""
    result = run(*args)
    assert isinstance(result.exception, BadInput), (result.output, result.exception)
    assert result.exception.exit_code == 2
    message = str(result.exception)
    assert "\n" not in message
    return message


def exported(key: str, out: Path) -> dict[str, bytes]:
    """Every file of `export KEY`, the manifest without its time stamp."""
    ok("export", key, "--out", str(out))
    files = {path.name: path.read_bytes() for path in out.iterdir()}
    manifest = json.loads(files["manifest.json"])
    del manifest["exported_at"]
    files["manifest.json"] = orjson.dumps(manifest)
    return files


def test_export_then_purge(engine, store, instance, tmp_path):  # noqa: F811 - see imports
    """Nothing of the purged district is left anywhere; the other one is untouched."""
    north, _ = (seed(engine, store, key, instance) for key in ("north", "south"))
    assert shared_instance().root_directory == instance.root_directory  # the CLI's instance

    out = tmp_path / "north"
    printed = ok("export", "north", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tables"]["users"]["rows"] == north.rows["users"] == 3
    assert f"exported 'north' (tables) to {out}: {sum(north.rows.values()) + 1} rows" in printed
    assert "  enrollments: 3" in printed
    for path in out.iterdir():
        assert not [s for s in secret_forms("north") if s in path.read_text()], path.name
    south_before = exported("south", tmp_path / "south-before")

    dry = ok("purge", "north")
    assert "nothing changed; add --yes" in dry
    assert "  users: 3 rows" in dry
    assert f"snapshot runs: 2 ({', '.join(north.snapshot_runs)})" in dry
    assert all(run_id in dry for run_id in north.dagster_runs)
    held = (
        "snapshot data key (wrapped by key k1), client secret (wrapped by key k1), "
        "webhook secret (wrapped by key k1)"
    )
    assert f"destroyed: {held}; status becomes purged" in dry
    assert district_rows(engine, north.district_id) == north.rows
    assert store.runs("north") == north.snapshot_runs
    assert len(privacy.district_dagster_runs(instance, "north")) == 2

    done = ok("purge", "north", "--yes")
    assert done.startswith("purged 'north': deleted rows: schools 3,")
    assert "snapshot runs: 2; Dagster runs: 2" in done
    assert f"destroyed {held}. Any copy of its snapshots left elsewhere is unreadable now" in done
    left = district_rows(engine, north.district_id)
    assert left == {name: 0 for name in left} | {"sync_runs": 1}
    with engine.connect() as conn:
        (record,) = conn.execute(
            sa.select(tables.sync_runs).where(tables.sync_runs.c.district_id == north.district_id)
        ).all()
    assert (record.mode, record.status, record.error) == ("purge", "purge", None)
    assert orjson.loads(record.counts)["deleted"] == north.rows
    assert "ada@" not in repr(record) and "Ada" not in repr(record)
    purged = registry.get_district(engine, "north")
    assert purged.status == "purged" and not purged.has_client_secret
    assert not purged.has_webhook_secret
    assert store.runs("north") == []
    assert privacy.district_dagster_runs(instance, "north") == []
    assert not instance.has_dynamic_partition("district", "north")
    assert exported("south", tmp_path / "south-after") == south_before
    assert len(privacy.district_dagster_runs(instance, "south")) == 2

    again = ok("purge", "north", "--yes")
    assert again.startswith("'north' was already purged; checked again")
    assert "already purged" in ok("purge", "north")
    assert "sync north --mode preview" in refused("preview", "north")


def test_export_refusals(engine, store, tmp_path):  # noqa: F811 - fixtures of test_privacy
    seed(engine, store, "north")
    used = tmp_path / "used"
    used.mkdir()
    (used / "x.csv").write_text("x")
    assert "already exists and is not an empty folder" in refused(
        "export", "north", "--out", str(used)
    )
    assert refused("export", "nowhere", "--out", str(tmp_path / "new")) == (
        "unknown district 'nowhere'"
    )
    assert not (tmp_path / "new").exists()
    result = run("export", "north")
    assert result.exit_code == 2 and "--out" in result.output  # click usage error


def test_purge_refusals_change_nothing(engine, store):  # noqa: F811 - fixtures of test_privacy
    north = seed(engine, store, "north")
    assert refused("purge", "nowhere", "--yes") == "unknown district 'nowhere'"
    assert refused("purge", "nowhere") == "unknown district 'nowhere'"
    assert district_rows(engine, north.district_id) == north.rows


def test_preview_prints_the_latest_report(engine, store):  # noqa: F811 - fixtures of test_privacy
    north = seed(engine, store, "north")
    with engine.connect() as conn:
        stored = privacy.latest_preview(conn, "north")

    printed = ok("preview", "north")

    assert printed.startswith("preview of 'north' from 2024-09-01T02:00:00+00:00\n\n")
    assert render(stored.report, first_sync=False) in printed
    assert "north High  [north-schools-0]" in printed
    # north is active: its preview is what a sync now would apply, not its first sync
    assert "A sync now would apply:\n  users: 2 inserted" in printed
    with engine.begin() as conn:
        conn.execute(
            tables.sync_runs.delete().where(tables.sync_runs.c.district_id == north.district_id)
        )
    assert refused("preview", "north") == (
        "district 'north' has no preview yet; run `rostering-pipeline sync north --mode preview`"
    )
    assert refused("preview", "nowhere") == "unknown district 'nowhere'"


def test_inventory_says_what_is_held_and_where_without_a_personal_value(
    engine,  # noqa: F811 - see imports
    store,  # noqa: F811
    instance,  # noqa: F811
    tmp_path,
):
    north = seed(engine, store, "north", instance)
    tables_out, package = tmp_path / "north-tables", tmp_path / "north.zip"
    ok("export", "north", "--out", str(tables_out))
    ok("export", "north", "--format", "oneroster-csv", "--out", str(package))

    held = ok("districts", "inventory", "north")

    assert held.startswith("what is held about district 'north' (North ISD), status active")
    assert "  users: 2 active, 1 deactivated" in held
    assert "  user_schools: 2 active, 0 deactivated" in held
    assert "  sync_runs: 2 record(s)" in held and "  snapshot_verdicts: 1 record(s)" in held
    assert f"snapshots ({store.root}/north): 2 run(s), 2 file(s)" in held
    assert "encrypted: yes (Parquet modular encryption, AES-GCM, 256-bit keys" in held
    assert "kept: the last 7 runs, at most 30 days" in held
    assert "  snapshot data key: held, wrapped by key k1" in held
    assert "  client secret: held, wrapped by key k1" in held
    assert f"Dagster instance: {len(north.dagster_runs)} run(s)" in held
    tables_rows = sum(north.rows.values()) + 1  # and the district's own row
    assert f": tables, {tables_rows} rows, to {tables_out}" in held
    assert f": oneroster-csv, 12 rows, to {package}" in held  # 2 active rows x 6 files
    assert "last purge: never" in held
    for personal in ("Ada", "ada@north.example.org", *secret_forms("north")):
        assert personal not in held

    ok("purge", "north", "--yes")
    after = ok("districts", "inventory", "north")

    assert "  users: 0 active, 0 deactivated" in after
    assert f"snapshots ({store.root}/north): none" in after
    assert "  snapshot data key: none" in after and "  client secret: none" in after
    assert "destroyed: snapshot data key (wrapped by key k1), client secret (wrapped" in after
    assert f"to {package}" in after  # the record of an export outlives the purge
    assert "Dagster instance: 0 run(s)" in after
