"""The client secret, in every encoding it travels in, and the provider fields that must never be
stored, searched for everywhere a sync leaves something: the app DB (every table, and the SQLite
file's bytes), every file under the data folder and `DAGSTER_HOME` (Dagster's SQLite storage as
bytes, compute logs, the Parquet snapshots as bytes and decoded), every Dagster run's config, tags
and events, and the CLI's output; after a full sync and after a rejected one."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from rostering_pipeline.devserver import ProviderServer, Quirks
from rostering_pipeline.districts import add_district
from rostering_pipeline.errors import CredentialsRejected
from rostering_pipeline.oneroster.entities import GUARDIAN_ROLES
from rostering_pipeline.runner import sync_in_process
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline.snapshot_keys import snapshot_key
from rostering_pipeline.snapshots import SnapshotStore
from rostering_pipeline_tests.e2e import CLIENT_ID
from rostering_pipeline_tests.faults.support import cli, serve

# Characters that URL-encoding, JSON escaping or both change: '/', '=', '&', '?', ':', a space,
# quotes, a backslash, non-ASCII, '+' and '%'.
SECRET = 'Zq9/t=k&?: "s3cr3t" \\ é-ünïcode+%41'
# Keys of the provider's `metadata` extension (demographics): never stored, not even as names.
DEMOGRAPHIC_KEYS = ("birthDate", "hispanicOrLatinoEthnicity", "lunchStatus", "iepStatus")


def secret_encodings(client_id: str, secret: str) -> dict[str, str]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "raw": secret,
        "base64": b64(secret),
        "base64url": base64.urlsafe_b64encode(secret.encode()).decode(),
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "JSON-escaped": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON-escaped ASCII": json.dumps(secret)[1:-1],
        "HTTP Basic": b64(f"{client_id}:{secret}"),
        "HTTP Basic, form-encoded": b64(f"{quote_plus(client_id)}:{quote_plus(secret)}"),
    }


def never_stored(server: ProviderServer) -> dict[str, str]:
    """Distinctive values of fields the provider sends and the pipeline must drop, read from the
    raw /users response: passwords, phones, SMS, demographics, guardians (not opted in)."""
    basic = (quote_plus(CLIENT_ID), quote_plus(SECRET))  # RFC 6749 2.3.1 form-encodes both
    token = httpx.post(
        server.token_url, data={"grant_type": "client_credentials"}, auth=basic
    ).json()["access_token"]
    users = httpx.get(
        f"{server.api_url}/users",
        params={"limit": 100000},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["users"]
    values = {}
    for user in users:
        values[user["password"]] = "password"
        values[user["phone"]] = "phone"
        values[user["sms"]] = "sms"
        if user["role"] in GUARDIAN_ROLES:
            values[user["email"]] = "guardian e-mail"
            values[user["sourcedId"]] = "guardian sourcedId"
    assert len([kind for kind in values.values() if kind == "password"]) > 100
    assert any(kind == "guardian e-mail" for kind in values.values())
    keys = {key.removeprefix("ext:") for user in users for key in user["metadata"]}
    assert set(DEMOGRAPHIC_KEYS) <= keys
    values.update({key: "demographics" for key in DEMOGRAPHIC_KEYS})
    return values


def app_db_dump(engine: sa.Engine) -> str:
    """Every row of every table, whatever the schema holds."""
    tables = sa.MetaData()
    tables.reflect(engine)
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in tables.sorted_tables
            for row in conn.execute(table.select())
        )


def files_under(engine: sa.Engine, *roots: Path) -> Iterator[tuple[str, bytes]]:
    """Every file's bytes, and every snapshot's rows besides, decrypted with its district's key
    (`<root>/<district>/<run id>/<entity>.parquet`)."""
    box = SecretBox.from_env()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            yield str(path), path.read_bytes()
            if path.suffix == ".parquet":
                key = snapshot_key(engine, path.parent.parent.name, box)
                rows = SnapshotStore(str(root)).read(str(path), key).to_dict("records")
                yield f"{path} (decoded)", repr(rows).encode()


def dagster_records() -> str:
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs()
    assert runs
    return "\n".join(
        dg.serialize_value(item)
        for run in runs
        for item in (run.run_config, run.tags, *instance.all_logs(run.run_id))
    )


def search(places: dict[str, bytes], needles: dict[str, str]) -> list[str]:
    return [
        f"{kind} in {place}"
        for place, haystack in places.items()
        for needle, kind in needles.items()
        if needle.encode() in haystack
    ]


def register_with_secret(engine: sa.Engine, server: ProviderServer, secret: str) -> None:
    with engine.begin() as conn:
        add_district(
            conn,
            key="d1",
            name="District d1",
            base_url=server.base_url,
            auth_method="oauth2",
            client_id=CLIENT_ID,
            token_url=server.token_url,
            client_secret=secret,
            box=SecretBox.from_env(),
        )


@pytest.fixture
def district(env) -> Iterator[ProviderServer]:
    # reject_fields: the client then asks for whole records, extras included.
    with serve(secret=SECRET, quirks=Quirks(reject_fields=True)) as server:
        register_with_secret(env, server, SECRET)
        yield server


def test_no_secret_and_no_dropped_field_is_stored_or_logged(env, tmp_path, district):
    forbidden = {
        value: f"secret ({kind})" for kind, value in secret_encodings(CLIENT_ID, SECRET).items()
    }
    forbidden.update(never_stored(district))
    student = next(u for u in district.district.tables["users"].records if u.role == "student")
    output: dict[str, bytes] = {}

    def assert_found_nowhere() -> None:
        # tmp_path holds the data folder (snapshots, DAGSTER_HOME) and the SQLite app DB.
        places = dict(files_under(env, tmp_path))
        places["app DB dump"] = app_db_dump(env).encode()
        places["Dagster runs and events"] = dagster_records().encode()
        places.update(output)
        # The search does reach stored data: a student's e-mail is in the DB and a snapshot.
        control = search(places, {student.email: "control"})
        assert "control in app DB dump" in control
        assert any(place.endswith("users.parquet (decoded)") for place in control)
        assert not search(places, forbidden)

    full = cli("sync", "d1")
    assert full.returncode == 0, full.stderr
    output |= {"full sync stdout": full.stdout.encode(), "full sync stderr": full.stderr.encode()}
    assert_found_nowhere()

    district.set_credentials(client_secret="rotated-at-the-provider")
    rejected = cli("sync", "d1")
    assert rejected.returncode == CredentialsRejected.exit_code, rejected.stderr
    output |= {
        "rejected stdout": rejected.stdout.encode(),
        "rejected stderr": rejected.stderr.encode(),
    }
    assert_found_nowhere()


def test_a_secret_with_plus_and_percent_authenticates(env):
    secret = "a+b%2Bc"
    with serve(secret=secret) as server:
        register_with_secret(env, server, secret)
        outcome = sync_in_process("d1")
    assert outcome.success, outcome.message
