from __future__ import annotations

import base64

import pytest

from rostering_pipeline.errors import BadInput
from rostering_pipeline.secrets import SecretBox, new_key_entry, parse_keys

SECRET = "s3cr3t-client-secret"


def _box(*entries: str) -> SecretBox:
    return SecretBox.from_env({"ROSTERING_SECRET_KEYS": ",".join(entries)})


@pytest.fixture
def k1() -> str:
    return new_key_entry("k1")


def test_round_trip_with_a_fresh_nonce_each_time(k1):
    box = _box(k1)
    first, key_id = box.encrypt(SECRET, district_key="north")
    second, _ = box.encrypt(SECRET, district_key="north")

    assert key_id == "k1"
    assert first != second
    assert SECRET not in first
    assert len(base64.b64decode(first)) == 12 + len(SECRET) + 16  # nonce, ciphertext, tag
    assert box.decrypt(first, "k1", district_key="north") == SECRET


def test_wrong_key_fails_with_one_line_naming_no_secret(k1):
    ciphertext, key_id = _box(k1).encrypt(SECRET, district_key="north")
    other = _box(new_key_entry("k1"))  # same id, different key

    with pytest.raises(BadInput, match="does not decrypt with key 'k1'") as caught:
        other.decrypt(ciphertext, key_id, district_key="north")
    assert SECRET not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_tampered_ciphertext_fails(k1):
    box = _box(k1)
    ciphertext, key_id = box.encrypt(SECRET, district_key="north")
    raw = bytearray(base64.b64decode(ciphertext))
    raw[-1] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(BadInput, match="tampered"):
        box.decrypt(tampered, key_id, district_key="north")
    with pytest.raises(BadInput, match="tampered"):
        box.decrypt("not base64!", key_id, district_key="north")
    with pytest.raises(BadInput, match="tampered"):
        box.decrypt(ciphertext[:8], key_id, district_key="north")


def test_ciphertext_moved_to_another_district_fails(k1):
    box = _box(k1)
    ciphertext, key_id = box.encrypt(SECRET, district_key="north")

    with pytest.raises(BadInput, match="district 'south'"):
        box.decrypt(ciphertext, key_id, district_key="south")


def test_rotation_first_key_encrypts_all_keys_decrypt(k1):
    old_ciphertext, old_id = _box(k1).encrypt(SECRET, district_key="north")
    rotated = _box(new_key_entry("k2"), k1)

    new_ciphertext, new_id = rotated.encrypt(SECRET, district_key="north")

    assert (old_id, new_id) == ("k1", "k2")
    assert rotated.decrypt(old_ciphertext, old_id, district_key="north") == SECRET
    assert rotated.decrypt(new_ciphertext, new_id, district_key="north") == SECRET
    with pytest.raises(BadInput, match="key 'k2', which ROSTERING_SECRET_KEYS does not hold"):
        _box(k1).decrypt(new_ciphertext, new_id, district_key="north")


def test_missing_keys_is_a_clear_line():
    with pytest.raises(BadInput, match="ROSTERING_SECRET_KEYS is not set"):
        SecretBox.from_env({})
    with pytest.raises(BadInput, match="ROSTERING_SECRET_KEYS is not set"):
        SecretBox.from_env({"ROSTERING_SECRET_KEYS": "  "})


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
