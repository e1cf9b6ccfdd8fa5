"""A district's snapshot data key, as the snapshot store uses it (kept apart from `snapshots`,
which loads pandas and pyarrow, so that light commands can name keys)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from rostering_pipeline.districts import data_key, ensure_data_key
from rostering_pipeline.secrets import SecretBox


@dataclass(frozen=True)
class SnapshotKey:
    """A district's data key. Its id (in every snapshot's footer) names the district and a
    fingerprint of the key, so a refusal can say whose snapshot it is and whether the key is the
    one the district holds now."""

    district: str
    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        digest = hashlib.sha256(b"rostering-pipeline snapshot key id\0" + self.secret)
        return f"{self.district}/{digest.hexdigest()[:16]}"


def snapshot_key(bind: sa.Engine | sa.Connection, key: str, box: SecretBox) -> SnapshotKey:
    """District `key`'s data key, made (and stored, wrapped) if it has none yet."""
    district = ensure_data_key(bind, key, box)
    secret = data_key(district, box)
    assert secret is not None  # ensure_data_key made one or raised
    return SnapshotKey(district.key, secret)
