from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from rostering_pipeline import dispatch
from rostering_pipeline import districts as registry
from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.engine import head_revision, make_engine
from rostering_pipeline.cli import cli
from rostering_pipeline.errors import BadInput
from rostering_pipeline.secrets import SecretBox, new_key_entry

SECRET = "cl1ent-s3cret"
K1 = new_key_entry("k1")
NOW = datetime(2024, 9, 1, 2, 0, tzinfo=UTC)
ADD = [
    "districts", "add", "north",
    "--name", "North ISD",
    "--base-url", "https://north.example.org/ims/oneroster/v1p1",
    "--client-id", "north-client",
    "--token-url", "https://north.example.org/oauth/token",
]  # fmt: skip


@pytest.fixture
def env(data_dir, monkeypatch):
    """A data folder with an upgraded SQLite app DB and one encryption key."""
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", K1)
    assert run("db", "upgrade").exit_code == 0
    return data_dir


@pytest.fixture
def engine(env):
    engine = make_engine()
    yield engine
    engine.dispose()


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(*args: str, input: str | None = None) -> str:
    """The BadInput message of a refused command (the console script prints it, exit 2)."""
    result = run(*args, input=input)
    assert isinstance(result.exception, BadInput), (result.output, result.exception)
    message = str(result.exception)
    assert "\n" not in message
    return message


def dump(engine) -> str:
    with engine.connect() as conn:
        return repr([conn.execute(sa.select(t)).all() for t in tables.metadata.sorted_tables])


def test_db_upgrade_reports_the_revision_and_can_repeat(data_dir):
    first = ok("db", "upgrade")
    assert ok("db", "upgrade") == first
    assert first.strip().endswith(f"is at revision {head_revision()}")
    assert str(data_dir / "app.db") in first


def test_commands_refuse_a_database_never_upgraded(data_dir):
    assert refused("districts", "list") == (
        "database not initialised; run `rostering-pipeline db upgrade`"
    )


def test_add_with_the_secret_on_stdin(engine):
    out = ok(*ADD, input=f"{SECRET}\n")

    assert "added district 'north' (active, rest)" in out
    district = registry.get_district(engine, "north")
    assert registry.client_secret(district, SecretBox.from_env()) == SECRET
    assert district.base_url == "https://north.example.org/ims/oneroster/v1p1"
    assert SECRET not in dump(engine)


def test_add_with_every_option(engine, monkeypatch):
    monkeypatch.setenv("NORTH_SECRET", SECRET)
    monkeypatch.setenv("NORTH_WEBHOOK", "hook-secret")
    ok(
        *ADD,
        "--client-secret-env", "NORTH_SECRET",
        "--webhook-secret-env", "NORTH_WEBHOOK",
        "--auth", "oauth1",
        "--scope", "roster",
        "--status", "preview",
        "--schedule", "15 1 * * *",
        "--delta-schedule", "0 * * * *",
        "--timezone", "America/Denver",
        "--schools", "s1,s2",
        "--max-deactivation-ratio", "0.2",
        "--min-deactivation-rows", "50",
        "--page-size", "250",
        "--concurrency", "2",
        "--include-guardians",
        "--blackout", "2024-06-10..2024-08-15",
    )  # fmt: skip

    d = registry.get_district(engine, "north")
    box = SecretBox.from_env()
    assert (d.auth_method, d.scope, d.status) == ("oauth1", "roster", "preview")
    assert (d.schedule, d.delta_schedule, d.timezone) == (
        "15 1 * * *",
        "0 * * * *",
        "America/Denver",
    )
    assert d.school_allow_list == ("s1", "s2")
    assert (d.max_deactivation_ratio, d.min_deactivation_rows) == (0.2, 50)
    assert (d.page_size, d.concurrency, d.include_guardians) == (250, 2, True)
    assert (str(d.blackout_start), str(d.blackout_end)) == ("2024-06-10", "2024-08-15")
    assert registry.client_secret(d, box) == SECRET
    assert registry.webhook_secret(d, box) == "hook-secret"


