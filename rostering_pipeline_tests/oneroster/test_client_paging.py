from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pyarrow as pa
import pytest

from rostering_pipeline.oneroster import client as client_module
from rostering_pipeline.oneroster.client import OneRosterClient
from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.oneroster.errors import ProviderError
from rostering_pipeline_tests.oneroster.fake_provider import FakeProvider, user

USERS = ENTITIES["users"]


def pull(provider: FakeProvider, **config):
    with OneRosterClient(provider.config(**config)) as client:
        return client.fetch(USERS)


def offsets(provider: FakeProvider) -> list[tuple[int, int]]:
    return sorted(
        (int(r.url.params["offset"]), int(r.url.params["limit"])) for r in provider.data_requests
    )


def test_total_zero_is_one_request_and_an_empty_frame():
    provider = FakeProvider(rows=[])
    result = pull(provider)
    assert result.frame.empty
    assert result.frame.dtypes.to_dict() == USERS.dtypes()
    assert len(provider.data_requests) == 1
    assert (result.stats.rows, result.stats.pages) == (0, 1)


def test_total_an_exact_multiple_of_the_page_size_asks_no_extra_page():
    provider = FakeProvider(rows=[user(i) for i in range(30)])
    result = pull(provider)
    assert offsets(provider) == [(0, 10), (10, 10), (20, 10)]
    assert result.frame["sourced_id"].tolist() == [f"u{i:05d}" for i in range(30)]
    assert result.stats.pages == 3


def test_every_request_sorts_by_sourced_id_and_asks_for_the_contract_fields():
    provider = FakeProvider()
    pull(provider)
    for request in provider.data_requests:
        assert request.url.params["sort"] == "sourcedId"
        assert request.url.params["fields"].split(",") == list(USERS.fields)
    assert not any("/demographics" in str(r.url) for r in provider.data_requests)


def test_a_silently_capped_first_page_sets_the_page_size_for_the_rest():
    provider = FakeProvider(rows=[user(i) for i in range(23)], page_cap=4)
    result = pull(provider, concurrency=3)
    assert offsets(provider) == [(0, 10), *((o, 4) for o in range(4, 23, 4))]
    assert result.frame["sourced_id"].tolist() == [f"u{i:05d}" for i in range(23)]


def test_a_short_page_in_the_middle_has_its_gap_fetched():
    provider = FakeProvider(rows=[user(i) for i in range(30)])
    short = [user(i) for i in range(10, 13)]
    provider.script.extend(
        [
            provider.page,  # first page, normal
            lambda r: httpx.Response(200, json={"users": short}, headers={"X-Total-Count": "30"}),
        ]
    )
    result = pull(provider, concurrency=1)
    assert offsets(provider) == [(0, 10), (10, 10), (13, 7), (20, 10)]
    assert result.frame["sourced_id"].tolist() == [f"u{i:05d}" for i in range(30)]


def test_an_empty_page_before_the_total_is_an_error_not_a_short_roster():
    provider = FakeProvider(rows=[user(i) for i in range(30)])
    provider.script.extend(
        [
            provider.page,
            lambda r: httpx.Response(200, json={"users": []}, headers={"X-Total-Count": "30"}),
        ]
    )
    with pytest.raises(ProviderError, match="inconsistent paging"):
        pull(provider, concurrency=1)


def test_duplicate_sourced_ids_across_pages_fail_the_pull():
    provider = FakeProvider(rows=[user(i) for i in range(20)])
    overlapping = [user(i) for i in range(9, 19)]  # page 2 starts with page 1's last row
    provider.script.extend(
        [
            provider.page,
            lambda r: httpx.Response(
                200, json={"users": overlapping}, headers={"X-Total-Count": "20"}
            ),
        ]
    )
    with pytest.raises(ProviderError, match="u00009"):
        pull(provider)


def test_a_repeated_page_fails_the_pull_instead_of_looping():
    provider = FakeProvider(rows=[user(i) for i in range(30)], total_count=False)
    first = [user(i) for i in range(10)]
    provider.script.extend(lambda r: httpx.Response(200, json={"users": first}) for _ in range(100))
    with pytest.raises(ProviderError, match="repeats the page at 0"):
        pull(provider)
    assert len(provider.data_requests) == 2


def test_link_only_paging_follows_relative_next_links_across_newlines():
    provider = FakeProvider(rows=[user(i) for i in range(25)], total_count=False, link_header=True)
    result = pull(provider)
    assert len(result.frame) == 25
    assert offsets(provider) == [(0, 10), (10, 10), (20, 10)]
    assert result.stats.pages == 3


def test_a_next_link_to_another_host_is_refused():
    provider = FakeProvider(total_count=False)
    provider.script.append(
        lambda r: httpx.Response(
            200,
            json={"users": [user(1)]},
            headers={"Link": '<https://elsewhere.test/users?offset=1>; rel="next"'},
        )
    )
    with pytest.raises(ProviderError, match="origin"):
        pull(provider)


