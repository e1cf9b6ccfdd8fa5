"""Parquet snapshots of each run's pull: `<root>/<district>/<run id>/<entity>.parquet`, encrypted.

Every file is written with Parquet modular encryption (pyarrow's `parquet.encryption`): footer and
every column encrypted with AES-GCM under a 256-bit key generated for that file, which is wrapped
by the district's data key (`SnapshotKey`) and stored in the footer. The data key itself lives in
the app database, wrapped by `ROSTERING_SECRET_KEYS`; destroying it (a purge) makes every copy of
the district's snapshots unreadable, wherever it went.

The root is a local folder or any URI pyarrow's filesystems understand (s3://, gs://, ...), so
the same code serves one machine and a scaled-out deployment.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rostering_pipeline.errors import BadInput
from rostering_pipeline.snapshot_keys import SnapshotKey

ENCRYPTED_MAGIC = b"PARE"  # the last 4 bytes of a Parquet file whose footer is encrypted
NONCE_BYTES = 12
FILE_KEY_BITS = 256
# Unfinished rewrites of a plaintext snapshot (see `encrypt_plaintext`).
PARTIAL_SUFFIX = ".encrypting"
# Rows per row group written, and per batch read back: what a reader of a snapshot holds at once
# (pyarrow's default row group, a million rows, would make that grow with the district).
ROW_GROUP_ROWS = 100_000
READ_BATCH_ROWS = ROW_GROUP_ROWS


class SnapshotKeyError(BadInput):
    """A snapshot that the given key cannot open: another district's, a destroyed key's, a
    tampered or plaintext file. Names the snapshot and the district, never a key."""


@dataclass(frozen=True)
class SnapshotRun:
    """One run's snapshots of a district, as the store holds them."""

    run_id: str
    files: int
    bytes: int
    written_at: datetime  # the newest file's modification time


class _DistrictKms(pe.KmsClient):
    """Wraps each file's key with the district's data key (AES-GCM, the key id as associated
    data). Unwrapping checks the key id first, so another district's snapshot is named as such."""

    def __init__(self, key: SnapshotKey, location: str) -> None:
        super().__init__()
        self._key = key
        self._location = location

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._key.secret).encrypt(nonce, key_bytes, master_key_identifier.encode())
        return base64.b64encode(nonce + sealed).decode("ascii")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        if master_key_identifier != self._key.key_id:
            owner = master_key_identifier.partition("/")[0]
            if owner != self._key.district:
                raise SnapshotKeyError(
                    f"snapshot {self._location} belongs to district '{owner}', not "
                    f"'{self._key.district}': it opens only with its own district's key"
                )
            raise SnapshotKeyError(
                f"snapshot {self._location} was written under a data key district "
                f"'{self._key.district}' no longer holds (destroyed by a purge): it is unreadable"
            )
        raw = base64.b64decode(wrapped_key)
        try:
            return AESGCM(self._key.secret).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], master_key_identifier.encode()
            )
        except InvalidTag:
            raise SnapshotKeyError(
                f"snapshot {self._location} does not decrypt with the data key of district "
                f"'{self._key.district}': the file was tampered with"
            ) from None


def _crypto(key: SnapshotKey, location: str) -> tuple[pe.CryptoFactory, pe.KmsConnectionConfig]:
    # One factory per file: pyarrow caches keys per factory, and no cache may serve two districts.
    kms = _DistrictKms(key, location)
    return pe.CryptoFactory(lambda _config: kms), pe.KmsConnectionConfig(
        kms_instance_id=key.district
    )


def _encryption(key: SnapshotKey, location: str) -> pq.FileEncryptionProperties:
    factory, connection = _crypto(key, location)
    return factory.file_encryption_properties(
        connection,
        pe.EncryptionConfiguration(
            footer_key=key.key_id,
            uniform_encryption=True,  # the footer and every column
            plaintext_footer=False,
            double_wrapping=False,  # each file's key wrapped by the district key directly
            data_key_length_bits=FILE_KEY_BITS,
        ),
    )


def _decryption(key: SnapshotKey, location: str) -> pq.FileDecryptionProperties:
    factory, connection = _crypto(key, location)
    return factory.file_decryption_properties(connection)


