"""A OneRoster CSV package (a zip, or a folder of CSV files) read into the same frames a REST
pull gives: each row becomes the REST record it stands for and goes through the one
normalization, in batches, so a file of any size streams.

Liberal in what it reads (a byte-order mark, CRLF, quoted newlines, columns in any order, vendor
columns, blank status and dateLastModified, `TRUE`/`1` booleans, `8/1/2026` dates, lists as
comma-separated text); strict about what would make a roster wrong: a missing manifest, file or
required column, a row whose fields do not match the header, text that is not UTF-8. Those raise
PackageError naming the file, row and column.
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyarrow.fs as pafs

from rostering_pipeline.errors import BadInput
from rostering_pipeline.oneroster.client import FetchResult, FetchStats
from rostering_pipeline.oneroster.collected import Collected, PageSink
from rostering_pipeline.oneroster.csv_binding import (
    DATE_FIELDS,
    FILE_PROPERTY,
    FILES,
    MANIFEST,
    PROCESSING_MODES,
    ROLES_1_2,
    VERSION_PROPERTY,
    CsvFile,
)
from rostering_pipeline.oneroster.entities import Entity
from rostering_pipeline.oneroster.normalize import Tolerated, normalize_records
from rostering_pipeline.oneroster.profile import profile_pull

BATCH_ROWS = 20_000
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes `surrogateescape` could not decode
_SLASHED = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?\s*$")


class PackageError(BadInput):
    """The package cannot be read: nothing of it is applied (exit 2)."""


@dataclass(frozen=True)
class Manifest:
    version: str  # "1.1" | "1.2"
    modes: dict[str, str]  # file name (`file.<name>`) -> bulk | delta | absent

    def mode_of(self, csv_file: CsvFile) -> str:
        """A file the manifest does not mention is absent: the entity is left as it is."""
        return self.modes.get(csv_file.name.casefold(), "absent")

    def entity_modes(self) -> dict[str, str]:
        """entity -> bulk | delta | absent."""
        return {name: self.mode_of(f) for name, f in FILES[self.version].items()}


class CsvPackage:
    """An open package; `open_package` makes one. Reads one entity at a time, on demand."""

    def __init__(self, label: str, members: _Members) -> None:
        self.label = label  # the package's file or folder name, for messages and metadata
        self._members = members
        self.manifest = self._read_manifest()
        self._check_files()

    def file_for(self, entity: Entity) -> CsvFile:
        return FILES[self.manifest.version][entity.name]

    def mode_of(self, entity: Entity) -> str:
        return self.manifest.mode_of(self.file_for(entity))

    def fetch(
        self,
        entity: Entity,
        *,
        timezone: str = "UTC",
        include_guardians: bool = False,
        sink: PageSink | None = None,
    ) -> FetchResult:
        """Every row of the entity's file, normalized (none for an absent file), a batch at a
        time to the `sink` when given, else kept in the result."""
        started, clock_at = time.monotonic(), datetime.now(UTC)
        csv_file = self.file_for(entity)
        mode = self.mode_of(entity)
        tolerated = Tolerated()
        collected = Collected(sink, clock_at)
        received = batches = 0
        with_roles = csv_file.name == "users" and self.manifest.version == "1.2"
        roles = self._roles() if with_roles else None
        for batch in () if mode == "absent" else self._records(csv_file):
            if roles is not None:
                for record in batch:
                    record["roles"] = roles.get(record.get("sourcedId"), [])
            received += len(batch)
            batches += 1
            collected.add(
                normalize_records(
                    entity,
                    batch,
                    include_guardians=include_guardians,
                    timezone=timezone,
                    tolerated=tolerated,
                    version=self.manifest.version,
                )
            )
        stats = FetchStats(
            rows=collected.rows,
            received=received,
            pages=batches,
            requests=0,
            retries=0,
            duration_s=time.monotonic() - started,
            host=f"csv {self.label}",
            clock_at=clock_at,
            profile=profile_pull(
                collected,
                tolerated,
                filtered=mode == "delta",
                paging=None,
                envelope=f"{csv_file.filename} ({mode})",
                total=None,
                received=received,
            ),
        )
        return FetchResult(entity=entity, tables=tuple(collected.tables), stats=stats)

    # --- reading -------------------------------------------------------------------------

    def _read_manifest(self) -> Manifest:
        if not self._members.has(MANIFEST):
            raise PackageError(f"{self.label}: no {MANIFEST}; is this a OneRoster CSV package?")
        properties: dict[str, str] = {}
        for _row_number, row in self._rows(MANIFEST, ("propertyName", "value")):
            name, value = row["propertyName"].strip().casefold(), row["value"].strip()
            if name in properties:
                raise PackageError(f"{MANIFEST}: {name} is given twice")
            if name:
                properties[name] = value
        version = properties.get(VERSION_PROPERTY, "")
        if version not in FILES:
            raise PackageError(
                f"{MANIFEST}: {VERSION_PROPERTY} is {version or 'missing'!r}; "
                f"expected one of {', '.join(FILES)}"
            )
        modes = {}
        for name, value in properties.items():
            if not name.startswith(FILE_PROPERTY):
                continue
            mode = value.lower()
            if mode not in PROCESSING_MODES:
                expected = ", ".join(PROCESSING_MODES)
                raise PackageError(f"{MANIFEST}: {name} is {value!r}; expected one of {expected}")
            modes[name.removeprefix(FILE_PROPERTY)] = mode  # names in any case, as files
        return Manifest(version, modes)

    def _check_files(self) -> None:
        """Every file the manifest sends is there with its required columns (headers only)."""
        manifest = self.manifest
        needed = [f for f in FILES[manifest.version].values() if manifest.mode_of(f) != "absent"]
        if manifest.version == "1.2" and manifest.mode_of(FILES["1.2"]["users"]) != "absent":
            if manifest.mode_of(ROLES_1_2) == "absent":
                raise PackageError(
                    f"{MANIFEST}: 1.2 users need roles.csv (their schools and roles), but "
                    "file.roles is absent"
                )
            needed.append(ROLES_1_2)
        delta_people = [
            f.filename
            for f in (FILES["1.2"]["users"], ROLES_1_2)
            if manifest.version == "1.2" and manifest.mode_of(f) == "delta"
        ]
        if delta_people:
            # A delta roles.csv lists only changed roles: the rest of a user's schools and roles
            # are not in the package, and guessing them would rewrite the user's links.
            raise PackageError(
                f"{MANIFEST}: {' and '.join(delta_people)} as delta files are not supported in "
                "OneRoster 1.2 packages; send users.csv and roles.csv as bulk files"
            )
        for csv_file in needed:
            if not self._members.has(csv_file.filename):
                raise PackageError(
                    f"{MANIFEST} says file.{csv_file.name}="
                    f"{manifest.mode_of(csv_file)}, but the package has no {csv_file.filename}"
                )
            with self._open_text(csv_file.filename) as text:
                try:
                    _header_positions(csv_file.filename, _reader(text), csv_file.required)
                except _UNREADABLE_MEMBER as exc:
                    message = f"{csv_file.filename}: cannot be read from the zip ({exc})"
                    raise PackageError(message) from None

    def _records(self, csv_file: CsvFile) -> Iterator[list[dict[str, Any]]]:
        """The file's rows as REST-shaped records, in batches."""
        batch: list[dict[str, Any]] = []
        lists = set(csv_file.lists)
        for _row_number, row in self._rows(csv_file.filename, csv_file.required, csv_file):
            record: dict[str, Any] = {}
            for header, value in row.items():
                field = csv_file.columns[header]
                if header in lists:
                    value = [part.strip() for part in value.split(",") if part.strip()]
                elif field in DATE_FIELDS and "/" in value:
                    value = _iso_date(value)
                record[field] = value
            batch.append(record)
            if len(batch) == BATCH_ROWS:
                yield batch
                batch = []
        if batch:
            yield batch

    def _roles(self) -> dict[str, list[dict[str, Any]]]:
        """1.2: user sourcedId -> its roles in the REST shape (tobedeleted roles left out)."""
        roles: dict[str, list[dict[str, Any]]] = {}
        for batch in self._records(ROLES_1_2):
            for record in batch:
                if (record.get("status") or "").strip().lower() in ("tobedeleted", "inactive"):
                    continue
                user = (record.get("user") or "").strip()
                org = (record.get("org") or "").strip()
                roles.setdefault(user, []).append(
                    {
                        "roleType": record.get("roleType"),
                        "role": record.get("role"),
                        "org": {"sourcedId": org} if org else None,
                    }
                )
        return roles

    def _rows(
        self, filename: str, required: tuple[str, ...], csv_file: CsvFile | None = None
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """(row number, {header: value}) for the columns read; row 1 is the header."""
        wanted = tuple(csv_file.columns) if csv_file else required
        with self._open_text(filename) as text:
            row_number = 1
            try:
                reader = _reader(text)
                positions, width = _header_positions(filename, reader, required)
                picks = [(name, positions[name]) for name in wanted if name in positions]
                for row in reader:
                    row_number += 1
                    if not row or row == [""]:
                        continue  # a blank line, such as a trailing one
                    if len(row) != width:
                        raise PackageError(
                            f"{filename}, row {row_number}: {len(row)} fields where the header "
                            f"has {width}"
                        )
                    values = {name: row[at] for name, at in picks}
                    for name, value in values.items():
                        if not value.isascii() and _UNDECODABLE.search(value):
                            raise PackageError(
                                f"{filename}, row {row_number}, column {name}: not UTF-8 text"
                            )
                    yield row_number, values
            except csv.Error as exc:
                raise PackageError(f"{filename}, row {row_number + 1}: {exc}") from None
            except _UNREADABLE_MEMBER as exc:
                raise PackageError(f"{filename}: cannot be read from the zip ({exc})") from None

    def _open_text(self, filename: str) -> IO[str]:
        """Bytes that are not UTF-8 come through as lone surrogates, so that the row and column
        holding them can be named (a decoder error would name neither)."""
        try:
            member = self._members.open(filename)
        except _UNREADABLE_MEMBER as exc:  # encrypted, or compressed in a way zipfile lacks
            raise PackageError(f"{filename}: cannot be read from the zip ({exc})") from None
        return io.TextIOWrapper(member, encoding="utf-8-sig", errors="surrogateescape", newline="")


# Every header the bindings read (and the manifest's), by its case-folded spelling.
_HEADER_SPELLINGS = {
    name.casefold(): name
    for name in {
        "propertyName",
        "value",
        *ROLES_1_2.columns,
        *(header for files in FILES.values() for f in files.values() for header in f.columns),
    }
}
# What zipfile raises for a member it cannot give: a bad CRC or a truncated member, an
# encrypted one, a compression method it lacks (Deflate64, as Windows writes large zips).
_UNREADABLE_MEMBER = (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error)


def _reader(text: IO[str]) -> Any:
    return csv.reader(text, strict=True)


def _header_positions(
    filename: str, reader: Any, required: tuple[str, ...]
) -> tuple[dict[str, int], int]:
    """Header -> column position (headers matched trimmed and in any case), and the header's
    width; PackageError for a missing required column or a header read twice."""
    try:
        header = next(reader, None)
    except csv.Error:
        raise PackageError(f"{filename}, row 1: the header is not CSV text") from None
    if header and any(_UNDECODABLE.search(name) for name in header):
        raise PackageError(f"{filename}, row 1: the header is not UTF-8 text")
    if not header:
        raise PackageError(f"{filename}: empty file (no header row)")
    positions: dict[str, int] = {}
    seen: dict[str, int] = {}
    for at, name in enumerate(header):
        folded = name.strip().casefold()
        if folded in seen and folded:
            raise PackageError(f"{filename}, row 1: column {name.strip()!r} appears twice")
        seen[folded] = at
    for folded, at in seen.items():
        if folded in _HEADER_SPELLINGS:
            positions[_HEADER_SPELLINGS[folded]] = at
    missing = [name for name in required if name not in positions]
    if missing:
        raise PackageError(f"{filename}, row 1: missing required column {', '.join(missing)}")
    return positions, len(header)


def _iso_date(value: str) -> str:
    """`8/1/2026` (month/day/year, optionally with a time) -> `2026-08-01[THH:MM:SS]`; anything
    else is left for the normalization to judge."""
    match = _SLASHED.match(value)
    if not match:
        return value
    month, day, year, clock = match.groups()
    text = f"{year}-{int(month):02d}-{int(day):02d}"
    if clock:
        hours, rest = clock.split(":", 1)
        text += f"T{int(hours):02d}:{rest}" + (":00" if rest.count(":") == 0 else "")
    return text


# --- where the files are -----------------------------------------------------------------


class _Members:
    """A package's files by name: a zip's (at its root or in one folder) or a folder's."""

    def has(self, filename: str) -> bool:
        raise NotImplementedError

    def open(self, filename: str) -> IO[bytes]:
        raise NotImplementedError


class _ZipMembers(_Members):
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        # A zip made by zipping a folder holds the files under that folder; macOS adds junk.
        names = [
            n
            for n in archive.namelist()
            if not n.endswith("/") and "__MACOSX" not in PurePosixPath(n).parts
        ]
        manifest_paths = sorted(
            (n for n in names if PurePosixPath(n).name.casefold() == MANIFEST),
            key=lambda n: n.count("/"),
        )
        root = PurePosixPath(manifest_paths[0]).parent if manifest_paths else PurePosixPath()
        self.names = {
            PurePosixPath(n).name.casefold(): n for n in names if PurePosixPath(n).parent == root
        }

    def has(self, filename: str) -> bool:
        return filename.casefold() in self.names

    def open(self, filename: str) -> IO[bytes]:
        return self.archive.open(self.names[filename.casefold()])


class _FolderMembers(_Members):
    def __init__(self, folder: Path) -> None:
        self.names = {p.name.casefold(): p for p in folder.iterdir() if p.is_file()}

    def has(self, filename: str) -> bool:
        return filename.casefold() in self.names

    def open(self, filename: str) -> IO[bytes]:
        return self.names[filename.casefold()].open("rb")


@contextmanager
def open_package(location: str | Path) -> Iterator[CsvPackage]:
    """`with open_package(path) as package:` a `.zip`, a folder of CSV files, or a folder holding
    one zip. PackageError (exit 2) for anything else."""
    with ExitStack() as stack:
        if "://" in str(location):  # a zip in an object store (an inbox there)
            label, members = _remote_zip(str(location), stack)
            yield CsvPackage(label, members)
        else:
            path = Path(location).expanduser()
            yield CsvPackage(path.name, _members(path, stack))


def _remote_zip(url: str, stack: ExitStack) -> tuple[str, _Members]:
    fs, path = pafs.FileSystem.from_uri(url)
    label = PurePosixPath(path).name
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise PackageError(f"{url}: no such file")
    source = stack.enter_context(fs.open_input_file(path))  # seekable, as a zip needs
    try:
        archive = stack.enter_context(zipfile.ZipFile(source))
    except zipfile.BadZipFile:
        raise PackageError(f"{label}: not a zip file") from None
    return label, _ZipMembers(archive)


def _members(path: Path, stack: ExitStack) -> _Members:
    if not path.exists():
        raise PackageError(f"{path}: no such file or folder")
    if path.is_dir():
        if any(p.name.casefold() == MANIFEST for p in path.iterdir()):
            return _FolderMembers(path)
        zips = sorted(p for p in path.iterdir() if p.suffix.casefold() == ".zip")
        if len(zips) != 1:
            raise PackageError(
                f"{path}: a folder package holds {MANIFEST} and the CSV files, or one zip "
                f"(found {len(zips)} zips and no {MANIFEST})"
            )
        path = zips[0]
    if not zipfile.is_zipfile(path):
        raise PackageError(f"{path.name}: not a zip file (nor a folder of CSV files)")
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackageError(f"{path.name}: cannot be opened as a zip ({exc})") from None
    return _ZipMembers(archive)
