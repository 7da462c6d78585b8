"""OzonClient's rating methods: what they send, what they return, and a 403 as an outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import respx

from daemon.models import AccessDenied, ErrorIndex, RatingSummary
from daemon.ozon import OzonAuthError, OzonClient, OzonProtocolError, RateLimiter
from tests.conftest import OZON_FIXTURES, FakeTime
from tests.openapi_schema import request_schema, response_schema, validate

BASE = "http://127.0.0.1:9"
NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
SUMMARY, INDEX = "/v1/rating/summary", "/v1/rating/index/fbs/info"


def fixture_json(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def ozon() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def make_client(fake_time: FakeTime) -> OzonClient:
    return OzonClient(
        "123456",
        "test-api-key",
        base_url=BASE,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        wall_clock=lambda: NOW,
        rate_limiter=RateLimiter(1e9),
    )


def test_the_fixtures_validate_against_their_documents(
    seller_openapi: dict[str, Any], rating_index_openapi: dict[str, Any]
) -> None:
    validate(
        fixture_json("v1_rating_summary.response.json"),
        response_schema(seller_openapi, SUMMARY),
        seller_openapi,
    )
    validate(
        fixture_json("v1_rating_index_fbs_info.response.json"),
        response_schema(rating_index_openapi, INDEX),
        rating_index_openapi,
    )
    validate(
        fixture_json("error_403_missing_role.json")["body"],
        {"$ref": "#/components/schemas/rpcStatus"},
        seller_openapi,
    )


async def test_rating_methods_send_an_empty_body_and_return_models(
    ozon: respx.MockRouter,
    fake_time: FakeTime,
    seller_openapi: dict[str, Any],
    rating_index_openapi: dict[str, Any],
) -> None:
    ozon.post(SUMMARY).mock(
        return_value=httpx.Response(200, json=fixture_json("v1_rating_summary.response.json"))
    )
    ozon.post(INDEX).mock(
        return_value=httpx.Response(
            200, json=fixture_json("v1_rating_index_fbs_info.response.json")
        )
    )
    async with make_client(fake_time) as client:
        summary = await client.rating_summary()
        index = await client.error_index()
    assert isinstance(summary, RatingSummary)
    assert summary.shipment_delay is not None
    assert summary.shipment_delay.status == "WARNING"
    assert isinstance(index, ErrorIndex)
    assert (index.index, index.period_to) == (0.052, date(2026, 11, 24))
    sent = {call.request.url.path: json.loads(call.request.content) for call in ozon.calls}
    assert sent == {SUMMARY: {}, INDEX: {}}
    validate(sent[SUMMARY], request_schema(seller_openapi, SUMMARY), seller_openapi)
    validate(sent[INDEX], request_schema(rating_index_openapi, INDEX), rating_index_openapi)
    for call in ozon.calls:
        assert call.request.headers["Client-Id"] == "123456"
        assert call.request.headers["Api-Key"] == "test-api-key"


@pytest.mark.parametrize("path", [SUMMARY, INDEX], ids=["summary", "index"])
async def test_a_403_is_access_denied_not_an_error_and_is_not_retried(
    ozon: respx.MockRouter, fake_time: FakeTime, path: str
) -> None:
    route = ozon.post(path).mock(
        return_value=httpx.Response(403, json=fixture_json("error_403_missing_role.json")["body"])
    )
    async with make_client(fake_time) as client:
        answer = await (client.rating_summary() if path == SUMMARY else client.error_index())
    assert answer == AccessDenied(
        path=path, code=7, message="Api-Key is missing a required role for a method"
    )
    assert route.call_count == 1
    assert "test-api-key" not in repr(answer)


async def test_a_401_is_still_an_auth_error(ozon: respx.MockRouter, fake_time: FakeTime) -> None:
    ozon.post(SUMMARY).mock(
        return_value=httpx.Response(401, json={"code": 16, "message": "unauthenticated"})
    )
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAuthError) as caught:
            await client.rating_summary()
    assert caught.value.status == 401


async def test_an_index_answer_without_index_is_a_protocol_error_naming_it(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(INDEX).mock(return_value=httpx.Response(200, json={"period_from": "2026-11-11"}))
    async with make_client(fake_time) as client:
        with pytest.raises(OzonProtocolError) as caught:
            await client.error_index()
    assert caught.value.field == "index"
    assert caught.value.path == INDEX


async def test_a_5xx_on_a_rating_method_is_retried_like_any_read(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(SUMMARY).mock(
        side_effect=[
            httpx.Response(503, json={"code": 14, "message": "service is unavailable"}),
            httpx.Response(200, json=fixture_json("v1_rating_summary.response.json")),
        ]
    )
    async with make_client(fake_time) as client:
        summary = await client.rating_summary()
    assert isinstance(summary, RatingSummary)
    assert route.call_count == 2
