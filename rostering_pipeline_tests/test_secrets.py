from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rostering_pipeline.errors import BadInput
from rostering_pipeline.secrets import (
    BOUND_PREFIX,
    SecretBinding,
    SecretBox,
    new_key_entry,
    origin_of,
    parse_keys,
)

SECRET = "s3cr3t-client-secret"
NORTH = SecretBinding("north", "client_secret", "https://idp.north.example")
SOUTH = SecretBinding("south", "client_secret", "https://idp.north.example")


def _box(*entries: str) -> SecretBox:
    return SecretBox.from_env({"ROSTERING_SECRET_KEYS": ",".join(entries)})


@pytest.fixture
def k1() -> str:
    return new_key_entry("k1")


def test_round_trip_with_a_fresh_nonce_each_time(k1):
    box = _box(k1)
    first, key_id = box.encrypt(SECRET, bound_to=NORTH)
    second, _ = box.encrypt(SECRET, bound_to=NORTH)

    assert key_id == "k1"
    assert first != second
    assert SECRET not in first
    assert first.startswith(BOUND_PREFIX)
    raw = base64.b64decode(first.removeprefix(BOUND_PREFIX))
    assert len(raw) == 12 + len(SECRET) + 16  # nonce, ciphertext, tag
    assert box.decrypt(first, "k1", bound_to=NORTH) == SECRET


def test_wrong_key_fails_with_one_line_naming_no_secret(k1):
    ciphertext, key_id = _box(k1).encrypt(SECRET, bound_to=NORTH)
    other = _box(new_key_entry("k1"))  # same id, different key

    with pytest.raises(BadInput, match="does not decrypt with key 'k1'") as caught:
        other.decrypt(ciphertext, key_id, bound_to=NORTH)
    assert SECRET not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_tampered_ciphertext_fails(k1):
    box = _box(k1)
    ciphertext, key_id = box.encrypt(SECRET, bound_to=NORTH)
    raw = bytearray(base64.b64decode(ciphertext.removeprefix(BOUND_PREFIX)))
    raw[-1] ^= 1
    tampered = BOUND_PREFIX + base64.b64encode(bytes(raw)).decode()

    with pytest.raises(BadInput, match="tampered"):
        box.decrypt(tampered, key_id, bound_to=NORTH)
    with pytest.raises(BadInput, match="tampered"):
        box.decrypt("not base64!", key_id, bound_to=NORTH)
    with pytest.raises(BadInput, match="tampered"):
        box.decrypt(ciphertext[:8], key_id, bound_to=NORTH)


def test_ciphertext_moved_to_another_district_fails(k1):
    box = _box(k1)
    ciphertext, key_id = box.encrypt(SECRET, bound_to=NORTH)

    with pytest.raises(BadInput, match="district 'south'"):
        box.decrypt(ciphertext, key_id, bound_to=SOUTH)


@pytest.mark.parametrize(
    "elsewhere",
    [
        SecretBinding("north", "webhook_secret", "https://idp.north.example"),  # another field
        SecretBinding("north", "client_secret", "https://evil.example"),  # another host
        SecretBinding("north", "client_secret", "http://idp.north.example"),  # another scheme
        SecretBinding("north", "client_secret", "https://idp.north.example:8443"),  # port
    ],
)
def test_ciphertext_bound_to_field_and_origin(k1, elsewhere):
    box = _box(k1)
    ciphertext, key_id = box.encrypt(SECRET, bound_to=NORTH)

    with pytest.raises(BadInput, match="another district or field, or its endpoint moved"):
        box.decrypt(ciphertext, key_id, bound_to=elsewhere)


def test_a_district_only_ciphertext_from_before_the_binding_still_decrypts(k1):
    box = _box(k1)
    # As the previous version sealed it: no prefix, the district as the only associated data.
    nonce = b"\x00" * 12
    key = parse_keys(k1)["k1"]
    sealed = AESGCM(key).encrypt(nonce, SECRET.encode(), b"rostering-pipeline/district/north")
    legacy = base64.b64encode(nonce + sealed).decode()

    assert box.decrypt(legacy, "k1", bound_to=NORTH) == SECRET
    with pytest.raises(BadInput, match="does not decrypt"):
        box.decrypt(legacy, "k1", bound_to=SOUTH)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://IdP.Example.org/oauth/token", "https://idp.example.org"),
        ("https://idp.example.org:443/x", "https://idp.example.org"),
        ("https://idp.example.org:8443/x", "https://idp.example.org:8443"),
        ("http://127.0.0.1:8765/ims", "http://127.0.0.1:8765"),
    ],
)
def test_origin_of(url, origin):
    assert origin_of(url) == origin


