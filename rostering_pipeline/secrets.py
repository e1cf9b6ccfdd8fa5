"""AES-256-GCM for district secrets, keyed by `ROSTERING_SECRET_KEYS`.

`ROSTERING_SECRET_KEYS` is `key_id:base64(32 bytes)`, comma-separated; the first key encrypts,
every key decrypts, so a new key goes first and an old one stays until `rotate-secrets` ran.
`ROSTERING_SECRET_KEYS_FILE` names a file holding the same (commas or one entry per line), e.g. a
mounted secret: it is read again whenever it changes, so long-running processes (the webhook
receiver, the daemon's sensors) pick up a rotation without a restart.
A ciphertext is `v2:` + base64(12-byte random nonce || GCM ciphertext and tag), stored beside
its key id. Its associated data is its `SecretBinding`: the district, the field and, for a client
secret, the origin it is sent to; so a ciphertext copied to another district or field, or left
in place while the endpoint moves to another host, does not decrypt. Ciphertexts written before
the binding (no `v2:`) were bound to the district alone: they still decrypt, and
`districts rotate-secrets` rebinds them.
Errors name the setting, the key id or the district, never a key or a plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rostering_pipeline import config
from rostering_pipeline.errors import BadInput

ENV_VAR = "ROSTERING_SECRET_KEYS"
FILE_VAR = "ROSTERING_SECRET_KEYS_FILE"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
BOUND_PREFIX = "v2:"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_GIVE_AGAIN = ", or its endpoint moved to another host; give it again"
# A data key cannot be given again: only the key that wrapped it brings its snapshots back.
_REMEDY = {"data_key": "; the district's snapshots stay unreadable until that key is restored"}


@dataclass(frozen=True)
class SecretBinding:
    """What a ciphertext is sealed to: its associated data."""

    district: str
    field: str  # client_secret | webhook_secret | data_key (a district's snapshot key)
    origin: str | None = None  # scheme://host[:port] the secret is sent to (client secret)

    def associated_data(self) -> bytes:
        # A JSON array: unambiguous whatever the parts contain.
        return orjson.dumps(["rostering-pipeline", 2, self.district, self.field, self.origin])

    def legacy_associated_data(self) -> bytes:
        """Before the binding: the district alone."""
        return f"rostering-pipeline/district/{self.district}".encode()


def origin_of(url: str) -> str:
    """`scheme://host[:port]`, lower case, the scheme's default port left out."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    return f"{scheme}://{host}" + (
        f":{port}" if port and port != _DEFAULT_PORTS.get(scheme) else ""
    )


def is_bound(ciphertext: str) -> bool:
    """Written with its full binding (not a district-only ciphertext from before it)."""
    return ciphertext.startswith(BOUND_PREFIX)


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
        """From `ROSTERING_SECRET_KEYS`, or the file `ROSTERING_SECRET_KEYS_FILE` names (read
        again only when it changed), or else the demo's key file in the data folder, so that the
        CLI and the UI use the keys `make demo` wrote."""
        environ = os.environ if environ is None else environ
        value = environ.get(ENV_VAR, "").strip()
        path = environ.get(FILE_VAR, "").strip()
        if value and path:
            raise SecretKeyError(f"both {ENV_VAR} and {FILE_VAR} are set: keep one")
        if path:
            return _box_from_file(Path(path))
        if not value and config.demo_key_file(environ).is_file():
            return _box_from_file(config.demo_key_file(environ))
        if not value:
            raise SecretKeyError(
                f"{ENV_VAR} is not set: give it as key_id:base64(32 bytes), comma-separated "
                f"(or name a file holding that in {FILE_VAR})"
            )
        return cls(parse_keys(value))

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"SecretBox(key_ids={list(self.key_ids)!r})"

    def encrypt(self, plaintext: str, *, bound_to: SecretBinding) -> tuple[str, str]:
        """(`v2:` + base64 of nonce || ciphertext, key id), under the first key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.encrypting_key_id].encrypt(
            nonce, plaintext.encode(), bound_to.associated_data()
        )
        return BOUND_PREFIX + base64.b64encode(nonce + sealed).decode(
            "ascii"
        ), self.encrypting_key_id

    def decrypt(self, ciphertext: str, key_id: str, *, bound_to: SecretBinding) -> str:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SecretKeyError(
                f"a secret of district '{bound_to.district}' is under key '{key_id}', "
                f"which {ENV_VAR} does not hold"
            )
        if is_bound(ciphertext):
            encoded, associated = ciphertext[len(BOUND_PREFIX) :], bound_to.associated_data()
        else:
            encoded, associated = ciphertext, bound_to.legacy_associated_data()
        try:
            raw = base64.b64decode(encoded, validate=True)
            plaintext = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated)
        except (binascii.Error, ValueError, InvalidTag):
            raise SecretKeyError(
                f"the {bound_to.field.replace('_', ' ')} of district '{bound_to.district}' does "
                f"not decrypt with key '{key_id}': wrong key, tampered, copied from another "
                f"district or field{_REMEDY.get(bound_to.field, _GIVE_AGAIN)}"
            ) from None
        return plaintext.decode()


# path -> (the file's stat when read, its box): read again when the stat differs
_FILE_BOXES: dict[Path, tuple[tuple[int, int, int], SecretBox]] = {}
_FILE_LOCK = threading.Lock()


def _box_from_file(path: Path) -> SecretBox:
    try:
        stat = path.stat()
        stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with _FILE_LOCK:
            cached = _FILE_BOXES.get(path)
            if cached and cached[0] == stamp:
                return cached[1]
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SecretKeyError(f"{FILE_VAR} names {path}, which cannot be read: {reason}") from None
    entries = ",".join(line.strip() for line in text.splitlines() if line.strip())
    if not entries:
        raise SecretKeyError(f"{FILE_VAR} names {path}, which holds no key")
    box = SecretBox(parse_keys(entries, source=f"{FILE_VAR} ({path})"))
    with _FILE_LOCK:
        _FILE_BOXES[path] = (stamp, box)
    return box


def parse_keys(value: str, source: str = ENV_VAR) -> dict[str, bytes]:
    """`key_id:base64,...` in order; every error names the entry by position and id only."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(value.split(","), start=1):
        key_id, separator, encoded = entry.strip().partition(":")
        if not separator or not _KEY_ID.fullmatch(key_id):
            raise SecretKeyError(
                f"{source} entry {position} is malformed: expected key_id:base64(32 bytes) "
                "with a key id of letters, digits, '.', '_' or '-'"
            )
        if key_id in keys:
            raise SecretKeyError(f"{source} names key '{key_id}' twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise SecretKeyError(f"{source} key '{key_id}' is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise SecretKeyError(
                f"{source} key '{key_id}' is {len(key)} bytes; AES-256 needs {KEY_BYTES}"
            )
        keys[key_id] = key
    return keys


def new_key_entry(key_id: str) -> str:
    """A fresh `key_id:base64` entry for `ROSTERING_SECRET_KEYS` (the demo writes one)."""
    if not _KEY_ID.fullmatch(key_id):
        raise SecretKeyError(f"key id '{key_id}' must be letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode('ascii')}"