@pytest.mark.parametrize(
    ("args", "input", "message"),
    [
        (["--base-url", "north.example.org"], SECRET, "is not an http(s) URL"),
        (["--base-url", "http://north.example.org"], SECRET, "plain http:// for a non-loopback"),
        (["--client-secret-env", "NOT_SET_ANYWHERE"], None, "NOT_SET_ANYWHERE (the client secret)"),
        ([], "", "no client secret: pipe it on stdin"),
        (["--timezone", "Nowhere/Else"], SECRET, "unknown timezone 'Nowhere/Else'"),
        (["--blackout", "2024-08-01"], SECRET, "is not YYYY-MM-DD..YYYY-MM-DD"),
        (["--schedule", "nightly"], SECRET, "is not a five-field cron"),
        (["--page-size", "0"], SECRET, "page size 0 must be"),
    ],
)
def test_add_refuses_bad_input_and_changes_nothing(engine, args, input, message):
    before = dump(engine)
    assert message in refused(*ADD, *args, input=input)
    assert dump(engine) == before


def test_add_refuses_a_duplicate_key_and_a_bad_key(engine):
    ok(*ADD, input=SECRET)
    before = dump(engine)
    assert refused(*ADD, input=SECRET) == "district 'north' already exists"
    assert "district key 'North!' must be" in refused(
        "districts", "add", "North!", *ADD[3:], input=SECRET
    )
    assert dump(engine) == before


def test_add_without_keys_names_the_variable(engine, monkeypatch):
    monkeypatch.delenv("ROSTERING_SECRET_KEYS")
    assert "ROSTERING_SECRET_KEYS is not set" in refused(*ADD, input=SECRET)
    assert registry.list_districts(engine) == []


def test_wrong_auth_is_a_usage_error():
    result = run(*ADD, "--auth", "basic", input=SECRET)
    assert result.exit_code == 2
    assert "'basic' is not one of 'oauth2', 'oauth1'" in result.stderr


def test_update_changes_only_the_given_options(engine, monkeypatch):
    ok(*ADD, "--schools", "s1", "--blackout", "2024-06-10..2024-08-15", input=SECRET)
    before = registry.get_district(engine, "north")

    ok("districts", "update", "north", "--page-size", "50", "--schools", "", "--blackout", "")

    after = registry.get_district(engine, "north")
    assert after.page_size == 50
    assert after.school_allow_list is None and after.blackout_start is None
    assert (after.name, after.schedule, after.client_secret_ciphertext) == (
        before.name,
        before.schedule,
        before.client_secret_ciphertext,
    )
    assert refused("districts", "update", "north") == "nothing to change: give at least one option"
    assert refused("districts", "update", "south", "--page-size", "5") == "unknown district 'south'"
    assert "token URL" in refused("districts", "update", "north", "--token-url", "")


def test_update_credentials_and_webhook_secret_in_one_go(engine, monkeypatch):
    ok(*ADD, input=SECRET)
    registry.set_credentials_ok(engine, "north", False)
    monkeypatch.setenv("NEW_SECRET", "new-secret")
    monkeypatch.setenv("HOOK", "hook")

    ok(
        "districts", "update", "north", "--client-id", "new-id",
        "--client-secret-env", "NEW_SECRET", "--webhook-secret-env", "HOOK", "--name", "N",
    )  # fmt: skip

    d = registry.get_district(engine, "north")
    assert (d.client_id, d.name, d.credentials_ok) == ("new-id", "N", None)
    assert registry.client_secret(d, SecretBox.from_env()) == "new-secret"
    assert registry.webhook_secret(d, SecretBox.from_env()) == "hook"


def test_update_moving_the_token_url_to_another_host_needs_the_secret(engine, monkeypatch):
    ok(*ADD, input=SECRET)
    before = dump(engine)
    move = ("districts", "update", "north", "--token-url", "https://idp.elsewhere.example/token")

    assert refused(*move) == (
        "the client secret of 'north' is sent to https://north.example.org; moving it to "
        "https://idp.elsewhere.example needs the secret given again in the same command "
        "(--client-secret-env VAR)"
    )
    assert dump(engine) == before

    monkeypatch.setenv("NEW_SECRET", "secret-for-the-new-idp")
    ok(*move, "--client-secret-env", "NEW_SECRET")
    moved = registry.get_district(engine, "north")
    assert moved.token_url == "https://idp.elsewhere.example/token"
    assert registry.client_secret(moved, SecretBox.from_env()) == "secret-for-the-new-idp"