class SnapshotWriter:
    """One snapshot file, encrypted, written in row groups as its chunks come."""

    def __init__(
        self, fs: pafs.FileSystem, path: str, key: SnapshotKey, compression: str, location: str
    ) -> None:
        self.location = location  # as the ledger names it
        self._fs, self._path, self._key, self._compression = fs, path, key, compression
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        self.write_table(pa.Table.from_pandas(frame, preserve_index=False))

    def write_table(self, table: pa.Table) -> None:
        if self._writer is None:  # the first chunk's schema is the file's
            self._fs.create_dir(self._path.rpartition("/")[0], recursive=True)
            self._writer = pq.ParquetWriter(
                self._path,
                table.schema,
                filesystem=self._fs,
                compression=self._compression,
                encryption_properties=_encryption(self._key, self._path),
            )
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._writer is None:
            if kind is None:
                raise ValueError(
                    f"snapshot {self.location}: no chunk written, not even an empty one"
                )
            return
        self._writer.close()
        if kind is not None:
            self._fs.delete_file(self._path)  # no half-written snapshot


@dataclass(frozen=True)
class SnapshotStore:
    # A folder or an object-store URI, which may carry credentials (`s3://KEY:SECRET@bucket/…`)
    # and options in its query (pyarrow's: endpoint_override, region, scheme…): they configure
    # the store's filesystem and never appear in a snapshot's location, which the ledger and
    # the UI show.
    root: str
    compression: str = "snappy"  # "none" lets a test search the bytes for plaintext

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        return _split(self.root)

    @property
    def _named_root(self) -> str:
        if "://" not in self.root:
            return self.root.rstrip("/")
        parts = urlsplit(self.root)
        where = parts.netloc.rpartition("@")[2]  # the bucket, without credentials
        return urlunsplit((parts.scheme, where, parts.path, "", "")).rstrip("/")

    def _district_dir(self, district: str) -> tuple[pafs.FileSystem, str]:
        fs, base = self._fs()
        return fs, f"{base.rstrip('/')}/{district}"

    def _open(self, location: str) -> tuple[pafs.FileSystem, str]:
        """A location under the root through the root's filesystem (and so its options)."""
        if location.startswith(self._named_root + "/"):
            fs, base = self._fs()
            return fs, base.rstrip("/") + location[len(self._named_root) :]
        return _split(location)  # written under another root: as its URI says

    def folder(self, district: str) -> str:
        """Where the district's snapshots are, as the root names it (a path or a URI)."""
        return f"{self._named_root}/{district}"

    def location(self, district: str, run_id: str, entity: str) -> str:
        return f"{self.folder(district)}/{run_id}/{entity}.parquet"

    def write(self, key: SnapshotKey, run_id: str, entity: str, frame: pd.DataFrame) -> str:
        """Writes the frame encrypted under the district's key; returns the snapshot's location.
        Retention is the caller's (`retention.enforce`): it knows the district's policy."""
        with self.writer(key, run_id, entity) as snapshot:
            snapshot.write(frame)
        return snapshot.location

    @contextlib.contextmanager
    def writer(self, key: SnapshotKey, run_id: str, entity: str) -> Iterator[SnapshotWriter]:
        """A snapshot written a chunk at a time (`write` each, at least one); the file is
        complete when the block ends, and removed if it ends in an error."""
        fs, district_dir = self._district_dir(key.district)
        run_dir = f"{district_dir}/{run_id}"
        snapshot = SnapshotWriter(
            fs,
            f"{run_dir}/{entity}.parquet",
            key,
            self.compression,
            self.location(key.district, run_id, entity),
        )
        with snapshot:
            yield snapshot

    def _write_table(
        self, fs: pafs.FileSystem, path: str, table: pa.Table, key: SnapshotKey
    ) -> None:
        with SnapshotWriter(fs, path, key, self.compression, path) as snapshot:
            snapshot.write_table(table)

    def read(
        self, location: str, key: SnapshotKey, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """The snapshot's rows; SnapshotKeyError when `key` cannot open it."""
        fs, path = self._encrypted(location)
        table = pq.read_table(
            path, filesystem=fs, columns=columns, decryption_properties=_decryption(key, location)
        )
        return table.to_pandas()

    def batches(
        self, location: str, key: SnapshotKey, rows: int = READ_BATCH_ROWS
    ) -> Iterator[pd.DataFrame]:
        """The snapshot's rows, `rows` at a time, read a row group at a time: however large the
        snapshot, its reader holds a row group and a batch."""
        fs, path = self._encrypted(location)
        decryption = _decryption(key, location)
        with fs.open_input_file(path) as source:
            # Pre-buffered reads stay cached until the reader closes: a whole snapshot (about
            # 110 bytes a row) by the last batch.
            parquet = pq.ParquetFile(source, decryption_properties=decryption, pre_buffer=False)
            for batch in parquet.iter_batches(batch_size=rows):
                yield batch.to_pandas()

    def _encrypted(self, location: str) -> tuple[pafs.FileSystem, str]:
        fs, path = self._open(location)
        if not is_encrypted(fs, path):
            raise SnapshotKeyError(
                f"snapshot {location} is not encrypted (written before encrypted snapshots): "
                "run `rostering-pipeline db upgrade`, which encrypts or deletes such files"
            )
        return fs, path

    def encrypt_plaintext(self, key: SnapshotKey) -> int:
        """Rewrites the district's plaintext snapshots (written before encryption) encrypted, in
        place; returns how many. Each is written beside the original, then moved over it."""
        fs, district_dir = self._district_dir(key.district)
        rewritten = 0
        for info in _files(fs, district_dir):
            if info.path.endswith(PARTIAL_SUFFIX):
                fs.delete_file(info.path)  # an interrupted rewrite: the original is still there
            elif not is_encrypted(fs, info.path):
                partial = info.path + PARTIAL_SUFFIX
                self._write_table(fs, partial, pq.read_table(info.path, filesystem=fs), key)
                fs.move(partial, info.path)
                rewritten += 1
        return rewritten

    def run_files(self, district: str) -> list[SnapshotRun]:
        """The district's snapshot runs, oldest first (by the newest file each holds). A listing
        only: no file is opened (every run's retention pass calls this)."""
        fs, district_dir = self._district_dir(district)
        by_run: dict[str, list[pafs.FileInfo]] = {}
        for info in _files(fs, district_dir):
            by_run.setdefault(_run_of(district_dir, info.path), []).append(info)
        runs = [
            SnapshotRun(
                run_id=run_id,
                files=len(infos),
                bytes=sum(info.size or 0 for info in infos),
                written_at=datetime.fromtimestamp(
                    max(info.mtime_ns or 0 for info in infos) / 1e9, UTC
                ),
            )
            for run_id, infos in by_run.items()
        ]
        return sorted(runs, key=lambda run: run.written_at)

    def plaintext(self, district: str) -> dict[str, int]:
        """Run id -> its files that are not encrypted (written before encryption): each file's
        last bytes are read, so this is for the sweep and the inventory, not for every run."""
        fs, district_dir = self._district_dir(district)
        counts: dict[str, int] = {}
        for info in _files(fs, district_dir):
            if not info.path.endswith(PARTIAL_SUFFIX) and not is_encrypted(fs, info.path):
                run_id = _run_of(district_dir, info.path)
                counts[run_id] = counts.get(run_id, 0) + 1
        return counts

    def runs(self, district: str) -> list[str]:
        """The district's snapshot run ids, oldest first."""
        return [run.run_id for run in self.run_files(district)]

    def delete_run(self, district: str, run_id: str) -> None:
        fs, district_dir = self._district_dir(district)
        run_dir = f"{district_dir}/{run_id}"
        if fs.get_file_info(run_dir).type != pafs.FileType.NotFound:
            fs.delete_dir(run_dir)

    def delete_district(self, district: str) -> None:
        fs, district_dir = self._district_dir(district)
        if fs.get_file_info(district_dir).type != pafs.FileType.NotFound:
            fs.delete_dir(district_dir)

    def districts(self) -> list[str]:
        """The districts with a folder under the root."""
        fs, base = self._fs()
        if fs.get_file_info(base).type == pafs.FileType.NotFound:
            return []
        infos = fs.get_file_info(pafs.FileSelector(base))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def _split(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), location


def _run_of(district_dir: str, path: str) -> str:
    """The run id of a file under `<district_dir>/<run id>/`."""
    return path[len(district_dir) + 1 :].split("/", 1)[0]


def _files(fs: pafs.FileSystem, folder: str) -> list[pafs.FileInfo]:
    if fs.get_file_info(folder).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    return [info for info in infos if info.type == pafs.FileType.File]


def is_encrypted(fs: pafs.FileSystem, path: str) -> bool:
    """Whether the file's footer is encrypted (Parquet's `PARE` magic, not `PAR1`)."""
    with fs.open_input_file(path) as file:
        size = file.size()
        if size < len(ENCRYPTED_MAGIC):
            return False
        file.seek(size - len(ENCRYPTED_MAGIC))
        return file.read(len(ENCRYPTED_MAGIC)) == ENCRYPTED_MAGIC