def test_rotation_first_key_encrypts_all_keys_decrypt(k1):
    old_ciphertext, old_id = _box(k1).encrypt(SECRET, bound_to=NORTH)
    rotated = _box(new_key_entry("k2"), k1)

    new_ciphertext, new_id = rotated.encrypt(SECRET, bound_to=NORTH)

    assert (old_id, new_id) == ("k1", "k2")
    assert rotated.decrypt(old_ciphertext, old_id, bound_to=NORTH) == SECRET
    assert rotated.decrypt(new_ciphertext, new_id, bound_to=NORTH) == SECRET
    with pytest.raises(BadInput, match="key 'k2', which ROSTERING_SECRET_KEYS does not hold"):
        _box(k1).decrypt(new_ciphertext, new_id, bound_to=NORTH)


def test_missing_keys_is_a_clear_line(tmp_path):
    no_demo = {"ROSTERING_DATA_DIR": str(tmp_path)}
    with pytest.raises(BadInput, match="ROSTERING_SECRET_KEYS is not set"):
        SecretBox.from_env(no_demo)
    with pytest.raises(BadInput, match="ROSTERING_SECRET_KEYS is not set"):
        SecretBox.from_env({**no_demo, "ROSTERING_SECRET_KEYS": "  "})


def test_without_a_key_setting_the_demo_key_file_is_used(k1, tmp_path):
    """`make demo` writes it; then `sync demo` and `make ui` need no key setting."""
    (tmp_path / "secret_keys").write_text(k1 + "\n")
    box = SecretBox.from_env({"ROSTERING_DATA_DIR": str(tmp_path), "ROSTERING_SECRET_KEYS": ""})
    assert box.key_ids == ("k1",)


def test_from_env_reads_the_process_environment(k1, monkeypatch):
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", k1)
    assert SecretBox.from_env().key_ids == ("k1",)


RAW_KEY = base64.b64encode(b"\x01" * 32).decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (RAW_KEY, "entry 1 is malformed"),
        (f"k1:{RAW_KEY},", "entry 2 is malformed"),
        (f"bad id:{RAW_KEY}", "entry 1 is malformed"),
        (f":{RAW_KEY}", "entry 1 is malformed"),
        ("k1:not*base64", "key 'k1' is not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "key 'k1' is 5 bytes; AES-256 needs 32"),
        (f"k1:{RAW_KEY},k1:{RAW_KEY}", "names key 'k1' twice"),
    ],
)
def test_malformed_keys_are_one_line_without_the_key(value, message):
    with pytest.raises(BadInput, match=message) as caught:
        parse_keys(value)
    assert RAW_KEY not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_repr_shows_key_ids_only(k1):
    box = _box(k1)
    assert repr(box) == "SecretBox(key_ids=['k1'])"
    assert k1.split(":")[1] not in repr(box)


def test_keys_from_a_file_read_again_only_when_it_changes(tmp_path, k1):
    keys_file = tmp_path / "keys"
    keys_file.write_text(k1 + "\n")
    environ = {"ROSTERING_SECRET_KEYS_FILE": str(keys_file)}

    first = SecretBox.from_env(environ)
    assert first.key_ids == ("k1",)
    assert SecretBox.from_env(environ) is first  # unchanged: not read again

    keys_file.write_text(f"{new_key_entry('k2')}\n{k1}\n")  # one entry per line, new key first
    rotated = SecretBox.from_env(environ)
    assert rotated.key_ids == ("k2", "k1")
    assert rotated.encrypting_key_id == "k2"


def test_a_keys_file_that_cannot_be_used_is_a_clear_line(tmp_path, k1):
    keys_file = tmp_path / "keys"
    with pytest.raises(BadInput, match=r"ROSTERING_SECRET_KEYS_FILE names .*keys, which cannot"):
        SecretBox.from_env({"ROSTERING_SECRET_KEYS_FILE": str(keys_file)})
    keys_file.write_text("\n")
    with pytest.raises(BadInput, match="which holds no key"):
        SecretBox.from_env({"ROSTERING_SECRET_KEYS_FILE": str(keys_file)})
    keys_file.write_text("k1:c2VjcmV0\n")
    with pytest.raises(BadInput, match=r"ROSTERING_SECRET_KEYS_FILE \(.*\) key 'k1' is 6 bytes"):
        SecretBox.from_env({"ROSTERING_SECRET_KEYS_FILE": str(keys_file)})
    with pytest.raises(BadInput, match="both ROSTERING_SECRET_KEYS and ROSTERING_SECRET_KEYS_FILE"):
        SecretBox.from_env(
            {"ROSTERING_SECRET_KEYS": k1, "ROSTERING_SECRET_KEYS_FILE": str(keys_file)}
        )
