"""Faithfulness: every sandbox answer validates against the official OpenAPI documents, has the
fixtures' fields, and its errors are Ozon's (code + message) as the fixtures record them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from daemon.sandbox import Knobs, Sandbox, SandboxOptions
from tests.conftest import OZON_FIXTURES
from tests.openapi_schema import response_schema, validate

WINDOW = {"cutoff_from": "2026-01-01T00:00:00Z", "cutoff_to": "2026-12-31T00:00:00Z"}
ALL_WITH = {"analytics_data": True, "barcodes": True, "financial_data": True, "legal_info": True}
RPC_STATUS = {"$ref": "#/components/schemas/rpcStatus"}


def _fixture(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bulk() -> Iterator[Sandbox]:
    options = SandboxOptions(scenario="bulk", postings=400, seed=5, knobs=Knobs(rate_limit=0))
    with Sandbox(options) as sb:
        # Every kind of change, so the answers include split parts and every cancellation.
        packaging = sb.posting_numbers("awaiting_packaging")
        sb.split(packaging[0], parts=3)
        sb.cancel_by_buyer(packaging[1])
        sb.cancel_by_seller(packaging[2])
        sb.ship(packaging[3])
        sb.hand_over(packaging[3])
        yield sb


@pytest.fixture(scope="module")
def client(bulk: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Client-Id": bulk.client_id, "Api-Key": bulk.api_key}
    with httpx.Client(base_url=bulk.base_url, headers=headers) as http:
        yield http


def _pages(client: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    while True:
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        if not pages[-1]["has_next"]:
            return pages
        body = {**body, "cursor": pages[-1]["cursor"]}


@pytest.mark.parametrize("with_", [{}, ALL_WITH], ids=["plain", "every-opt-in-block"])
def test_unfulfilled_list_answers_validate_against_the_2026_document(
    client: httpx.Client, fbs_openapi: dict[str, Any], with_: dict[str, bool]
) -> None:
    path = "/v4/posting/fbs/unfulfilled/list"
    pages = _pages(client, path, {"limit": 100, "filter": WINDOW, "with": with_})
    schema = response_schema(fbs_openapi, path)
    for page in pages:
        validate(page, schema, fbs_openapi)
    assert sum(len(page["postings"]) for page in pages) == pages[0]["count"] > 300


@pytest.mark.parametrize("with_", [{}, ALL_WITH], ids=["plain", "every-opt-in-block"])
def test_fbs_list_answers_validate_against_the_2026_document(
    client: httpx.Client, fbs_openapi: dict[str, Any], with_: dict[str, bool]
) -> None:
    path = "/v4/posting/fbs/list"
    body = {
        "limit": 100,
        "filter": {"since": "2026-01-01T00:00:00Z", "to": "2026-12-31T00:00:00Z"},
        "with": with_,
    }
    pages = _pages(client, path, body)
    schema = response_schema(fbs_openapi, path)
    for page in pages:
        validate(page, schema, fbs_openapi)
        assert "count" not in page
    statuses = {p["status"] for page in pages for p in page["postings"]}
    assert {"cancelled", "cancelled_from_split_pending", "delivered", "delivering"} <= statuses


def test_get_answers_validate_for_every_status(
    bulk: Sandbox, client: httpx.Client, fbs_openapi: dict[str, Any]
) -> None:
    path = "/v3/posting/fbs/get"
    schema = response_schema(fbs_openapi, path)
    seen: set[str] = set()
    for number in bulk.posting_numbers():
        status = bulk.status(number)
        if status in seen:
            continue
        seen.add(status)
        body = {"posting_number": number, "with": {**ALL_WITH, "related_postings": True}}
        answer = client.post(path, json=body)
        assert answer.status_code == 200
        validate(answer.json(), schema, fbs_openapi)
    assert len(seen) >= 6


def test_cancel_methods_answers_validate(
    bulk: Sandbox,
    client: httpx.Client,
    fbs_openapi: dict[str, Any],
    seller_openapi: dict[str, Any],
) -> None:
    numbers = bulk.posting_numbers("awaiting_packaging")[5:8]
    reasons = client.post(
        "/v1/posting/fbs/cancel-reason", json={"related_posting_numbers": numbers}
    )
    validate(
        reasons.json(), response_schema(fbs_openapi, "/v1/posting/fbs/cancel-reason"), fbs_openapi
    )
    listing = client.post("/v2/posting/fbs/cancel-reason/list", json={})
    validate(
        listing.json(),
        response_schema(seller_openapi, "/v2/posting/fbs/cancel-reason/list"),
        seller_openapi,
    )
    cancelled = client.post(
        "/v2/posting/fbs/cancel", json={"posting_number": numbers[0], "cancel_reason_id": 352}
    )
    validate(cancelled.json(), response_schema(fbs_openapi, "/v2/posting/fbs/cancel"), fbs_openapi)
    roles = client.post("/v1/roles", json={})
    validate(roles.json(), response_schema(seller_openapi, "/v1/roles"), seller_openapi)


def test_error_answers_validate_as_rpc_status(
    client: httpx.Client, fbs_openapi: dict[str, Any]
) -> None:
    answers = [
        client.post("/v4/posting/fbs/unfulfilled/list", json={"limit": 100}),
        client.post("/v4/posting/fbs/list", json={"limit": 500, "filter": {}}),
        client.post("/v3/posting/fbs/get", json={"posting_number": "00000000-0000-1"}),
        client.post("/v2/posting/fbs/cancel", json={"posting_number": "x"}),
        client.post("/v1/roles", json={}, headers={"Api-Key": "wrong"}),
    ]
    assert [a.status_code for a in answers] == [400, 400, 404, 400, 403]
    for answer in answers:
        validate(answer.json(), RPC_STATUS, fbs_openapi)


def test_list_postings_have_exactly_the_fixture_fields(client: httpx.Client) -> None:
    fixture = _fixture("v4_unfulfilled_list.response.page1.json")
    answer = client.post(
        "/v4/posting/fbs/unfulfilled/list", json={"limit": 5, "filter": WINDOW}
    ).json()
    assert set(answer) == set(fixture)
    for posting in answer["postings"]:
        assert set(posting) == set(fixture["postings"][1])
        assert set(posting["tariffication"]) == set(fixture["postings"][1]["tariffication"])
        assert set(posting["products"][0]) == set(fixture["postings"][1]["products"][0])
        assert isinstance(posting["products"][0]["price"]["amount"], str)


def test_get_posting_has_the_fixture_fields_in_the_get_shape(
    bulk: Sandbox, client: httpx.Client
) -> None:
    fixture = _fixture("v3_fbs_get.response.json")["result"]
    number = bulk.posting_numbers("awaiting_packaging")[10]
    result = client.post("/v3/posting/fbs/get", json={"posting_number": number}).json()["result"]
    assert set(result) == set(fixture)
    assert set(result["products"][0]) == set(fixture["products"][0])
    assert isinstance(result["products"][0]["price"], str)
    assert result["products"][0]["currency_code"] == "RUB"
    assert set(result["prr_option"]) == set(fixture["prr_option"])
    assert set(result["tariffication"]) == set(fixture["tariffication"])


def test_cancel_reason_list_holds_the_fixture_reasons(client: httpx.Client) -> None:
    fixture = _fixture("v2_cancel_reason_list.response.json")["result"]
    answer = client.post("/v2/posting/fbs/cancel-reason/list", json={}).json()["result"]
    for reason in fixture:
        assert reason in answer


@pytest.mark.parametrize(
    ("name", "request_body", "raw"),
    [
        ("error_400_missing_window.json", {"limit": 10, "filter": {"statuses": ["x"]}}, None),
        (
            "error_400_bad_json.json",
            None,
            # The fixture's `[` is at line 1, column 83.
            b'{"limit": 100, "sort_dir": "ASC",' + b" " * 39 + b'"filter": []}',
        ),
    ],
    ids=["missing-window", "filter-as-array"],
)
def test_error_bodies_match_the_fixtures(
    client: httpx.Client, name: str, request_body: Any, raw: bytes | None
) -> None:
    fixture = _fixture(name)
    if raw is None:
        answer = client.post("/v4/posting/fbs/unfulfilled/list", json=request_body)
    else:
        answer = client.post("/v4/posting/fbs/unfulfilled/list", content=raw)
    assert answer.status_code == fixture["_http"]["status"]
    assert answer.json() == fixture["body"]


def test_wrong_cancel_reason_matches_the_fixture(bulk: Sandbox, client: httpx.Client) -> None:
    number = bulk.posting_numbers("awaiting_packaging")[20]
    answer = client.post(
        "/v2/posting/fbs/cancel", json={"posting_number": number, "cancel_reason_id": 401}
    )
    assert (answer.status_code, answer.json()) == (
        400,
        _fixture("v2_cancel.error_wrong_reason.json"),
    )


def test_answers_under_the_cancellation_knobs_validate(fbs_openapi: dict[str, Any]) -> None:
    options = SandboxOptions(scenario="demo", events=False, knobs=Knobs(rate_limit=0))
    get_schema = response_schema(fbs_openapi, "/v3/posting/fbs/get")
    cancel_schema = response_schema(fbs_openapi, "/v2/posting/fbs/cancel")
    overdue, other = "10000001-0001-1", "10000003-0003-1"
    with Sandbox(options) as sb:
        headers = {"Client-Id": sb.client_id, "Api-Key": sb.api_key}
        with httpx.Client(base_url=sb.base_url, headers=headers) as http:

            def get(number: str) -> httpx.Response:
                body = {"posting_number": number, "with": {**ALL_WITH, "related_postings": True}}
                return http.post("/v3/posting/fbs/get", json=body)

            def cancel(number: str) -> httpx.Response:
                body = {"posting_number": number, "cancel_reason_id": 352}
                return http.post("/v2/posting/fbs/cancel", json=body)

            sb.set_knobs(cancel_429_for=60, not_found_on_get=[overdue])
            refused, missing = cancel(overdue), get(overdue)
            assert (refused.status_code, missing.status_code) == (429, 404)
            for answer in (refused, missing):
                validate(answer.json(), RPC_STATUS, fbs_openapi)
            sb.set_knobs(cancel_429_for=0, cancel_apply_delay=30)
            taken = cancel(overdue)
            assert taken.status_code == 200
            validate(taken.json(), cancel_schema, fbs_openapi)
            pending = get(overdue)
            assert pending.json()["result"]["status"] == "awaiting_packaging"
            validate(pending.json(), get_schema, fbs_openapi)
            sb.advance(30)
            sb.in_carriage(other)
            packed = "10000004-0004-1"
            sb.pack(packed)
            for number, status in (
                (overdue, "cancelled"),
                (other, "awaiting_deliver"),
                (packed, "awaiting_deliver"),
            ):
                answer = get(number)
                assert answer.json()["result"]["status"] == status
                validate(answer.json(), get_schema, fbs_openapi)


# ---------------------------------------------------------------- ratings and tariffs (issue 20)

RATING_SUMMARY, ERROR_INDEX = "/v1/rating/summary", "/v1/rating/index/fbs/info"


def test_rating_answers_validate_against_their_documents(
    client: httpx.Client, seller_openapi: dict[str, Any], rating_index_openapi: dict[str, Any]
) -> None:
    summary = client.post(RATING_SUMMARY, json={})
    index = client.post(ERROR_INDEX, json={})
    assert (summary.status_code, index.status_code) == (200, 200)
    validate(summary.json(), response_schema(seller_openapi, RATING_SUMMARY), seller_openapi)
    validate(index.json(), response_schema(rating_index_openapi, ERROR_INDEX), rating_index_openapi)
    items = {item["rating"]: item for item in summary.json()["groups"][0]["items"]}
    assert {"rating_order_cancellation", "rating_shipment_delay"} <= set(items)
    for item in items.values():
        assert item["status"] in ("OK", "WARNING", "CRITICAL")
        assert item["change"]["direction"].startswith("DIRECTION_")
    body = index.json()
    assert len(body["defects"]) == 14
    assert body["period_to"] == body["defects"][-1]["date"]
    assert 0 <= body["index"] <= 1  # the sandbox writes a fraction


def test_rating_methods_answer_403_for_a_key_without_the_role(
    seller_openapi: dict[str, Any],
) -> None:
    options = SandboxOptions(
        scenario="empty",
        events=False,
        knobs=Knobs(rate_limit=0, forbidden_methods=[RATING_SUMMARY, ERROR_INDEX]),
    )
    with Sandbox(options) as sb:
        headers = {"Client-Id": sb.client_id, "Api-Key": sb.api_key}
        with httpx.Client(base_url=sb.base_url, headers=headers) as http:
            answers = [http.post(path, json={}) for path in (RATING_SUMMARY, ERROR_INDEX)]
            roles = http.post("/v1/roles", json={}).json()
    assert [a.status_code for a in answers] == [403, 403]
    for answer in answers:
        assert answer.json() == _fixture("error_403_missing_role.json")["body"]
        validate(answer.json(), RPC_STATUS, seller_openapi)
    listed = {method for role in roles["roles"] for method in role["methods"]}
    assert RATING_SUMMARY not in listed and ERROR_INDEX not in listed


def _open_postings(client: httpx.Client) -> list[dict[str, Any]]:
    pages = _pages(
        client, "/v4/posting/fbs/unfulfilled/list", {"limit": 100, "filter": WINDOW, "with": {}}
    )
    return [posting for page in pages for posting in page["postings"]]


def test_postings_carry_a_tariff_timeline_that_follows_the_clock(
    bulk: Sandbox, client: httpx.Client
) -> None:
    now = bulk.now()
    postings = _open_postings(client)
    soon = marker = 0
    for posting in postings:
        steps = posting["tariffication_steps"]
        tariff = posting["tariffication"]
        assert steps[-1]["tariff_deadline_at"].startswith("9999-12-31")
        assert [s["tariff_type"] for s in steps][:2] == ["discount", "discount"]
        assert all(s["min_charge"] for s in steps if s["tariff_type"] == "commission")
        current = next(
            s
            for s in steps
            if s["tariff_deadline_at"].startswith("9999")
            or datetime.fromisoformat(s["tariff_deadline_at"].replace("Z", "+00:00")) >= now
        )
        assert (tariff["current_tariff_type"], tariff["current_tariff_rate"]) == (
            current["tariff_type"],
            current["tariff_rate"],
        )
        assert tariff["current_tariff_charge"] == current["tariff_charge"]
        starts = tariff["next_tariff_starts_at"]
        if starts.startswith("9999-12-31"):
            marker += 1
            assert tariff["next_tariff_charge"] is None
            continue
        at = datetime.fromisoformat(starts.replace("Z", "+00:00"))
        assert at == datetime.fromisoformat(
            current["tariff_deadline_at"].replace("Z", "+00:00")
        ) + timedelta(seconds=1)
        soon += at - now <= timedelta(hours=2)
    assert soon >= 5, "some postings reach their next tariff step within two hours"
    assert marker >= 5, "the long-overdue ones are in their last step"


def test_the_tariff_steps_up_when_sandbox_time_passes_its_deadline() -> None:
    options = SandboxOptions(scenario="empty", events=False, knobs=Knobs(rate_limit=0))
    with Sandbox(options) as sb:
        number = sb.add_posting(sb.now() + timedelta(minutes=30))
        before = sb.posting(number)["tariffication"]
        sb.advance(3600)
        after = sb.posting(number)["tariffication"]
    assert (before["current_tariff_type"], before["current_tariff_rate"]) == ("discount", 2)
    assert before["next_tariff_type"] == "commission"
    assert (after["current_tariff_type"], after["current_tariff_rate"]) == ("commission", 1)
    assert after["current_tariff_charge"] == before["next_tariff_charge"]


def test_blocked_postings_name_the_missing_data_and_their_skus(client: httpx.Client) -> None:
    missing: dict[str, int] = {}
    for posting in _open_postings(client):
        skus = {p["sku"] for p in posting["products"]}
        for name, listed in posting["requirements"].items():
            if listed:
                missing[name] = missing.get(name, 0) + 1
                assert {int(sku) for sku in listed} <= skus
                assert "ship" not in posting["available_actions"]
    assert set(missing) == {
        "products_requiring_mandatory_mark",
        "products_requiring_gtd",
        "products_requiring_country",
    }