def test_credentials_flow_rejected_then_fixed(engine):
    ok(*ADD, input=SECRET)
    registry.record_outcome(
        engine, "north", succeeded=False, error="credentials rejected", error_kind="credentials",
        at=NOW,
    )  # fmt: skip
    assert "north  active  rejected" in ok("districts", "list")

    out = ok("districts", "set-credentials", "north", "--client-id", "c2", input="fixed\n")

    assert "credentials of 'north' replaced" in out
    d = registry.get_district(engine, "north")
    assert (d.client_id, d.credentials_ok) == ("c2", None)
    assert registry.client_secret(d, SecretBox.from_env()) == "fixed"
    assert "north  active  untested" in ok("districts", "list")
    assert "no client secret" in refused("districts", "set-credentials", "north", input="")
    assert refused("districts", "set-credentials", "south", input="x") == "unknown district 'south'"


def _held_run(engine, key: str) -> None:
    held = {"users": {"would_deactivate": 300, "active": 1000, "sample_ids": ["u1", "u2"]}}
    with engine.begin() as conn:
        district_id = registry.get_district(conn, key).id
        conn.execute(
            tables.sync_runs.insert().values(
                district_id=district_id, mode="full", started_at=NOW, status="held",
                held=json.dumps(held),
            )
        )  # fmt: skip


def test_list_and_show_give_state_and_never_a_secret(engine):
    ok(*ADD, input=SECRET)
    ok(*ADD[:2], "south", *ADD[3:], "--status", "preview", input=SECRET)
    registry.record_outcome(
        engine, "north", succeeded=False, error="provider down", error_kind="provider", at=NOW
    )
    _held_run(engine, "north")
    ciphertext = registry.get_district(engine, "north").client_secret_ciphertext

    listing = ok("districts", "list")
    assert listing.splitlines()[0].split()[-4:] == ["NEXT", "FULL", "NEXT", "DELTA"]
    north, south = (
        re.sub(r"\d{4}-\d\d-\d\d 02:00 UTC", "<day> 02:00 UTC", line)
        for line in listing.splitlines()[1:]
    )
    assert north == (
        "north  active   untested     never         2024-09-01T02:00:00+00:00 (provider)  #1"
        "         <day> 02:00 UTC  -"
    )
    assert south == (
        "south  preview  untested     never         -                                     -"
        "          <day> 02:00 UTC  -"
    )
    text = ok("districts", "show", "north")
    assert "client secret set, key k1" in text
    assert "last error: 2024-09-01T02:00:00+00:00 [provider] provider down" in text
    assert "users would lose 300 of 1000 active rows" in text
    assert "--approve-deactivations 300" in text
    shown = json.loads(ok("districts", "show", "north", "--json"))
    assert shown["client_secret_key_id"] == "k1" and shown["has_client_secret"] is True
    assert shown["held_sync"]["held"]["users"]["would_deactivate"] == 300
    listed = json.loads(ok("districts", "list", "--json"))
    assert [d["key"] for d in listed] == ["north", "south"]
    for output in (listing, text, json.dumps(shown), json.dumps(listed)):
        assert SECRET not in output and ciphertext not in output
    assert refused("districts", "show", "nowhere") == "unknown district 'nowhere'"
    ok("districts", "update", "north", "--max-deactivation-ratio", "0.125")
    assert "more than 12.5% and more than 25 active rows" in ok("districts", "show", "north")


def test_list_with_no_districts(env):
    assert "no districts yet" in ok("districts", "list")
    assert json.loads(ok("districts", "list", "--json")) == []


