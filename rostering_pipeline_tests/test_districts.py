from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rostering_pipeline import districts as registry
from rostering_pipeline.appdb import tables
from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.districts import DistrictSettings
from rostering_pipeline.errors import BadInput
from rostering_pipeline.secrets import SecretBox, is_bound, new_key_entry

CLIENT_SECRET = "client-s3cret/with+odd=chars"
WEBHOOK_SECRET = "webhook-s3cret"
K1 = new_key_entry("k1")
NOW = datetime(2024, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def engine(app_db_url):
    upgrade(app_db_url)
    engine = make_engine(app_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_env({"ROSTERING_SECRET_KEYS": K1})


def _settings(key: str = "north", **overrides) -> DistrictSettings:
    values = {
        "key": key,
        "name": "North ISD",
        "base_url": "https://north.example.org/ims/oneroster/v1p1/",
        "client_id": "north-client",
        "token_url": "https://north.example.org/oauth/token",
    } | overrides
    return DistrictSettings(**values)


def _add(
    engine, box, key="north", *, client_secret=CLIENT_SECRET, webhook_secret=None, **overrides
):
    return registry.add_district(
        engine,
        client_secret=client_secret,
        box=box,
        webhook_secret=webhook_secret,
        **dataclasses.asdict(_settings(key, **overrides)),
    )


def _dump(engine) -> str:
    """Every stored row of every table, as text."""
    with engine.connect() as conn:
        return repr([conn.execute(sa.select(t)).all() for t in tables.metadata.sorted_tables])


def test_add_applies_the_defaults_and_normalizes(engine, box):
    district = _add(engine, box)

    assert district.key == "north"
    assert district.base_url == "https://north.example.org/ims/oneroster/v1p1"
    assert (district.status, district.auth_method, district.credentials_ok) == (
        "active",
        "oauth2",
        None,
    )
    assert (district.schedule, district.timezone, district.delta_schedule) == (
        "0 2 * * *",
        "UTC",
        None,
    )
    assert district.include_guardians is False
    assert (district.max_deactivation_ratio, district.min_deactivation_rows) == (0.10, 25)
    assert (district.page_size, district.concurrency) == (1000, 4)
    assert district.school_allow_list is None
    assert district.has_client_secret and not district.has_webhook_secret
    assert district.client_secret_key_id == "k1"
    assert district.created_at.tzinfo is not None
    assert registry.get_district(engine, "north") == district


def test_every_setting_round_trips(engine, box):
    settings = _settings(
        auth_method="oauth1",
        token_url=None,
        scope="roster-core.readonly",
        status="preview",
        schedule="30 3 * * 1-5",
        delta_schedule="0 * * * *",
        timezone="America/Chicago",
        school_allow_list=("s2", "s1", "s2"),
        include_guardians=True,
        max_deactivation_ratio=0.25,
        min_deactivation_rows=0,
        page_size=500,
        concurrency=8,
        blackout_start=date(2024, 6, 10),
        blackout_end=date(2024, 8, 15),
    )
    district = registry.add_district(
        engine,
        client_secret=CLIENT_SECRET,
        box=box,
        webhook_secret=WEBHOOK_SECRET,
        **dataclasses.asdict(settings),
    )

    expected = dataclasses.replace(
        settings, base_url=settings.base_url.rstrip("/"), school_allow_list=("s2", "s1")
    )
    assert district.settings() == expected
    assert registry.client_secret(district, box) == CLIENT_SECRET
    assert registry.webhook_secret(district, box) == WEBHOOK_SECRET
    assert district.in_blackout(date(2024, 6, 10)) and district.in_blackout(date(2024, 8, 15))
    assert not district.in_blackout(date(2024, 8, 16))


def test_the_plaintext_secret_never_reaches_the_database(engine, box):
    district = _add(engine, box, webhook_secret=WEBHOOK_SECRET)
    registry.set_credentials(engine, "north", client_secret=CLIENT_SECRET, box=box)

    dump = _dump(engine)
    for secret in (CLIENT_SECRET, WEBHOOK_SECRET):
        for form in (secret, base64.b64encode(secret.encode()).decode(), json.dumps(secret)):
            assert form not in dump
    for shown in (repr(district), json.dumps(district.public_dict())):
        assert CLIENT_SECRET not in shown
        assert district.client_secret_ciphertext not in shown


def test_public_dict_shows_secret_state_only(engine, box):
    public = _add(engine, box, school_allow_list=("s1",)).public_dict()

    assert public["has_client_secret"] is True
    assert public["client_secret_key_id"] == "k1"
    assert public["school_allow_list"] == ["s1"]
    assert not any("ciphertext" in name for name in public)


def test_get_unknown_district(engine):
    with pytest.raises(BadInput, match="unknown district 'nowhere'"):
        registry.get_district(engine, "nowhere")


def test_duplicate_key_is_refused_and_changes_nothing(engine, box):
    _add(engine, box)
    before = _dump(engine)

    with pytest.raises(BadInput, match="district 'north' already exists"):
        _add(engine, box, name="Another")
    assert _dump(engine) == before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"key": "North"}, "district key 'North' must be"),
        ({"key": "-north"}, "district key '-north' must be"),
        ({"key": "a" * 64}, "must be 1 to 63"),
        ({"key": ""}, "district key '' must be"),
        ({"name": "  "}, "name must not be empty"),
        ({"client_id": ""}, "a REST district needs a client id"),
        ({"base_url": "north.example.org"}, "is not an http"),
        ({"base_url": None}, "a REST district needs a base URL"),
        ({"base_url": "ftp://north.example.org"}, "is not an http"),
        ({"base_url": "https://north.example.org:99999"}, "base URL is not a valid URL"),
        ({"base_url": "https://north.example.org/x?a=1"}, "must not have a query"),
        ({"base_url": "http://north.example.org"}, "plain http:// for a non-loopback host"),
        ({"base_url": "https://u:hunter2@north.example.org"}, "must not carry credentials"),
        ({"token_url": "http://10.0.0.1/token"}, "token URL .* plain http://"),
        ({"auth_method": "basic"}, "auth 'basic' is not one of oauth2, oauth1"),
        ({"token_url": None}, "oauth2 needs a token URL"),
        ({"status": "purged"}, "status 'purged' is not one of"),
        ({"schedule": "0 2 * *"}, "schedule '0 2 \\* \\*' is not a five-field cron"),
        ({"schedule": "61 2 * * *"}, "is not a five-field cron"),
        ({"delta_schedule": "every hour"}, "delta schedule 'every hour'"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"max_deactivation_ratio": 0}, "must be above 0 and at most 1"),
        ({"max_deactivation_ratio": 1.5}, "must be above 0 and at most 1"),
        ({"min_deactivation_rows": -1}, "min deactivation rows -1 must be"),
        ({"page_size": 0}, "page size 0 must be a whole number of at least 1"),
        ({"concurrency": 2.5}, "concurrency 2.5 must be"),
        ({"blackout_start": date(2024, 6, 1)}, "needs both a start and an end"),
        (
            {"blackout_start": date(2024, 6, 2), "blackout_end": date(2024, 6, 1)},
            "blackout starts 2024-06-02 after it ends 2024-06-01",
        ),
        ({"school_allow_list": ("s1", " ")}, "without empty entries"),
        ({"school_allow_list": ()}, "without empty entries"),
    ],
)
def test_bad_settings_are_one_line(overrides, message):
    with pytest.raises(BadInput, match=message) as caught:
        _settings(**overrides).validated()
    assert "\n" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_bad_settings_change_nothing(engine, box):
    _add(engine, box, "south")
    before = _dump(engine)
    with pytest.raises(BadInput, match="plain http://"):
        _add(engine, box, base_url="http://north.example.org")
    assert _dump(engine) == before


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]"])
def test_plain_http_is_accepted_on_loopback(engine, box, base_url):
    assert _add(engine, box, base_url=base_url).base_url == base_url


