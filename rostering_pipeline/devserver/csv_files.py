"""The synthetic district as a OneRoster CSV package (1.1 or 1.2, bulk or delta), with switchable
quirks of real files: for the demo, the tests and the benchmarks.

Written from the provider's own wire objects (serialize.py) and its own header lists, sharing
nothing with the pipeline's CSV reader, so a test of one against the other catches a mistake in
either.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rostering_pipeline.devserver.feeds import parse_knobs
from rostering_pipeline.devserver.records import Record
from rostering_pipeline.devserver.serialize import WireStyle, shaper
from rostering_pipeline.devserver.settings import Quirks
from rostering_pipeline.devserver.synthetic import District, day_stamp

# The files written and their headers, in the CSV binding's order.
_HEADERS_1_1: dict[str, tuple[str, ...]] = {
    "orgs": ("sourcedId", "status", "dateLastModified", "name", "type", "identifier",
             "parentSourcedId"),
    "academicSessions": ("sourcedId", "status", "dateLastModified", "title", "type", "startDate",
                         "endDate", "parentSourcedId", "schoolYear"),
    "courses": ("sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title",
                "courseCode", "grades", "orgSourcedId", "subjects", "subjectCodes"),
    "classes": ("sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId",
                "classCode", "classType", "location", "schoolSourcedId", "termSourcedIds",
                "subjects", "subjectCodes", "periods"),
    "users": ("sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
              "username", "userIds", "givenName", "familyName", "middleName", "identifier",
              "email", "sms", "phone", "agentSourcedIds", "grades", "password"),
    "enrollments": ("sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role",
                    "status", "dateLastModified", "primary", "beginDate", "endDate"),
}  # fmt: skip
_USERS_1_2 = ("sourcedId", "status", "dateLastModified", "enabledUser", "username", "userIds",
              "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone",
              "agentSourcedIds", "grades", "password", "userMasterIdentifier",
              "resourceSourcedIds", "preferredGivenName", "preferredMiddleName",
              "preferredFamilyName", "primaryOrgSourcedId", "pronouns")  # fmt: skip
_ROLES_1_2 = ("sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role",
              "beginDate", "endDate", "orgSourcedId", "userProfileSourcedId")  # fmt: skip
# What 1.1 packages usually mark absent: files the pipeline has no use for.
_OTHER_FILES = ("categories", "classResources", "courseResources", "demographics",
                "lineItems", "resources", "results")  # fmt: skip
# CSV header -> wire field, where they differ (references hold a sourcedId, lists join by ",").
_FIELD_OF = {
    "parentSourcedId": "parent",
    "schoolYearSourcedId": "schoolYear",
    "orgSourcedId": "org",
    "courseSourcedId": "course",
    "schoolSourcedId": "school",
    "termSourcedIds": "terms",
    "orgSourcedIds": "orgs",
    "agentSourcedIds": "agents",
    "classSourcedId": "class",
    "userSourcedId": "user",
    "preferredGivenName": "preferredFirstName",
    "preferredFamilyName": "preferredLastName",
    "primaryOrgSourcedId": "primaryOrg",
}
_VENDOR_COLUMNS = ("vendor_guid", "ext_sis_export_batch")
_BOOLS = {"lower": ("false", "true"), "upper": ("FALSE", "TRUE"), "digit": ("0", "1")}


@dataclass(frozen=True)
class CsvQuirks:
    """What real packages do, each switchable."""

    bom: bool = False  # a UTF-8 byte-order mark at the start of every file
    crlf: bool = False  # CRLF line endings
    shuffled_columns: bool = False  # columns in another order, plus vendor columns
    blank_status: bool = False  # blank status and dateLastModified in bulk files
    bool_style: str = "lower"  # lower: true | upper: TRUE | digit: 1
    slashed_dates: bool = False  # dates as 8/1/2026 (month/day/year)
    tricky_text: bool = False  # class titles and locations holding commas, quotes, newlines
    in_folder: bool = False  # the files under a folder inside the zip
    no_courses: bool = False  # courses.csv left out (file.courses=absent), classes still name them
    # Keep only this share of users (and their enrollments): an export cut short upstream
    truncate_users: float | None = None

    def __post_init__(self) -> None:
        if self.bool_style not in _BOOLS:
            raise ValueError(f"bool_style is one of {', '.join(_BOOLS)}")


def parse_csv_quirks(knobs: tuple[str, ...]) -> CsvQuirks:
    """`dev-provider export-csv --quirk` values, e.g. `bom`, `bool_style=digit`."""
    return parse_knobs(CsvQuirks, knobs, "CSV quirk")


def write_package(
    district: District,
    out: Path,
    *,
    version: str = "1.1",
    delta_since_day: int | None = None,
    quirks: CsvQuirks = CsvQuirks(),
) -> Path:
    """The district as it stands (`district.day`) as a zip at `out`: every record (bulk), or
    only those changed on or after `delta_since_day` (delta; removed records are not in it).
    Rows stream into the zip as they are made: a large district is never held twice."""
    since = day_stamp(district.spec, delta_since_day) if delta_since_day is not None else None
    bulk = since is None
    style = WireStyle("", Quirks(extra_fields=False), version)
    tables = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")
    written: list[str] = []
    kept_users: set[str] | None = None  # with truncate_users: the users the file keeps
    roles: list[dict[str, Any]] = []
    folder = f"oneroster_{version.replace('.', 'p')}/" if quirks.in_folder else ""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:

        def write(name: str, headers: tuple[str, ...], records: Iterable[dict]) -> None:
            _write_csv(archive, f"{folder}{name}.csv", headers, records, quirks, bulk=bulk)
            written.append(name)

        for table in tables:
            if table == "courses" and quirks.no_courses:
                continue
            shape = shaper(table, style)
            records: Iterable[dict] = (
                shape(r) for r in _changed(district.tables[table].records, since)
            )
            if quirks.truncate_users is not None and table == "users":
                users = list(records)
                records = users[: int(len(users) * quirks.truncate_users)]
                kept_users = {r["sourcedId"] for r in records}
            elif kept_users is not None and table == "enrollments":
                records = (r for r in records if r["user"]["sourcedId"] in kept_users)
            if version == "1.2" and table == "users":
                records = _collecting_roles(records, roles)
                write(table, _USERS_1_2, records)
                write("roles", _ROLES_1_2, roles)
            else:
                write(table, _HEADERS_1_1[table], records)
        mode = "bulk" if bulk else "delta"
        manifest = [("manifest.version", "1.0"), ("oneroster.version", version)]
        for name in sorted({*tables, *_OTHER_FILES, *(("roles",) if version == "1.2" else ())}):
            manifest.append((f"file.{name}", mode if name in written else "absent"))
        manifest.append(("source.systemName", "rostering_pipeline dev-provider"))
        with _text(archive, f"{folder}manifest.csv", quirks) as text:
            _writer(text, quirks).writerows([("propertyName", "value"), *manifest])
    return out


def _changed(records: Iterable[Record], since: str | None) -> Iterator[Record]:
    return iter(records) if since is None else (r for r in records if r.dateLastModified >= since)


def _collecting_roles(users: Iterable[dict], roles: list[dict]) -> Iterator[dict]:
    """The users as they go by, with 1.2's roles.csv rows gathered from their roles lists."""
    for user in users:
        roles.extend(_role_rows(user))
        yield user


