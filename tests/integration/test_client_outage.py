"""An Ozon outage is two log lines, not one per retry: the OzonClient against respx, with the
fake clock and structlog's capture_logs (issue 17, point 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
import structlog

from daemon.ozon import (
    OzonAPIError,
    OzonCancelOutcomeUnknown,
    OzonClient,
    OzonUnavailable,
    RateLimiter,
)
from daemon.ozon.client import PATH_CANCEL, PATH_GET
from tests.conftest import OZON_FIXTURES, FakeTime

BASE = "http://127.0.0.1:9"
NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
API_KEY = "k3y-SECRET-outage-0a1b2c"
GET_OK = json.loads((OZON_FIXTURES / "v3_fbs_get.response.json").read_text(encoding="utf-8"))
UNAVAILABLE = {"code": 14, "message": "Service Unavailable"}


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


def lines(logs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["event"], entry["log_level"]) for entry in logs]


def the(logs: list[dict[str, Any]], event: str) -> dict[str, Any]:
    (entry,) = [entry for entry in logs if entry["event"] == event]
    return entry


async def test_a_request_that_fails_twice_then_succeeds_is_no_outage(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(PATH_GET).mock(
        side_effect=[
            httpx.Response(503, json=UNAVAILABLE),
            httpx.ReadTimeout("timed out"),
            httpx.Response(200, json=GET_OK),
        ]
    )
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_time) as client:
            await client.get("87341265-0117-1")
    assert lines(logs) == [("ozon_retry", "debug"), ("ozon_retry", "debug")]


async def test_three_failed_attempts_in_a_row_log_one_warning_then_one_recovered_line(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(PATH_GET).mock(
        side_effect=[httpx.Response(503, json=UNAVAILABLE)] * 5 + [httpx.Response(200, json=GET_OK)]
    )
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_time, retry_for=600.0) as client:
            await client.get("87341265-0117-1")
    assert route.call_count == 6
    assert lines(logs) == [
        ("ozon_retry", "debug"),
        ("ozon_retry", "debug"),
        ("ozon_unavailable", "warning"),
        ("ozon_retry", "debug"),
        ("ozon_retry", "debug"),
        ("ozon_retry", "debug"),
        ("ozon_recovered", "info"),
    ]
    down = the(logs, "ozon_unavailable")
    assert (down["client_id"], down["path"], down["status"], down["attempts"]) == (
        "123456",
        PATH_GET,
        503,
        3,
    )
    assert down["duration"] == 3.0  # failures at 0, 1 and 3 s (waits 1 and 2 s)
    assert "503" in down["reason"] and "Service Unavailable" in down["reason"]
    # Failed at 0, 1, 3, 7 and 15 s; answered at 31 s.
    assert the(logs, "ozon_recovered")["duration"] == 31.0
    assert API_KEY not in str(logs)


async def test_failing_for_thirty_seconds_is_an_outage_in_fewer_attempts(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    circle = httpx.Response(503, json={"code": 14, "message": "Circle is open"})
    ozon.post(PATH_GET).mock(side_effect=[circle, circle, httpx.Response(200, json=GET_OK)])
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_time, retry_for=600.0) as client:
            await client.get("87341265-0117-1")
    assert lines(logs) == [
        ("ozon_retry", "debug"),
        ("ozon_unavailable", "warning"),
        ("ozon_retry", "debug"),
        ("ozon_recovered", "info"),
    ]
    down = the(logs, "ozon_unavailable")
    assert (down["attempts"], down["duration"]) == (2, 60.0)
    assert "Circle is open" in down["reason"]
    assert the(logs, "ozon_recovered")["duration"] == 120.0


async def test_an_outage_over_many_requests_is_logged_once_and_ends_once(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(PATH_GET).mock(return_value=httpx.Response(503, json=UNAVAILABLE))
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_time, retry_for=0.0) as client:
            for _ in range(6):  # six cycles, each giving up after one attempt
                with pytest.raises(OzonUnavailable):
                    await client.get("87341265-0117-1")
            route.mock(return_value=httpx.Response(200, json=GET_OK))
            await client.get("87341265-0117-1")
            await client.get("87341265-0117-1")
            route.mock(return_value=httpx.Response(503, json=UNAVAILABLE))
            for _ in range(2):  # a new short streak: no outage
                with pytest.raises(OzonUnavailable):
                    await client.get("87341265-0117-1")
    assert lines(logs) == [("ozon_unavailable", "warning"), ("ozon_recovered", "info")]


async def test_ozons_own_error_answer_ends_an_outage(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    route = ozon.post(PATH_GET).mock(side_effect=httpx.ConnectError("connection refused"))
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_time, retry_for=0.0) as client:
            for _ in range(3):
                with pytest.raises(OzonUnavailable):
                    await client.get("87341265-0117-1")
            route.mock(
                side_effect=None,
                return_value=httpx.Response(404, json={"code": 5, "message": "POSTING_NOT_FOUND"}),
            )
            with pytest.raises(OzonAPIError):
                await client.get("87341265-0117-1")
    assert lines(logs) == [("ozon_unavailable", "warning"), ("ozon_recovered", "info")]
    assert "connection refused" in the(logs, "ozon_unavailable")["reason"]


async def test_a_cancel_of_unknown_outcome_counts_toward_an_outage(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    ozon.post(PATH_GET).mock(return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    ozon.post(PATH_CANCEL).mock(return_value=httpx.Response(500, json={"code": 13}))
    with structlog.testing.capture_logs() as logs:
        async with make_client(fake_time, retry_for=0.0) as client:
            for _ in range(2):
                with pytest.raises(OzonUnavailable):
                    await client.get("87341265-0117-1")
            with pytest.raises(OzonCancelOutcomeUnknown):
                await client.cancel("87341265-0117-1", 352, "out of stock")
    down = the(logs, "ozon_unavailable")
    assert (down["path"], down["status"], down["attempts"]) == (PATH_CANCEL, 500, 3)