def test_empty_client_secret_is_refused(engine, box):
    with pytest.raises(BadInput, match="client secret is empty"):
        _add(engine, box, client_secret=" ")


def test_add_names_missing_and_unknown_settings(engine, box):
    with pytest.raises(BadInput, match="a new district needs name"):
        registry.add_district(engine, client_secret="x", box=box, key="north")
    with pytest.raises(BadInput, match=r"a REST district needs a base URL \(--base-url\)"):
        registry.add_district(engine, client_secret="x", box=box, key="north", name="N")
    with pytest.raises(BadInput, match="unknown district setting colour"):
        registry.add_district(engine, client_secret="x", box=box, colour="blue")


def test_parse_blackout():
    assert registry.parse_blackout("2024-06-10..2024-08-15") == (
        date(2024, 6, 10),
        date(2024, 8, 15),
    )
    for bad in ("2024-06-10", "2024-06-10..2024-13-01", "2024-6-1..2024-6-2"):
        with pytest.raises(BadInput, match=r"is not YYYY-MM-DD\.\.YYYY-MM-DD"):
            registry.parse_blackout(bad)
    with pytest.raises(BadInput, match="after it ends"):
        registry.parse_blackout("2024-08-15..2024-06-10")


def test_update_changes_only_what_is_given_and_revalidates(engine, box):
    before = _add(engine, box)

    after = registry.update_district(engine, "north", page_size=200, school_allow_list=("s9",))

    assert (after.page_size, after.school_allow_list) == (200, ("s9",))
    assert after.name == before.name and after.client_secret_ciphertext is not None
    assert after.updated_at >= before.updated_at
    with pytest.raises(BadInput, match="oauth2 needs a token URL"):
        registry.update_district(engine, "north", token_url=None)
    with pytest.raises(BadInput, match="cannot change key"):
        registry.update_district(engine, "north", key="south")
    with pytest.raises(BadInput, match="cannot change client_secret_ciphertext"):
        registry.update_district(engine, "north", client_secret_ciphertext="x")
    with pytest.raises(BadInput, match="unknown district 'south'"):
        registry.update_district(engine, "south", page_size=1)
    assert registry.get_district(engine, "north") == after