def test_activate_and_pause(engine):
    ok(*ADD, "--status", "preview", input=SECRET)

    assert "is active" in ok("districts", "activate", "north")
    assert registry.get_district(engine, "north").status == "active"
    assert "is paused" in ok("districts", "pause", "north")
    assert registry.get_district(engine, "north").status == "paused"
    assert refused("districts", "activate", "south") == "unknown district 'south'"


def test_remove_refuses_roster_rows_then_deletes_district_and_snapshots(engine, env):
    ok(*ADD, input=SECRET)
    snapshots = env / "snapshots" / "north" / "run-1"
    snapshots.mkdir(parents=True)
    (snapshots / "orgs.parquet").write_bytes(b"x")
    district_id = registry.get_district(engine, "north").id
    with engine.begin() as conn:
        conn.execute(
            tables.users.insert().values(
                district_id=district_id, sourced_id="u1", active=True, first_seen_at=NOW,
                updated_at=NOW, row_hash="h",
            )
        )  # fmt: skip

    assert "holds roster rows in users; use `rostering-pipeline purge north --yes`" in refused(
        "districts", "remove", "north"
    )
    assert snapshots.exists()

    with engine.begin() as conn:
        conn.execute(tables.users.delete())
    assert "removed district 'north'" in ok("districts", "remove", "north")
    assert registry.list_districts(engine) == []
    assert not (env / "snapshots" / "north").exists()


def test_rotate_secrets(engine, monkeypatch):
    ok(*ADD, input=SECRET)
    k2 = new_key_entry("k2")
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", f"{k2},{K1}")

    rotated = ok("districts", "rotate-secrets")
    assert "re-sealed 2 secret(s) and data key(s) under key 'k2'" in rotated

    monkeypatch.setenv("ROSTERING_SECRET_KEYS", k2)
    assert "set, key k2" in ok("districts", "show", "north")
    d = registry.get_district(engine, "north")
    assert registry.client_secret(d, SecretBox.from_env()) == SECRET
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", "k1:short")
    assert "ROSTERING_SECRET_KEYS key 'k1' is" in refused("districts", "rotate-secrets")


def test_delta_overlap_is_set_shown_and_cleared(env):
    ok(*ADD, input=SECRET)
    assert "delta overlap: 1h (default)" in ok("districts", "show", "north")
    assert "provider profile: none yet" in ok("districts", "show", "north")
    ok("districts", "update", "north", "--delta-overlap", "90m")
    shown = ok("districts", "show", "north")
    assert "delta overlap: 1h30m (set for the district)" in shown
    assert json.loads(ok("districts", "show", "north", "--json"))["delta_policy"] == {
        "overlap_seconds": 5400,
        "overlap_reason": "set for the district",
        "runs_full_because": None,
    }
    ok("districts", "update", "north", "--delta-overlap", "")
    assert "delta overlap: 1h (default)" in ok("districts", "show", "north")
    assert "is not like 90m, 1h or 1d" in refused(
        "districts", "update", "north", "--delta-overlap", "soon"
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("1h", 3600), ("1d", 86400), ("1d 12h", 129600)]
)
def test_durations(text, seconds):
    assert registry.parse_duration(text) == seconds
    assert registry.parse_duration(registry.format_duration(seconds)) == seconds


def test_snapshot_retention_is_set_shown_and_checked(engine, env):
    ok(*ADD, "--snapshot-retention-runs", "3", input=SECRET)
    d = registry.get_district(engine, "north")
    assert (d.snapshot_retention_runs, d.snapshot_retention_days) == (3, 30)
    assert d.data_key_key_id == "k1"  # made when the district is added

    ok("districts", "update", "north", "--snapshot-retention-days", "10")
    shown = ok("districts", "show", "north")
    assert (
        "snapshots: 0 held, oldest never; kept for the last 3 runs, at most 10 days; "
        "encrypted under its data key (set, key k1)"
    ) in shown
    assert refused("districts", "update", "north", "--snapshot-retention-runs", "0") == (
        "snapshot retention runs 0 must be a whole number of at least 1"
    )

    run = env / "snapshots" / "north" / "run-1"
    run.mkdir(parents=True)
    (run / "users.parquet").write_bytes(b"PAR1")
    listed = json.loads(ok("districts", "show", "north", "--json"))
    assert listed["snapshots"]["held"] == 1 and listed["snapshots"]["oldest"].startswith("20")
    assert listed["has_data_key"] and "data_key_ciphertext" not in listed
    assert "snapshots: 1 held, oldest 20" in ok("districts", "show", "north")