def test_without_total_or_link_paging_stops_at_the_first_empty_page():
    provider = FakeProvider(rows=[user(i) for i in range(23)], total_count=False, page_cap=5)
    result = pull(provider)
    assert len(result.frame) == 23
    # Offsets advance by the rows received; the empty page at 23 ends the pull.
    assert [o for o, _ in offsets(provider)] == [0, 5, 10, 15, 20, 23]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"users": [{"sourcedId": "u1"}, {"sourcedId": "u', "not valid JSON"),
        (b"<html><body>Service maintenance</body></html>", "HTML"),
        (b'{"classes": []}', "no 'users' or 'students' or 'teachers' collection"),
    ],
)
def test_a_200_that_is_not_a_collection_is_a_provider_error(body, reason):
    provider = FakeProvider()
    provider.script.append(lambda r: httpx.Response(200, content=body))
    with pytest.raises(ProviderError, match=reason) as caught:
        pull(provider)
    assert "/ims/oneroster/v1p1/users" in str(caught.value)


def test_envelope_variants_are_accepted():
    provider = FakeProvider(envelope="students")
    assert len(pull(provider).frame) == 25


def test_remaining_pages_are_fetched_concurrently_within_the_bound():
    provider = FakeProvider(rows=[user(i) for i in range(100)], latency_s=0.05)
    result = pull(provider, concurrency=3)
    assert provider.max_in_flight == 3
    assert len(result.frame) == 100
    assert result.frame["sourced_id"].is_monotonic_increasing


def test_pages_are_requested_only_so_far_ahead_of_a_slow_sink(monkeypatch):
    monkeypatch.setattr(client_module, "AHEAD_ROWS", 30)  # 3 pages of 10 ahead
    provider = FakeProvider(rows=[user(i) for i in range(200)])
    taken: list[int] = []
    ahead: list[int] = []

    def slow_sink(page: pa.Table) -> None:
        taken.append(page.num_rows)
        ahead.append(len(provider.data_requests) - len(taken))
        time.sleep(0.02)

    with OneRosterClient(provider.config(concurrency=2)) as client:
        result = client.fetch(USERS, sink=slow_sink)
    assert sum(taken) == result.stats.rows == 200
    assert len(provider.data_requests) == 20
    assert max(ahead) <= 3


def test_concurrency_one_is_serial():
    provider = FakeProvider(rows=[user(i) for i in range(40)], latency_s=0.01)
    pull(provider, concurrency=1)
    assert provider.max_in_flight == 1


def test_pages_shifted_back_by_one_row_are_reported_as_duplicates():
    # The last page then holds one row more than the total: the duplicates explain the miscount.
    provider = FakeProvider(rows=[user(i) for i in range(25)])

    def shifted(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        rows = provider.rows[max(offset - 1, 0) : offset - 1 + 10]
        return httpx.Response(200, json={"users": rows}, headers={"X-Total-Count": "25"})

    provider.script.extend([provider.page, shifted, shifted])
    with pytest.raises(ProviderError, match="sent more than once") as raised:
        pull(provider, concurrency=1)
    # each later page repeats the last row of the one before: the first is row 10 (offset 9)
    assert "e.g. 'u00009' (rows 10 and 11 of the pull)" in str(raised.value)


def test_more_rows_than_the_total_is_inconsistent():
    provider = FakeProvider(rows=[user(i) for i in range(3)])
    provider.script.append(
        lambda r: httpx.Response(200, json={"users": provider.rows}, headers={"X-Total-Count": "2"})
    )
    with pytest.raises(ProviderError, match="received 3 rows although X-Total-Count is 2"):
        pull(provider)


def test_a_roster_revision_change_during_the_pull_fails_it():
    provider = FakeProvider(rows=[user(i) for i in range(30)])

    def at_revision(revision: str):
        def respond(request: httpx.Request) -> httpx.Response:
            response = provider.page(request)
            response.headers["x-perm-rev"] = revision
            return response

        return respond

    provider.script.extend([at_revision("41"), at_revision("41"), at_revision("42")])
    with pytest.raises(ProviderError, match="x-perm-rev 41, 42"):
        pull(provider, concurrency=1)
    provider.script.extend(at_revision("42") for _ in range(3))
    assert len(pull(provider).frame) == 30


# --- filtered (delta) pulls: no total is trusted ---------------------------------------------

SINCE = datetime(2026, 8, 1, tzinfo=UTC)


def delta(provider: FakeProvider, **config):
    with OneRosterClient(provider.config(**config)) as client:
        return client.fetch(USERS, modified_since=SINCE)


def test_a_filtered_pull_pages_until_an_empty_page_through_silently_capped_pages():
    provider = FakeProvider(rows=[user(i) for i in range(23)], page_cap=4)
    result = delta(provider)
    assert len(result.frame) == 23
    assert offsets(provider)[-1] == (23, 10)  # the empty page that ends it
    assert result.stats.profile.totals_ignore_filter is False


def test_a_filtered_pull_still_fails_on_repeated_pages_and_duplicate_ids():
    first = [user(i) for i in range(10)]
    provider = FakeProvider(rows=[user(i) for i in range(30)])
    provider.script.extend(lambda r: httpx.Response(200, json={"users": first}) for _ in range(5))
    with pytest.raises(ProviderError, match="repeats the page at 0"):
        delta(provider)
    overlapping = [user(i) for i in range(9, 19)]
    provider = FakeProvider(rows=[user(i) for i in range(20)])
    provider.script.extend(
        [provider.page, lambda r: httpx.Response(200, json={"users": overlapping})]
    )
    with pytest.raises(ProviderError, match="u00009"):
        delta(provider)