def test_empty_optional_texts_are_stored_as_null():
    settings = _settings(auth_method="oauth1", token_url="", scope="").validated()
    assert (settings.token_url, settings.scope) == (None, None)


def test_update_can_clear_the_allow_list(engine, box):
    _add(engine, box, school_allow_list=("s1",))
    assert (
        registry.update_district(engine, "north", school_allow_list=None).school_allow_list is None
    )


def test_set_credentials_resets_credentials_ok(engine, box):
    _add(engine, box)
    registry.record_outcome(
        engine, "north", succeeded=False, error="401", error_kind="credentials", at=NOW
    )
    assert registry.get_district(engine, "north").credentials_ok is False

    district = registry.set_credentials(
        engine, "north", client_id="new-client", client_secret="new-secret", box=box
    )

    assert district.credentials_ok is None
    assert district.client_id == "new-client"
    assert registry.client_secret(district, box) == "new-secret"
    with pytest.raises(BadInput, match="give a new client id, a new client secret, or both"):
        registry.set_credentials(engine, "north", box=box)


def test_set_status_and_purged_districts_are_frozen(engine, box):
    _add(engine, box, status="preview")
    assert registry.set_status(engine, "north", "active").status == "active"
    assert registry.set_status(engine, "north", "paused").status == "paused"
    with pytest.raises(BadInput, match="status 'gone' is not one of"):
        registry.set_status(engine, "north", "gone")

    purged = registry.mark_purged(engine, "north")

    assert purged.status == "purged"
    assert not purged.has_client_secret and purged.client_secret_key_id is None
    for change in (
        lambda: registry.set_status(engine, "north", "active"),
        lambda: registry.update_district(engine, "north", page_size=5),
        lambda: registry.set_credentials(engine, "north", client_secret="x", box=box),
    ):
        with pytest.raises(BadInput, match="district 'north' is purged"):
            change()
    with pytest.raises(BadInput, match="has no client secret"):
        registry.client_secret(purged, box)


def test_list_districts_in_key_order(engine, box):
    for key in ("west", "east", "north"):
        _add(engine, box, key)
    assert [d.key for d in registry.list_districts(engine)] == ["east", "north", "west"]


def test_a_connection_in_a_transaction_is_the_callers(engine, box):
    with engine.connect() as conn:
        conn.begin()
        _add(conn, box)
        conn.rollback()
    assert registry.list_districts(engine) == []

    with engine.connect() as conn:  # no transaction open: the function commits its own
        _add(conn, box)
    assert [d.key for d in registry.list_districts(engine)] == ["north"]


def test_record_outcome(engine, box):
    _add(engine, box)
    later = NOW + timedelta(hours=1)

    registry.record_outcome(
        engine,
        "north",
        succeeded=False,
        error="provider down\nretry",
        error_kind="provider",
        at=NOW,
    )
    failed = registry.get_district(engine, "north")
    assert (failed.last_error, failed.last_error_kind, failed.last_error_at) == (
        "provider down retry",
        "provider",
        NOW,
    )
    assert failed.credentials_ok is None and failed.last_success_at is None

    registry.record_outcome(
        engine, "north", succeeded=True, at=later.astimezone(timezone(timedelta(hours=-5)))
    )
    ok = registry.get_district(engine, "north")
    assert ok.last_success_at == later and ok.last_success_at.tzinfo is not None
    assert ok.credentials_ok is True
    assert ok.last_error_at == NOW  # the last error stays visible beside the last success

    registry.set_credentials_ok(engine, "north", False)
    assert registry.get_district(engine, "north").credentials_ok is False
    with pytest.raises(BadInput, match="unknown district 'south'"):
        registry.record_outcome(engine, "south", succeeded=True, at=NOW)


