"""OzonClient errors and retries against respx: every error class, waits via the fake sleep."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
import structlog

from daemon.ozon import (
    OzonAPIError,
    OzonAuthError,
    OzonError,
    OzonProtocolError,
    OzonRateLimited,
    OzonTransportError,
    OzonUnavailable,
    RateLimiter,
    RequestEvent,
)
from daemon.ozon.client import OzonClient
from tests.conftest import OZON_FIXTURES, FakeTime

BASE = "http://127.0.0.1:9"
GET = "/v3/posting/fbs/get"
ROLES = "/v1/roles"
NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
API_KEY = "k3y-SECRET-0a1b2c3d4e5f"


def fixture_json(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


GET_OK = fixture_json("v3_fbs_get.response.json")


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
    return OzonClient("123456", API_KEY, **settings)


@pytest.fixture
def ozon() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def error_response(name: str) -> httpx.Response:
    fixture = fixture_json(name)
    return httpx.Response(
        fixture["_http"]["status"],
        json=fixture["body"],
        headers=fixture["_http"].get("headers_observed", {}),
    )


def texts_of(error: BaseException) -> str:
    """str and repr of an error and of every cause and context below it."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("fixture", "error_class", "code"),
    [
        ("error_403_bad_key.json", OzonAuthError, 7),
        ("error_403_access_denied_legacy.json", OzonAuthError, "ACCESS_DENIED"),
        ("error_400_missing_window.json", OzonAPIError, 3),
        ("error_400_bad_json.json", OzonAPIError, 3),
    ],
    ids=["403-auth", "403-auth-older-body", "400-missing-window", "400-bad-json"],
)
async def test_error_fixtures_map_to_their_error_class_without_retrying(
    ozon: respx.MockRouter, fake_time: FakeTime, fixture: str, error_class: type, code: int | str
) -> None:
    route = ozon.post(GET).mock(return_value=error_response(fixture))
    async with make_client(fake_time) as client:
        with pytest.raises(error_class) as caught:
            await client.get("1-1-1")
    error = caught.value
    assert type(error) is error_class
    assert route.call_count == 1
    assert fake_time.sleeps == []
    assert error.code == code
    body = fixture_json(fixture)["body"]
    assert error.message == body.get("error", body)["message"]
    assert error.path == GET
    assert error.status == fixture_json(fixture)["_http"]["status"]
    assert str(error.status) in str(error) and GET in str(error)
    assert error.message in str(error)


async def test_an_error_body_in_no_known_shape_is_quoted_in_the_error(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    body = {"detail": "filter.since is required", "status": 400}
    ozon.post(GET).mock(return_value=httpx.Response(400, json=body))
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAPIError) as caught:
            await client.get("1-1-1")
    assert caught.value.code is None
    assert "filter.since is required" in caught.value.message
    assert "filter.since is required" in str(caught.value)


async def test_401_is_an_auth_error_that_says_what_to_check(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(ROLES).mock(return_value=httpx.Response(401, json={"code": 16, "message": "no"}))
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAuthError, match=r"Client-Id 123456 \(401 on /v1/roles"):
            await client.key_info()