def _write_csv(
    archive: zipfile.ZipFile,
    name: str,
    headers: tuple[str, ...],
    records: Iterable[dict[str, Any]],
    quirks: CsvQuirks,
    *,
    bulk: bool,
) -> None:
    order = list(headers)
    if quirks.shuffled_columns:
        order = [*reversed(order), *_VENDOR_COLUMNS]
    with _text(archive, name, quirks) as text:
        writer = _writer(text, quirks)
        writer.writerow(order)
        writer.writerows([_cell(r, h, quirks, bulk=bulk) for h in order] for r in records)


def _text(archive: zipfile.ZipFile, name: str, quirks: CsvQuirks) -> io.TextIOWrapper:
    encoding = "utf-8-sig" if quirks.bom else "utf-8"
    return io.TextIOWrapper(archive.open(name, "w"), encoding=encoding, newline="")


def _writer(text: io.TextIOWrapper, quirks: CsvQuirks) -> Any:
    return csv.writer(text, lineterminator="\r\n" if quirks.crlf else "\n")


def _cell(record: dict[str, Any], header: str, quirks: CsvQuirks, *, bulk: bool) -> str:
    if header in _VENDOR_COLUMNS:
        return f"x-{len(record.get('sourcedId', ''))}"
    blanked = bulk and quirks.blank_status and record.get("status") == "active"
    if blanked and header in ("status", "dateLastModified"):
        return ""
    value = record.get(_FIELD_OF.get(header, header))
    if value is None:
        return ""
    if isinstance(value, bool) or value in ("true", "false"):
        false_text, true_text = _BOOLS[quirks.bool_style]
        return true_text if value in (True, "true") else false_text
    if isinstance(value, dict):
        return value["sourcedId"]
    if isinstance(value, list):
        return ",".join(item["sourcedId"] if isinstance(item, dict) else item for item in value)
    text = str(value)
    if quirks.slashed_dates and header in ("startDate", "endDate", "beginDate"):
        year, month, day = text.split("-")
        return f"{int(month)}/{int(day)}/{year}"
    if quirks.tricky_text and header in ("title", "location") and "classType" in record:
        return f'{text}, "A"\nwing' if header == "location" else f'{text}, "honors"'
    return text


def _role_rows(user: dict[str, Any]) -> list[dict[str, Any]]:
    """1.2's roles.csv rows of one user, from its roles list."""
    return [
        {
            "sourcedId": f"{user['sourcedId']}-r{i}",
            "status": user["status"],
            "dateLastModified": user["dateLastModified"],
            "user": user["sourcedId"],
            "roleType": role["roleType"],
            "role": role["role"],
            "org": role["org"]["sourcedId"],
        }
        for i, role in enumerate(user.get("roles", []))
    ]