def _insert_school(engine, district_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            tables.schools.insert().values(
                district_id=district_id,
                sourced_id="s1",
                active=True,
                first_seen_at=NOW,
                updated_at=NOW,
                row_hash="h",
            )
        )


def test_remove_refuses_a_district_with_roster_rows(engine, box):
    north = _add(engine, box)
    _insert_school(engine, north.id)

    with pytest.raises(
        BadInput, match="holds roster rows in schools; use `rostering-pipeline purge"
    ):
        registry.remove_district(engine, "north")
    assert registry.get_district(engine, "north") == north


def test_remove_deletes_the_district_and_its_audit_rows(engine, box):
    north = _add(engine, box)
    south = _add(engine, box, "south")
    _insert_school(engine, south.id)
    with engine.begin() as conn:
        for district in (north, south):
            conn.execute(
                tables.sync_runs.insert().values(
                    district_id=district.id, mode="preview", started_at=NOW, status="preview"
                )
            )

    registry.remove_district(engine, "north")

    assert [d.key for d in registry.list_districts(engine)] == ["south"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(tables.sync_runs.c.district_id)).scalars().all() == [south.id]
    with pytest.raises(BadInput, match="unknown district 'north'"):
        registry.remove_district(engine, "north")


def test_rotate_secrets_reencrypts_under_the_first_key(engine, box):
    _add(engine, box, webhook_secret=WEBHOOK_SECRET)
    _add(engine, box, "south")
    data_key = registry.data_key(registry.get_district(engine, "north"), box)
    k2 = new_key_entry("k2")

    # north: client secret, webhook secret, data key; south: client secret, data key
    assert registry.rotate_secrets(engine, _box_of(k2, K1)) == 5
    assert registry.rotate_secrets(engine, _box_of(k2, K1)) == 0

    north = registry.get_district(engine, "north")
    assert (north.client_secret_key_id, north.webhook_secret_key_id) == ("k2", "k2")
    assert north.data_key_key_id == "k2"
    assert registry.client_secret(north, _box_of(k2)) == CLIENT_SECRET
    assert registry.webhook_secret(north, _box_of(k2)) == WEBHOOK_SECRET
    # the same data key, re-wrapped: the snapshots written under it stay readable
    assert registry.data_key(north, _box_of(k2)) == data_key


def test_rotate_secrets_is_all_or_nothing(engine, box):
    _add(engine, box)
    _add(engine, _box_of(new_key_entry("k0")), "south")  # under a key the next box lacks
    before = _dump(engine)

    with pytest.raises(BadInput, match="under key 'k0', which ROSTERING_SECRET_KEYS does not hold"):
        registry.rotate_secrets(engine, _box_of(new_key_entry("k2"), K1))
    assert _dump(engine) == before


def _box_of(*entries: str) -> SecretBox:
    return SecretBox.from_env({"ROSTERING_SECRET_KEYS": ",".join(entries)})


def _sync_run(engine, district_id: int, minutes: int, mode: str, status: str, held=None) -> int:
    with engine.begin() as conn:
        return conn.execute(
            tables.sync_runs.insert().values(
                district_id=district_id,
                mode=mode,
                started_at=NOW + timedelta(minutes=minutes),
                status=status,
                held=held and json.dumps(held),
            )
        ).inserted_primary_key[0]


def test_held_syncs_are_those_not_followed_by_a_success(engine, box):
    held = {"users": {"would_deactivate": 300, "active": 1000, "sample_ids": ["u1"]}}
    north, south, east = (_add(engine, box, key) for key in ("north", "south", "east"))
    _sync_run(engine, north.id, 0, "full", "succeeded")
    north_held = _sync_run(engine, north.id, 1, "full", "held", held)
    _sync_run(engine, north.id, 2, "preview", "preview")
    _sync_run(engine, north.id, 3, "delta", "failed")
    _sync_run(engine, south.id, 0, "full", "held", held)
    _sync_run(engine, south.id, 1, "full", "succeeded")
    _sync_run(engine, east.id, 0, "full", "succeeded")

    found = registry.held_syncs(engine)

    assert set(found) == {"north"}
    assert found["north"].sync_run_id == north_held
    assert found["north"].held == held
    assert found["north"].started_at == NOW + timedelta(minutes=1)


