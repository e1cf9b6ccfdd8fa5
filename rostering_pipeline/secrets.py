"""AES-256-GCM for district secrets, keyed by `ROSTERING_SECRET_KEYS`.

`ROSTERING_SECRET_KEYS` is `key_id:base64(32 bytes)`, comma-separated; the first key encrypts,
every key decrypts, so a new key goes first and an old one stays until `rotate-secrets` ran.
A ciphertext is base64(12-byte random nonce || GCM ciphertext and tag), stored beside its key id;
the district key is the associated data, so a ciphertext copied to another district fails.
Errors name the setting, the key id or the district, never a key or a plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rostering_pipeline.errors import BadInput

ENV_VAR = "ROSTERING_SECRET_KEYS"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class SecretKeyError(BadInput):
    """A key is missing, malformed or unknown, or a ciphertext does not decrypt."""


class SecretBox:
    """The configured keys; its repr shows key ids only."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise SecretKeyError(f"{ENV_VAR} holds no key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.encrypting_key_id = next(iter(keys))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecretBox:
        value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
        if not value:
            raise SecretKeyError(
                f"{ENV_VAR} is not set: give it as key_id:base64(32 bytes), comma-separated"
            )
        return cls(parse_keys(value))

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"SecretBox(key_ids={list(self.key_ids)!r})"

    def encrypt(self, plaintext: str, *, district_key: str) -> tuple[str, str]:
        """(base64 of nonce || ciphertext, key id), under the first key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.encrypting_key_id].encrypt(
            nonce, plaintext.encode(), _associated_data(district_key)
        )
        return base64.b64encode(nonce + sealed).decode("ascii"), self.encrypting_key_id

    def decrypt(self, ciphertext_b64: str, key_id: str, *, district_key: str) -> str:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SecretKeyError(
                f"a secret of district '{district_key}' is under key '{key_id}', "
                f"which {ENV_VAR} does not hold"
            )
        try:
            raw = base64.b64decode(ciphertext_b64, validate=True)
            plaintext = cipher.decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(district_key)
            )
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretKeyError(
                f"a secret of district '{district_key}' does not decrypt with key '{key_id}': "
                "wrong key, tampered, or copied from another district"
            ) from None
        return plaintext.decode()


def parse_keys(value: str) -> dict[str, bytes]:
    """`key_id:base64,...` in order; every error names the entry by position and id only."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(value.split(","), start=1):
        key_id, separator, encoded = entry.strip().partition(":")
        if not separator or not _KEY_ID.fullmatch(key_id):
            raise SecretKeyError(
                f"{ENV_VAR} entry {position} is malformed: expected key_id:base64(32 bytes) "
                "with a key id of letters, digits, '.', '_' or '-'"
            )
        if key_id in keys:
            raise SecretKeyError(f"{ENV_VAR} names key '{key_id}' twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise SecretKeyError(f"{ENV_VAR} key '{key_id}' is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise SecretKeyError(
                f"{ENV_VAR} key '{key_id}' is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
            )
        keys[key_id] = key
    return keys


def new_key_entry(key_id: str) -> str:
    """A fresh `key_id:base64` entry for `ROSTERING_SECRET_KEYS` (the demo writes one)."""
    if not _KEY_ID.fullmatch(key_id):
        raise SecretKeyError(f"key id '{key_id}' must be letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode('ascii')}"


def _associated_data(district_key: str) -> bytes:
    return f"rostering-pipeline/district/{district_key}".encode()
