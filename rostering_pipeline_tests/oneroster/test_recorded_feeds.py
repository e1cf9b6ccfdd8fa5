"""The client against bodies shaped like real servers' feeds (fixtures/feeds): what it stores, what
it tolerates, and what its provider profile says."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest

from rostering_pipeline.oneroster.client import OneRosterClient
from rostering_pipeline.oneroster.entities import CLASSES, COURSES, USERS, Entity
from rostering_pipeline.oneroster.errors import ProviderError
from rostering_pipeline_tests.oneroster.fake_provider import FakeProvider

FEEDS = Path(__file__).parent.parent / "fixtures" / "feeds"


def recorded(name: str) -> tuple[str, list[dict]]:
    ((envelope, rows),) = orjson.loads((FEEDS / name).read_bytes()).items()
    return envelope, rows


def pull(name: str, entity: Entity, **config: object):
    envelope, rows = recorded(name)
    provider = FakeProvider(rows=rows, envelope=envelope)
    with OneRosterClient(provider.config(**config)) as client:
        return client.fetch(entity)


def values(frame: pd.DataFrame, column: str) -> list:
    return [None if pd.isna(v) else v for v in frame[column]]


def test_a_nordic_county_feed():
    result = pull("nordic_county_users.json", USERS, timezone="Europe/Oslo")
    frame, profile = result.frame, result.stats.profile
    assert values(frame, "role") == ["teacher", "student"]
    assert values(frame, "status") == ["active", "active"]
    assert values(frame, "enabled") == [True, True]
    assert values(frame, "email") == ["kari.nordmann@skole.example.no", None]
    assert values(frame, "middle_name") == [None, None]
    assert values(frame, "grades") == ["[]", '["07"]']
    # local wall clock of Oslo (CEST in August), not UTC
    assert frame["source_modified_at"].iloc[0] == pd.Timestamp("2017-08-13T22:36:18Z")
    assert frame["invalid_fields"].isna().all()
    assert profile.timestamp_style == "naive"
    assert profile.tolerated["enumeration_case"] == 2
    assert profile.tolerated["empty_string_as_absent"] >= 3


def test_a_latin_american_network_feed():
    classes = pull("latin_american_network_classes.json", CLASSES, timezone="America/Sao_Paulo")
    row = classes.frame.iloc[0]
    assert (row["class_type"], row["grades"], row["periods"]) == (
        "scheduled",
        '["6 ano - Portugues"]',
        '["1"]',
    )
    assert pd.isna(row["class_code"]) and pd.isna(row["invalid_fields"])
    assert row["source_modified_at"] == pd.Timestamp("2023-05-01T03:00:00Z")  # local midnight
    assert classes.stats.profile.timestamp_style == "date_only"
    assert classes.stats.profile.non_ceds_grades == ("6 ano - Portugues",)
    courses = pull("latin_american_network_courses.json", COURSES)
    course = courses.frame.iloc[0]
    assert course["school_year"] == "2018" and pd.isna(course["school_year_sourced_id"])
    assert courses.stats.profile.tolerated["school_year_as_year"] == 1


def test_a_csv_backed_server():
    result = pull("csv_backed_users.json", USERS)
    assert values(result.frame, "status") == ["active", "active"]
    assert values(result.frame, "source_modified_at") == [None, None]
    assert values(result.frame, "grades") == ["[]", '["KG"]']
    assert result.frame["invalid_fields"].isna().all()
    assert result.stats.profile.timestamp_style == "none"
    assert result.stats.profile.tolerated["empty_status_as_active"] == 2


def test_refs_without_sourced_id_flag_the_row_and_a_future_stamp_is_counted():
    result = pull("refs_without_sourced_id_users.json", USERS)
    assert values(result.frame, "org_sourced_ids") == ["[]", '["sch-1"]']
    assert values(result.frame, "invalid_fields") == ["org_sourced_ids", None]
    assert result.stats.profile.future_dated == 1


def test_a_bare_json_array_fails_in_one_clear_line():
    provider = FakeProvider()
    body = (FEEDS / "bare_array_users.json").read_bytes()
    provider.script.append(lambda request: httpx.Response(200, content=body))
    with pytest.raises(ProviderError) as raised, OneRosterClient(provider.config()) as client:
        client.fetch(USERS)
    assert "bare JSON array, not a OneRoster collection object" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_total_that_ignores_the_filter_is_no_error_in_a_delta():
    """The server counts the collection before applying `filter`: an empty first page while
    X-Total-Count says 2. A filtered pull pages until an empty page and says what it saw."""
    provider = FakeProvider(rows=[])
    provider.script.append(
        lambda request: httpx.Response(200, json={"users": []}, headers={"X-Total-Count": "2"})
    )
    with OneRosterClient(provider.config()) as client:
        result = client.fetch(USERS, modified_since=datetime(2026, 8, 1, tzinfo=UTC))
    assert len(result.frame) == 0
    assert result.stats.profile.totals_ignore_filter is True
    with OneRosterClient(provider.config()) as client:  # unfiltered: still strict
        provider.script.append(
            lambda request: httpx.Response(200, json={"users": []}, headers={"X-Total-Count": "2"})
        )
        with pytest.raises(ProviderError, match="first page is empty although X-Total-Count"):
            client.fetch(USERS)