def _stored(engine, key: str, **values) -> None:
    """Write columns directly, as someone with access to the database could."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.districts).where(tables.districts.c.key == key).values(values)
        )


@pytest.mark.parametrize(
    "move",
    [
        {"token_url": "https://evil.example/oauth/token"},
        {"token_url": "https://north.example.org:8443/oauth/token"},
        {"auth_method": "oauth1", "token_url": None},  # then sent to the base URL's origin
    ],
)
def test_moving_where_the_client_secret_goes_needs_the_secret_again(engine, box, move):
    _add(engine, box, base_url="https://rs.north.example.org/ims/oneroster/v1p1/")
    before = _dump(engine)

    with pytest.raises(BadInput, match="needs the secret given again in the same command"):
        registry.update_district(engine, "north", **move)
    assert _dump(engine) == before

    moved = registry.update_district(engine, "north", client_secret="new-s3cret", box=box, **move)
    assert registry.client_secret(moved, box) == "new-s3cret"
    assert moved.credentials_ok is None


def test_a_move_within_the_same_origin_keeps_the_secret(engine, box):
    _add(engine, box)
    moved = registry.update_district(engine, "north", token_url="https://north.example.org/v2/tok")
    assert registry.client_secret(moved, box) == CLIENT_SECRET


def test_oauth1_binds_the_client_secret_to_the_base_urls_origin(engine, box):
    _add(engine, box, auth_method="oauth1", token_url=None)
    with pytest.raises(BadInput, match="needs the secret given again"):
        registry.update_district(engine, "north", base_url="https://other.example/ims")


def test_a_ciphertext_moved_by_hand_does_not_decrypt(engine, box):
    _add(engine, box, webhook_secret=WEBHOOK_SECRET)
    _add(engine, box, "south")
    north = registry.get_district(engine, "north")
    south = registry.get_district(engine, "south")

    # the endpoint changed in the database, behind the registry's back
    _stored(engine, "north", token_url="https://evil.example/oauth/token")
    with pytest.raises(BadInput, match="endpoint moved to another host; give it again"):
        registry.client_secret(registry.get_district(engine, "north"), box)
    _stored(engine, "north", token_url=north.token_url)
    # another field's ciphertext, and another district's
    _stored(engine, "north", client_secret_ciphertext=north.webhook_secret_ciphertext)
    with pytest.raises(BadInput, match="client secret of district 'north' does not decrypt"):
        registry.client_secret(registry.get_district(engine, "north"), box)
    _stored(engine, "north", client_secret_ciphertext=south.client_secret_ciphertext)
    with pytest.raises(BadInput, match="does not decrypt"):
        registry.client_secret(registry.get_district(engine, "north"), box)


def test_rotate_secrets_rebinds_ciphertexts_from_before_the_binding(engine, box):
    _add(engine, box, webhook_secret=WEBHOOK_SECRET)
    key = base64.b64decode(K1.split(":", 1)[1])
    legacy = {}
    for name, plaintext in (("client_secret", CLIENT_SECRET), ("webhook_secret", WEBHOOK_SECRET)):
        nonce = bytes(12)  # as the previous version sealed: the district alone as associated data
        sealed = AESGCM(key).encrypt(
            nonce, plaintext.encode(), b"rostering-pipeline/district/north"
        )
        legacy[f"{name}_ciphertext"] = base64.b64encode(nonce + sealed).decode()
    _stored(engine, "north", **legacy)
    assert registry.client_secret(registry.get_district(engine, "north"), box) == CLIENT_SECRET

    assert registry.rotate_secrets(engine, box) == 2  # same key, but now bound
    assert registry.rotate_secrets(engine, box) == 0

    north = registry.get_district(engine, "north")
    assert is_bound(north.client_secret_ciphertext) and is_bound(north.webhook_secret_ciphertext)
    assert registry.client_secret(north, box) == CLIENT_SECRET
    assert registry.webhook_secret(north, box) == WEBHOOK_SECRET


def test_a_csv_districts_settings_are_checked_like_any_others():
    csv = registry.DistrictSettings(key="lake", name="Lakeside", source="csv")
    assert csv.validated().source == "csv"
    for bad, message in (({"status": "live"}, "status 'live' is not one of"),
                         ({"schedule": "nightly"}, "schedule")):  # fmt: skip
        with pytest.raises(BadInput, match=message):
            dataclasses.replace(csv, **bad).validated()
