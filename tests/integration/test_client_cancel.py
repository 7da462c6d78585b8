"""OzonClient.cancel against respx: one request, never retried; the outcome told by the error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from daemon.ozon import (
    OzonAPIError,
    OzonAuthError,
    OzonCancelOutcomeUnknown,
    OzonClient,
    OzonNotSent,
    OzonRateLimited,
    RateLimiter,
)
from tests.conftest import OZON_FIXTURES, FakeTime

BASE = "http://127.0.0.1:9"
CANCEL = "/v2/posting/fbs/cancel"
NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)


def ok() -> httpx.Response:
    return httpx.Response(200, json={"result": True})


def fixture_json(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


def make_client(fake_time: FakeTime, **options: Any) -> OzonClient:
    settings: dict[str, Any] = {
        "base_url": BASE,
        "sleep": fake_time.sleep,
        "clock": fake_time.clock,
        "wall_clock": lambda: NOW,
        "random": lambda: 1.0,
        "rate_limiter": RateLimiter(1e9),
    }
    settings.update(options)
    return OzonClient("123456", "test-api-key", **settings)


@pytest.fixture
def ozon() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


async def test_cancel_sends_posting_reason_and_message_once(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(CANCEL).mock(return_value=ok())
    request = fixture_json("v2_cancel.request.json")
    async with make_client(fake_time) as client:
        result = await client.cancel(
            request["posting_number"], request["cancel_reason_id"], request["cancel_reason_message"]
        )
    assert result is None
    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content) == request


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out waiting for the answer"),
        httpx.WriteTimeout("timed out while sending"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset by peer"),
        httpx.Response(500, json={"code": 13, "message": "Internal error"}),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(503, json={"code": 14, "message": "Circle is open"}),
        httpx.Response(504),
        httpx.Response(200, text="<html>proxy page</html>"),
        httpx.Response(200, json={"unexpected": "shape"}),
    ],
    ids=[
        "read-timeout",
        "write-timeout",
        "dropped-connection",
        "read-error",
        "500",
        "502-html",
        "503-circle-open",
        "504",
        "200-not-json",
        "200-without-result",
    ],
)
async def test_a_cancel_with_an_unknown_outcome_is_not_resent(
    ozon: respx.MockRouter, fake_time: FakeTime, failure: Exception | httpx.Response
) -> None:
    route = ozon.post(CANCEL).mock(side_effect=[failure, ok(), ok()])
    async with make_client(fake_time) as client:
        with pytest.raises(OzonCancelOutcomeUnknown) as caught:
            await client.cancel("87341265-0117-1", 352, "out of stock")
    assert route.call_count == 1
    assert fake_time.sleeps == []
    error = caught.value
    assert (error.posting_number, error.path) == ("87341265-0117-1", CANCEL)
    assert "87341265-0117-1" in str(error) and "re-read" in str(error)


@pytest.mark.parametrize(
    "refusal",
    [httpx.ConnectError("[Errno 111] Connection refused"), httpx.ConnectTimeout("no SYN-ACK")],
    ids=["connection-refused", "connect-timeout"],
)
async def test_a_cancel_that_never_reached_ozon_is_not_retried_and_says_not_sent(
    ozon: respx.MockRouter, fake_time: FakeTime, refusal: Exception
) -> None:
    route = ozon.post(CANCEL).mock(side_effect=[refusal, ok()])
    async with make_client(fake_time) as client:
        with pytest.raises(OzonNotSent) as caught:
            await client.cancel("87341265-0117-1", 352, "out of stock")
    assert route.call_count == 1
    assert fake_time.sleeps == []
    assert caught.value.path == CANCEL and "not sent" in str(caught.value)


async def test_a_rate_limited_cancel_is_raised_at_once_with_ozons_retry_after(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    limited = httpx.Response(
        429, headers={"retry-after": "7"}, json=fixture_json("error_429_rate_limit.json")["body"]
    )
    route = ozon.post(CANCEL).mock(side_effect=[limited, ok()])
    async with make_client(fake_time) as client:
        with pytest.raises(OzonRateLimited) as caught:
            await client.cancel("87341265-0117-1", 352, "out of stock")
    assert route.call_count == 1
    assert fake_time.sleeps == []
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, 8, 7.0)


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        (httpx.Response(429, json={"code": 8, "message": "rate limit"}), OzonRateLimited),
        (httpx.Response(429, headers={"retry-after": "1"}, json={"code": 8}), OzonRateLimited),
        (
            httpx.Response(500, json={"code": 13, "message": "Internal error"}),
            OzonCancelOutcomeUnknown,
        ),
        (httpx.Response(503), OzonCancelOutcomeUnknown),
        (httpx.ReadTimeout("timed out"), OzonCancelOutcomeUnknown),
        (httpx.ConnectTimeout("no SYN-ACK"), OzonNotSent),
        (httpx.Response(400, json={"code": 9, "message": "Circle is open"}), OzonNotSent),
        (httpx.Response(408, text="Request Timeout"), OzonCancelOutcomeUnknown),
    ],
    ids=[
        "429",
        "429-retry-after",
        "500",
        "503",
        "read-timeout",
        "connect-timeout",
        "400-circle-open",
        "408",
    ],
)
async def test_a_cancel_is_sent_exactly_once_whatever_the_answer(
    ozon: respx.MockRouter,
    fake_time: FakeTime,
    failure: Exception | httpx.Response,
    error_class: type[Exception],
) -> None:
    route = ozon.post(CANCEL).mock(side_effect=[failure, ok(), ok(), ok()])
    async with make_client(fake_time, retry_for=600.0) as client:
        with pytest.raises(error_class):
            await client.cancel("87341265-0117-1", 352, "out of stock")
    assert route.call_count == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [408, 410, 413, 422, 499])
async def test_a_4xx_on_cancel_that_is_not_a_documented_refusal_is_an_unknown_outcome(
    ozon: respx.MockRouter, fake_time: FakeTime, status: int
) -> None:
    route = ozon.post(CANCEL).mock(
        return_value=httpx.Response(status, json={"code": 2, "message": "something else"})
    )
    async with make_client(fake_time) as client:
        with pytest.raises(OzonCancelOutcomeUnknown) as caught:
            await client.cancel("87341265-0117-1", 352, "out of stock")
    assert route.call_count == 1
    assert caught.value.status == status
    assert "not a documented refusal" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"code": 3, "message": "HAS_INCORRECT_CANCEL_REASON"}),
        (404, {"code": 5, "message": "POSTING_NOT_FOUND"}),
        (409, {"code": 10, "message": "request conflict"}),
    ],
    ids=["400", "404", "409"],
)
async def test_a_documented_4xx_on_cancel_is_a_refusal(
    ozon: respx.MockRouter, fake_time: FakeTime, status: int, body: dict[str, Any]
) -> None:
    route = ozon.post(CANCEL).mock(return_value=httpx.Response(status, json=body))
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAPIError) as caught:
            await client.cancel("87341265-0117-1", 352, "out of stock")
    assert type(caught.value) is OzonAPIError
    assert (caught.value.status, caught.value.message) == (status, body["message"])
    assert route.call_count == 1


async def test_a_wrong_cancel_reason_is_an_api_error_with_ozons_code_and_message(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(CANCEL).mock(
        return_value=httpx.Response(400, json=fixture_json("v2_cancel.error_wrong_reason.json"))
    )
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAPIError) as caught:
            await client.cancel("87341265-0117-1", 666, "no delivery")
    assert type(caught.value) is OzonAPIError
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        3,
        "HAS_INCORRECT_CANCEL_REASON",
    )
    assert route.call_count == 1


async def test_a_cancel_refused_with_403_is_an_auth_error(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    body = {"code": 7, "message": "Api-Key is missing a required role for a method"}
    route = ozon.post(CANCEL).mock(return_value=httpx.Response(403, json=body))
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAuthError, match="missing a required role"):
            await client.cancel("87341265-0117-1", 352, "out of stock")
    assert route.call_count == 1


async def test_a_cancel_ozon_answers_false_is_an_api_error(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(CANCEL).mock(return_value=httpx.Response(200, json={"result": False}))
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAPIError, match="did not cancel posting 87341265-0117-1"):
            await client.cancel("87341265-0117-1", 352, "out of stock")


async def test_reason_402_without_a_message_is_refused_before_sending(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(CANCEL).mock(return_value=ok())
    async with make_client(fake_time) as client:
        with pytest.raises(ValueError, match="402"):
            await client.cancel("87355502-0003-1", 402, "  ")
    assert route.call_count == 0