async def test_other_4xx_are_raised_at_once_naming_path_status_code_and_message(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(GET).mock(
        return_value=httpx.Response(404, json={"code": 5, "message": "POSTING_NOT_FOUND"})
    )
    async with make_client(fake_time) as client:
        with pytest.raises(OzonAPIError) as caught:
            await client.get("1-1-1")
    assert type(caught.value) is OzonAPIError
    assert (
        str(caught.value)
        == "Ozon answered 404 on /v3/posting/fbs/get (code 5, 'POSTING_NOT_FOUND')"
    )
    assert route.call_count == 1


async def test_5xx_and_transport_errors_are_retried_with_growing_capped_waits(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    failures: list[Any] = [
        httpx.Response(500, json={"code": 13, "message": "Internal error"}),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ReadTimeout("read timed out"),
        httpx.Response(503),
        httpx.ConnectError("connection refused"),
        httpx.Response(504),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.Response(200, text="<html>not json</html>"),
    ]
    route = ozon.post(GET).mock(side_effect=[*failures, httpx.Response(200, json=GET_OK)])
    async with make_client(fake_time, retry_for=600.0) as client:
        posting = await client.get("87341265-0117-1")
    assert posting.posting_number == "87341265-0117-1"
    assert route.call_count == len(failures) + 1
    # random() == 1.0 gives the top of each jitter range: 1, 2, 4 ... capped at 30 s.
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


async def test_jitter_keeps_each_wait_in_the_upper_half_of_its_backoff_step(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(GET).mock(side_effect=[httpx.Response(503)] * 4 + [httpx.Response(200, json=GET_OK)])
    async with make_client(fake_time, random=lambda: 0.0) as client:
        await client.get("87341265-0117-1")
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0]


async def test_retry_after_is_honoured_and_capped(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    limited = error_response("error_429_rate_limit.json")
    route = ozon.post(GET).mock(
        side_effect=[
            limited,
            httpx.Response(429, headers={"Retry-After": "2.5"}, json={"code": 8, "message": "x"}),
            httpx.Response(429, headers={"Retry-After": "3600"}, json={"code": 8, "message": "x"}),
            httpx.Response(
                429,
                headers={"Retry-After": "Thu, 26 Nov 2026 03:30:07 GMT"},
                json={"code": 8, "message": "x"},
            ),
            httpx.Response(429, json={"code": 8, "message": "no header"}),
            httpx.Response(200, json=GET_OK),
        ]
    )
    async with make_client(fake_time, random=lambda: 0.0) as client:
        await client.get("87341265-0117-1")
    assert route.call_count == 6
    # 1 s and 2.5 s as asked, 3600 s capped to 30 s, an HTTP date 7 s ahead, then backoff.
    assert fake_time.sleeps == [1.0, 2.5, 30.0, 7.0, 8.0]


async def test_a_429_that_outlasts_retry_for_raises_ozon_rate_limited(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(GET).mock(return_value=error_response("error_429_rate_limit.json"))
    async with make_client(fake_time, retry_for=5.0) as client:
        with pytest.raises(OzonRateLimited) as caught:
            await client.get("1-1-1")
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (429, 8, 1.0)
    assert sum(fake_time.sleeps) <= 5.0


async def test_retry_for_bounds_the_retrying_then_ozon_unavailable(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(GET).mock(
        return_value=httpx.Response(503, json={"code": 14, "message": "Service Unavailable"})
    )
    started = fake_time.now
    async with make_client(fake_time, retry_for=60.0) as client:
        with pytest.raises(OzonUnavailable) as caught:
            await client.get("1-1-1")
    # Waits 1+2+4+8+16 = 31 s; the next (30 s) would end after 60 s, so it waits only the
    # 29 s left and makes a last attempt at the end of retry_for, then gives up.
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 29.0]
    assert fake_time.now - started == pytest.approx(60.0)
    assert route.call_count == 7
    error = caught.value
    assert isinstance(error, OzonTransportError)
    assert (error.status, error.code, error.message, error.attempts) == (
        503,
        14,
        "Service Unavailable",
        7,
    )
    assert isinstance(error.__cause__, OzonTransportError)
    assert "Service Unavailable" in str(error)


async def test_time_spent_waiting_for_answers_counts_toward_retry_for(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    def slow_timeout(request: httpx.Request) -> httpx.Response:
        fake_time.now += 25.0  # each attempt takes 25 s of fake time before timing out
        raise httpx.ReadTimeout("timed out", request=request)

    route = ozon.post(GET).mock(side_effect=slow_timeout)
    async with make_client(fake_time, retry_for=60.0) as client:
        with pytest.raises(OzonUnavailable) as caught:
            await client.get("1-1-1")
    # 25 s, wait 1, 25 s, wait 2, 25 s: a third wait would end after 60 s.
    assert route.call_count == 3
    assert fake_time.sleeps == [1.0, 2.0]
    assert caught.value.status is None
    assert isinstance(caught.value.__cause__, OzonTransportError)
    assert isinstance(caught.value.__cause__.__cause__, httpx.ReadTimeout)


async def test_circle_is_open_waits_much_longer_before_retrying(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    circle = httpx.Response(503, json={"code": 14, "message": "Circle is open"})
    ozon.post(GET).mock(side_effect=[circle, httpx.Response(200, json=GET_OK)])
    async with make_client(fake_time) as client:
        await client.get("87341265-0117-1")
    assert fake_time.sleeps == [60.0]


async def test_unavailable_when_a_circle_stays_open_past_retry_for(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    circle = httpx.Response(400, json={"code": 9, "message": "Circle is open"})
    route = ozon.post(GET).mock(return_value=circle)
    async with make_client(fake_time, retry_for=120.0) as client:
        with pytest.raises(OzonUnavailable, match="Circle is open"):
            await client.get("1-1-1")
    assert fake_time.sleeps == [60.0, 60.0]
    assert route.call_count == 3


async def test_a_200_with_an_unusable_posting_is_a_protocol_error_without_retry(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    answer = json.loads(json.dumps(GET_OK))
    answer["result"]["shipment_date"] = "tomorrow"
    route = ozon.post(GET).mock(return_value=httpx.Response(200, json=answer))
    async with make_client(fake_time) as client:
        with pytest.raises(OzonProtocolError) as caught:
            await client.get("87341265-0117-1")
    assert route.call_count == 1
    error = caught.value
    assert (error.field, error.posting_number, error.status) == (
        "shipment_date",
        "87341265-0117-1",
        200,
    )
    assert "87341265-0117-1" in str(error) and "tomorrow" in str(error)


async def test_an_unsendable_request_is_an_ozon_error_not_an_httpx_one(
    fake_time: FakeTime,
) -> None:
    async with make_client(fake_time, base_url="ftp://127.0.0.1:9") as client:
        with pytest.raises(OzonError, match="base_url") as caught:
            await client.get("1-1-1")
    assert not isinstance(caught.value, OzonTransportError)
    assert fake_time.sleeps == []


async def test_on_request_sees_every_attempt_and_a_failing_hook_breaks_nothing(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    events: list[RequestEvent] = []

    def hook(event: RequestEvent) -> None:
        events.append(event)
        raise RuntimeError("metrics are down")

    def answer(request: httpx.Request) -> httpx.Response:
        fake_time.now += 0.25
        return next(responses)

    responses = iter([httpx.Response(502), httpx.Response(200, json=GET_OK)])
    timeouts = iter([httpx.ConnectTimeout("slow")])

    def first_timeout_then_answers(request: httpx.Request) -> httpx.Response:
        for error in timeouts:
            raise error
        return answer(request)

    ozon.post(GET).mock(side_effect=first_timeout_then_answers)
    async with make_client(fake_time, on_request=hook) as client:
        await client.get("87341265-0117-1")
    assert [(e.path, e.status, e.attempt, e.retried) for e in events] == [
        (GET, None, 1, True),
        (GET, 502, 2, True),
        (GET, 200, 3, False),
    ]
    assert all(e.method == "POST" for e in events)
    assert [e.duration for e in events] == [0.0, 0.25, 0.25]


async def test_server_date_and_clock_skew_come_from_the_last_date_header(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(GET).mock(
        side_effect=[
            httpx.Response(200, json=GET_OK),
            httpx.Response(200, json=GET_OK, headers={"Date": "Thu, 26 Nov 2026 03:29:55 GMT"}),
        ]
    )
    async with make_client(fake_time) as client:
        assert client.clock_skew() is None
        await client.get("87341265-0117-1")
        assert client.last_server_date is None
        await client.get("87341265-0117-1")
        assert client.last_server_date == datetime(2026, 11, 26, 3, 29, 55, tzinfo=UTC)
        assert client.clock_skew() == 5.0


async def test_a_retry_that_then_succeeds_logs_only_a_debug_line_with_path_status_and_wait(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(GET).mock(side_effect=[httpx.Response(503), httpx.Response(200, json=GET_OK)])
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_time) as client:
            await client.get("87341265-0117-1")
    (entry,) = logs
    assert entry["event"] == "ozon_retry"
    assert entry["log_level"] == "debug"
    assert (entry["path"], entry["status"], entry["attempt"], entry["wait"]) == (GET, 503, 1, 1.0)


async def test_the_api_key_appears_in_no_log_repr_or_error(
    ozon: respx.MockRouter, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    ozon.post(GET).mock(
        side_effect=[
            httpx.Response(503, json={"code": 14, "message": "unavailable"}),
            httpx.ReadTimeout("timed out"),
            httpx.Response(200, text="not json"),
            *[httpx.Response(500)] * 10,
        ]
    )
    ozon.post(ROLES).mock(return_value=error_response("error_403_bad_key.json"))
    ozon.post("/v2/posting/fbs/cancel").mock(side_effect=httpx.ReadTimeout("timed out"))
    ozon.post("/v1/posting/fbs/cancel-reason").mock(return_value=httpx.Response(200, json={}))
    ozon.post("/v2/posting/fbs/cancel-reason/list").mock(
        return_value=error_response("error_429_rate_limit.json")
    )
    ozon.post("/v4/posting/fbs/unfulfilled/list").mock(
        return_value=error_response("error_400_missing_window.json")
    )
    errors: list[BaseException] = []
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        client = make_client(fake_time, retry_for=30.0)
        async with client:
            for call in (
                client.get("1-1-1"),
                client.key_info(),
                client.cancel("1-1-1", 352, "out of stock"),
                client.cancel_reasons(["1-1-1"]),
                client.cancel_reason_list(),
                anext(aiter(client.list_unfulfilled(cutoff_from=NOW, cutoff_to=NOW))),
            ):
                with pytest.raises(OzonError) as caught:
                    await call
                errors.append(caught.value)
    assert [type(error).__name__ for error in errors] == [
        "OzonUnavailable",
        "OzonAuthError",
        "OzonCancelOutcomeUnknown",
        "OzonProtocolError",
        "OzonRateLimited",
        "OzonAPIError",
    ]
    assert logs, "the retries should have been logged"
    for text in [repr(client), str(logs), caplog.text, *map(texts_of, errors)]:
        assert API_KEY not in text
    assert "123456" in repr(client)


def test_a_key_with_characters_unfit_for_a_header_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="api_key") as caught:
        OzonClient("123456", "bad key\n", base_url=BASE)
    assert "bad key" not in str(caught.value)
