"""OzonClient list methods against respx: cursor paging, both answer shapes, loops, problems."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from daemon.ozon import (
    OzonAPIError,
    OzonClient,
    OzonProtocolError,
    OzonUnavailable,
    RateLimiter,
)
from daemon.ozon import listing as listing_module
from tests.conftest import OZON_FIXTURES, FakeTime

BASE = "http://127.0.0.1:9"
UNFULFILLED = "/v4/posting/fbs/unfulfilled/list"
LIST = "/v4/posting/fbs/list"
NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)


def fixture_json(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


def make_client(fake_time: FakeTime, **options: Any) -> OzonClient:
    settings: dict[str, Any] = {
        "base_url": BASE,
        "sleep": fake_time.sleep,
        "clock": fake_time.clock,
        "wall_clock": lambda: NOW,
        "random": lambda: 1.0,
        # A limiter of its own, fast enough never to sleep, keeps fake_time.sleeps for retries.
        "rate_limiter": RateLimiter(1e9),
    }
    settings.update(options)
    return OzonClient("123456", "test-api-key", **settings)


@pytest.fixture
def ozon() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def page(postings: list[Any], cursor: str, has_next: bool) -> dict[str, Any]:
    return {"postings": postings, "cursor": cursor, "has_next": has_next, "count": 5}


def posting(number: str) -> dict[str, Any]:
    item: dict[str, Any] = copy.deepcopy(
        fixture_json("v4_unfulfilled_list.response.page1.json")["postings"][1]
    )
    item["posting_number"] = number
    return item


def sent_bodies(route: respx.Route) -> list[Any]:
    return [json.loads(call.request.content) for call in route.calls]


async def collect(listing: Any) -> list[list[str]]:
    return [[p.posting_number for p in page.postings] async for page in listing]


@pytest.mark.parametrize("wrapped", [False, True], ids=["top-level", "result-wrapped"])
async def test_unfulfilled_list_pages_through_three_pages_by_cursor(
    ozon: respx.MockRouter, fake_time: FakeTime, wrapped: bool
) -> None:
    answers = [
        page([posting("1-1-1"), posting("1-1-2")], "c1", True),
        page([posting("2-1-1")], "c2", True),
        page([posting("3-1-1")], "", False),
    ]
    route = ozon.post(UNFULFILLED).mock(
        side_effect=[httpx.Response(200, json={"result": a} if wrapped else a) for a in answers]
    )
    async with make_client(fake_time) as client:
        listing = client.list_unfulfilled(
            cutoff_from=NOW - timedelta(days=30),
            cutoff_to=NOW + timedelta(days=30),
            statuses=["awaiting_packaging", "awaiting_deliver"],
            warehouse_ids=[1020001234567000],
        )
        assert listing.completed is False
        numbers = await collect(listing)
    assert numbers == [["1-1-1", "1-1-2"], ["2-1-1"], ["3-1-1"]]
    assert listing.completed is True
    assert listing.pages == 3
    bodies = sent_bodies(route)
    assert [body["cursor"] for body in bodies] == ["", "c1", "c2"]
    assert all(body["limit"] == 100 for body in bodies)
    assert bodies[0]["filter"] == {
        "cutoff_from": "2026-10-27T03:30:00Z",
        "cutoff_to": "2026-12-26T03:30:00Z",
        "statuses": ["awaiting_packaging", "awaiting_deliver"],
        "warehouse_ids": ["1020001234567000"],
    }
    assert all(body["filter"] == bodies[0]["filter"] for body in bodies)


async def test_every_request_carries_client_id_api_key_and_json_content_type(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(UNFULFILLED).mock(return_value=httpx.Response(200, json=page([], "", False)))
    async with make_client(fake_time) as client:
        await collect(client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW))
    headers = route.calls.last.request.headers
    assert headers["Client-Id"] == "123456"
    assert headers["Api-Key"] == "test-api-key"
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "second_cursor", ["c1", "", "c0"], ids=["repeats-last", "empty", "repeats-older"]
)
async def test_a_repeated_or_empty_cursor_with_has_next_raises_instead_of_looping(
    ozon: respx.MockRouter, fake_time: FakeTime, second_cursor: str
) -> None:
    answers = [
        page([posting("1-1-1")], "c0", True),
        page([posting("2-1-1")], "c1", True),
        page([posting("3-1-1")], second_cursor, True),
    ]
    route = ozon.post(UNFULFILLED).mock(
        side_effect=[httpx.Response(200, json=a) for a in answers]
        + [httpx.Response(200, json=page([], "c9", True))] * 5
    )
    async with make_client(fake_time) as client:
        listing = client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW)
        seen: list[list[str]] = []
        with pytest.raises(OzonProtocolError) as caught:
            async for result in listing:
                seen.append([p.posting_number for p in result.postings])
        assert [p async for p in listing] == []
    assert seen == [["1-1-1"], ["2-1-1"]]
    assert route.call_count == 3
    assert listing.completed is False
    assert caught.value.field == "cursor"
    assert caught.value.path == UNFULFILLED
    assert "cursor" in str(caught.value)


async def test_one_bad_posting_in_a_page_is_reported_and_the_others_arrive(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    bad = posting("2-2-2")
    del bad["shipment_date"]
    ozon.post(UNFULFILLED).mock(
        return_value=httpx.Response(
            200, json=page([posting("1-1-1"), bad, posting("3-3-3")], "", False)
        )
    )
    async with make_client(fake_time) as client:
        listing = client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW)
        (result,) = [p async for p in listing]
    assert [p.posting_number for p in result.postings] == ["1-1-1", "3-3-3"]
    assert [(p.posting_number, p.field) for p in result.problems] == [("2-2-2", "shipment_date")]
    assert listing.completed is True


async def test_an_error_in_the_middle_of_paging_propagates_and_leaves_it_incomplete(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(UNFULFILLED).mock(
        side_effect=[
            httpx.Response(200, json=page([posting("1-1-1")], "c1", True)),
            httpx.Response(400, json={"code": 3, "message": "invalid cursor"}),
        ]
    )
    async with make_client(fake_time) as client:
        listing = client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW)
        pages = []
        with pytest.raises(OzonAPIError) as caught:
            async for result in listing:
                pages.append(result)
    assert len(pages) == 1
    assert listing.completed is False
    assert (caught.value.status, caught.value.code) == (400, 3)


async def test_a_page_that_stays_unavailable_ends_paging_with_ozon_unavailable(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(UNFULFILLED).mock(
        side_effect=[httpx.Response(200, json=page([posting("1-1-1")], "c1", True))]
        + [httpx.Response(503, text="busy")] * 20
    )
    async with make_client(fake_time, retry_for=10.0) as client:
        listing = client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW)
        with pytest.raises(OzonUnavailable):
            async for _ in listing:
                pass
    assert listing.completed is False


async def test_list_changed_asks_for_status_changes_within_a_period_of_at_most_a_year(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(LIST).mock(
        return_value=httpx.Response(200, json=fixture_json("v4_fbs_list.response.json"))
    )
    async with make_client(fake_time) as client:
        default = client.list_changed(NOW - timedelta(hours=1), statuses=["cancelled"])
        (result,) = [p async for p in default]
        oldest = client.list_changed(
            NOW - timedelta(minutes=5),
            changed_to=NOW - timedelta(minutes=1),
            processed_since=NOW - timedelta(days=10),
            warehouse_ids=["1020001234567000"],
        )
        await collect(oldest)
        too_old = client.list_changed(NOW, processed_since=NOW - timedelta(days=900))
        await collect(too_old)
    assert result.postings[0].status == "cancelled"
    assert default.completed
    first, second, third = (body["filter"] for body in sent_bodies(route))
    assert first == {
        "since": "2025-11-27T03:30:00Z",
        "to": "2026-11-27T03:30:00Z",
        "last_changed_status_date": {"from": "2026-11-26T02:30:00Z", "to": "2026-11-26T03:30:00Z"},
        "statuses": ["cancelled"],
    }
    assert second["since"] == "2026-11-16T03:30:00Z"
    assert second["last_changed_status_date"] == {
        "from": "2026-11-26T03:25:00Z",
        "to": "2026-11-26T03:29:00Z",
    }
    assert second["warehouse_ids"] == ["1020001234567000"]
    for body in (first, second, third):
        span = datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["since"])
        assert span <= timedelta(days=365)


async def test_list_arguments_are_checked_before_any_request(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(UNFULFILLED)
    async with make_client(fake_time) as client:
        naive = datetime(2026, 11, 26)  # noqa: DTZ001 - the point of the test
        with pytest.raises(ValueError, match="aware"):
            client.list_unfulfilled(cutoff_from=naive, cutoff_to=NOW)
        with pytest.raises(ValueError, match="reversed"):
            client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW - timedelta(days=1))
        with pytest.raises(ValueError, match="one-year"):
            client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW + timedelta(days=366))
        with pytest.raises(ValueError, match="warehouse_ids"):
            client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW, warehouse_ids=["main"])
        with pytest.raises(ValueError, match="statuses"):
            client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW, statuses="cancelled")
        with pytest.raises(ValueError, match="page_size"):
            client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW, page_size=1000)
        with pytest.raises(ValueError, match="changed_since"):
            client.list_changed(NOW + timedelta(hours=1))
    assert route.call_count == 0


async def test_has_next_with_a_new_cursor_forever_ends_as_unreadable_after_max_pages(
    ozon: respx.MockRouter, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing_module, "MAX_PAGES", 7)
    calls = iter(range(1, 1000))
    route = ozon.post(UNFULFILLED).mock(
        side_effect=lambda request: httpx.Response(
            200, json=page([posting(f"{(n := next(calls))}-1-1")], f"c{n}", True)
        )
    )
    async with make_client(fake_time) as client:
        listing = client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW)
        seen: list[str] = []
        with pytest.raises(OzonProtocolError) as caught:
            async for result in listing:
                seen.extend(p.posting_number for p in result.postings)
    assert len(seen) == 6  # the 7th page is read, then paging stops instead of going on
    assert route.call_count == 7
    assert listing.completed is False
    assert "after 7 pages" in str(caught.value)


@pytest.mark.parametrize("depth", [1500, 100_000])
async def test_json_nested_thousands_of_levels_deep_is_an_unreadable_answer_not_a_crash(
    ozon: respx.MockRouter, fake_time: FakeTime, depth: int
) -> None:
    answer = json.dumps(page([posting("1-1-1")], "", False))
    nested = answer[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    ozon.post(UNFULFILLED).mock(return_value=httpx.Response(200, content=nested.encode()))
    async with make_client(fake_time, retry_for=1.0) as client:
        listing = client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW)
        with pytest.raises(OzonUnavailable) as caught:  # retried like any unreadable answer
            [p async for p in listing]
    assert "is not JSON" in str(caught.value)  # `once` exits 75, `run` alerts api_error
