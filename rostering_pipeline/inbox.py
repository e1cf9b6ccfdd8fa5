"""The CSV inbox: where districts that send files drop them, `<inbox>/<KEY>/<file>.zip`, in a
folder or an object store (`ROSTERING_CSV_INBOX`). After its run a file moves to
`<inbox>/<KEY>/processed/` or `<inbox>/<KEY>/failed/`, beside a `.reason.txt` naming the error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow.fs as pafs

PROCESSED, FAILED = "processed", "failed"
REASON_SUFFIX = ".reason.txt"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class InboxFile:
    district: str
    name: str
    location: str  # what a run's `package` config names: a local path or an object-store URL
    size: int
    modified_at: datetime


class Inbox:
    """`<root>/<KEY>/…` on pyarrow's file systems (local folders, S3, GCS, …)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        if "://" in url:
            self.fs, self.root = pafs.FileSystem.from_uri(url)
        else:
            self.fs, self.root = pafs.LocalFileSystem(), url
        self.root = self.root.rstrip("/")

    def files(self, district: str) -> list[InboxFile]:
        """The files waiting in the district's folder, oldest first (then by name); dot files
        and the processed/ and failed/ folders are not waiting."""
        folder = f"{self.root}/{district}"
        infos = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        waiting = [
            InboxFile(
                district,
                info.base_name,
                self._location(info.path),
                info.size,
                _aware(info.mtime),
            )
            for info in infos
            if info.type == pafs.FileType.File and not info.base_name.startswith(".")
        ]
        return sorted(waiting, key=lambda f: (f.modified_at, f.name))

    def checksum(self, file: InboxFile) -> str:
        """SHA-256 of the file's bytes, read in chunks."""
        digest = hashlib.sha256()
        with self.fs.open_input_stream(self._path(file)) as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def exists(self, file: InboxFile) -> bool:
        return self.fs.get_file_info(self._path(file)).type == pafs.FileType.File

    def settle(self, file: InboxFile, *, succeeded: bool) -> str:
        """Moves the file to processed/ or failed/ (a name taken there gets a time suffix);
        returns where it went."""
        folder = f"{self.root}/{file.district}/{PROCESSED if succeeded else FAILED}"
        self.fs.create_dir(folder, recursive=True)
        target = f"{folder}/{file.name}"
        if self.fs.get_file_info(target).type != pafs.FileType.NotFound:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            target = f"{folder}/{stamp}-{file.name}"
        self.fs.move(self._path(file), target)
        return self._location(target)

    def write_reason(self, location: str, reason: str) -> None:
        """`<settled file>.reason.txt`: why the file went where it went."""
        path = location.split("://", 1)[1] if "://" in location else location
        with self.fs.open_output_stream(path + REASON_SUFFIX) as out:
            out.write(reason.encode() + b"\n")

    def _path(self, file: InboxFile) -> str:
        return f"{self.root}/{file.district}/{file.name}"

    def _location(self, path: str) -> str:
        if "://" not in self.url:
            return path
        return f"{self.url.split('://', 1)[0]}://{path}"


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.fromtimestamp(0, UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