def test_upgrading_encrypts_the_snapshots_written_before_encryption(engine, env):
    """A district from before encrypted snapshots: no data key, plaintext Parquet on disk."""
    import pandas as pd

    from rostering_pipeline.snapshot_keys import snapshot_key
    from rostering_pipeline.snapshots import SnapshotStore

    ok(*ADD, input=SECRET)
    with engine.begin() as conn:  # as the district was before this version
        conn.execute(
            tables.districts.update().values(data_key_ciphertext=None, data_key_key_id=None)
        )
    old = env / "snapshots" / "north" / "run-1" / "users.parquet"
    old.parent.mkdir(parents=True)
    pd.DataFrame({"sourced_id": ["u1"], "email": ["ada@north.example.org"]}).to_parquet(old)
    assert b"ada@north" in old.read_bytes()

    upgraded = ok("db", "upgrade")

    assert "snapshots of north: 1 run(s) kept, 0 past retention deleted, 1 plaintext file(s) " in (
        upgraded
    )
    assert b"ada@north" not in old.read_bytes() and old.read_bytes().endswith(b"PARE")
    key = snapshot_key(engine, "north", SecretBox.from_env())
    assert SnapshotStore(str(env / "snapshots")).read(str(old), key)["email"].tolist() == [
        "ada@north.example.org"
    ]
    assert "snapshots of" not in ok("db", "upgrade")  # nothing left to do


def test_a_1_2_district_takes_oauth2_only_and_shows_its_version_and_scope(engine):
    oauth1 = ["--oneroster-version", "1.2", "--auth", "oauth1"]
    assert refused(*ADD, *oauth1, input=SECRET) == (
        "OneRoster 1.2 authenticates with OAuth 2.0 client credentials only: "
        "use --auth oauth2 with --token-url"
    )
    assert registry.list_districts(engine) == []

    ok(*ADD, "--oneroster-version", "1.2", input=SECRET)
    shown = ok("districts", "show", "north")
    assert "(OneRoster 1.2, oauth2, client id north-client)" in shown
    assert (
        "scope: https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly (the default)"
    ) in shown
    assert refused("districts", "update", "north", "--auth", "oauth1").startswith(
        "OneRoster 1.2 authenticates with OAuth 2.0"
    )
    ok("districts", "update", "north", "--oneroster-version", "1.1")
    assert registry.get_district(engine, "north").oneroster_version == "1.1"
    assert "scope: -" in ok("districts", "show", "north")


def test_a_csv_district_has_no_endpoint_credentials_or_scheduled_pulls(engine):
    out = ok("districts", "add", "lake", "--name", "Lakeside", "--source", "csv")
    assert "added district 'lake' (active, csv)" in out
    assert "`rostering-pipeline import lake PACKAGE.zip`" in out
    lake = registry.get_district(engine, "lake")
    assert (lake.source, lake.base_url, lake.has_client_secret) == ("csv", "", False)
    shown = ok("districts", "show", "lake")
    assert "source: csv" in shown and "client secret" not in shown
    assert "CSV district" in dispatch.why_not_scheduled(lake)
    (listed,) = [line for line in ok("districts", "list").splitlines() if line.startswith("lake")]
    assert "none (csv files)" in listed and listed.split()[-2:] == ["-", "-"]  # no next runs

    given = refused(
        "districts", "add", "lake2", "--name", "L", "--source", "csv",
        "--base-url", "https://x.example.org", "--client-id", "c",
    )  # fmt: skip
    assert given == "a CSV district takes no --base-url, --client-id: its rosters come from files"
    missing = refused("districts", "add", "r", "--name", "R")
    assert missing == "a REST district needs a base URL (--base-url)"
    assert "a CSV district" in refused("districts", "update", "lake", "--client-id", "c")
