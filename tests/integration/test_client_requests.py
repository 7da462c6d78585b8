"""The JSON bodies OzonClient sends validate against the official OpenAPI request schemas."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from daemon.ozon import OzonClient, RateLimiter
from daemon.ozon import pool as pool_module
from tests.conftest import OZON_FIXTURES, FakeTime
from tests.openapi_schema import (
    ValidationFailed,
    errors,
    request_schema,
    response_schema,
    validate,
)

BASE = "http://127.0.0.1:9"
NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
EMPTY_PAGE = {"postings": [], "cursor": "", "has_next": False}


def fixture_json(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def ozon() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("/v4/posting/fbs/unfulfilled/list").mock(
            side_effect=[
                httpx.Response(200, json={**EMPTY_PAGE, "cursor": "c1", "has_next": True}),
                httpx.Response(200, json=EMPTY_PAGE),
            ]
        )
        router.post("/v4/posting/fbs/list").mock(return_value=httpx.Response(200, json=EMPTY_PAGE))
        router.post("/v3/posting/fbs/get").mock(
            return_value=httpx.Response(200, json=fixture_json("v3_fbs_get.response.json"))
        )
        router.post("/v1/posting/fbs/cancel-reason").mock(
            return_value=httpx.Response(200, json=fixture_json("v1_cancel_reason.response.json"))
        )
        router.post("/v2/posting/fbs/cancel-reason/list").mock(
            return_value=httpx.Response(
                200, json=fixture_json("v2_cancel_reason_list.response.json")
            )
        )
        router.post("/v2/posting/fbs/cancel").mock(
            return_value=httpx.Response(200, json={"result": True})
        )
        router.post("/v1/roles").mock(
            return_value=httpx.Response(200, json={"roles": [{"name": "Admin"}]})
        )
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


async def sent_bodies(ozon: respx.MockRouter, fake_time: FakeTime) -> dict[str, list[Any]]:
    """Call every client method once and return the bodies sent, by path."""
    async with make_client(fake_time) as client:
        async for _ in client.list_unfulfilled(
            cutoff_from=NOW - timedelta(days=30),
            cutoff_to=NOW + timedelta(days=30),
            statuses=["awaiting_packaging", "awaiting_deliver"],
            warehouse_ids=[1020001234567000, "1020001234567001"],
        ):
            pass
        async for _ in client.list_changed(
            NOW - timedelta(hours=1),
            processed_since=NOW - timedelta(days=40),
            statuses=["cancelled", "delivering"],
            warehouse_ids=[1020001234567000],
        ):
            pass
        await client.get("87341265-0117-1")
        await client.cancel_reasons(["87341265-0117-1", "87355502-0003-1"])
        await client.cancel_reason_list()
        await client.cancel("87355502-0003-1", 402, "supplier delivery delayed")
        await client.key_info()
    bodies: dict[str, list[Any]] = {}
    for call in ozon.calls:
        bodies.setdefault(call.request.url.path, []).append(json.loads(call.request.content))
    return bodies


FBS_2026_PATHS = [
    "/v4/posting/fbs/unfulfilled/list",
    "/v4/posting/fbs/list",
    "/v3/posting/fbs/get",
    "/v1/posting/fbs/cancel-reason",
    "/v2/posting/fbs/cancel",
]
SELLER_2025_PATHS = ["/v1/roles"]
NO_BODY_DECLARED = "/v2/posting/fbs/cancel-reason/list"  # the 2025 document declares none


async def test_every_body_sent_validates_against_the_official_documents_as_declared(
    ozon: respx.MockRouter,
    fake_time: FakeTime,
    fbs_openapi: dict[str, Any],
    seller_openapi: dict[str, Any],
) -> None:
    bodies = await sent_bodies(ozon, fake_time)
    assert set(bodies) == {*FBS_2026_PATHS, *SELLER_2025_PATHS, NO_BODY_DECLARED}
    for path in FBS_2026_PATHS:
        for body in bodies[path]:
            validate(body, request_schema(fbs_openapi, path), fbs_openapi, lenient_int64=False)
    for path in SELLER_2025_PATHS:
        for body in bodies[path]:
            validate(
                body, request_schema(seller_openapi, path), seller_openapi, lenient_int64=False
            )
    unfulfilled = bodies["/v4/posting/fbs/unfulfilled/list"]
    assert [body["cursor"] for body in unfulfilled] == ["", "c1"]
    assert unfulfilled[0]["filter"]["warehouse_ids"] == ["1020001234567000", "1020001234567001"]
    assert "delivering_date_from" not in unfulfilled[0]["filter"]
    assert bodies["/v2/posting/fbs/cancel"] == [
        {
            "posting_number": "87355502-0003-1",
            "cancel_reason_id": 402,
            "cancel_reason_message": "supplier delivery delayed",
        }
    ]
    assert bodies["/v1/roles"] == [{}]
    with pytest.raises(KeyError, match="no JSON request body"):
        request_schema(seller_openapi, NO_BODY_DECLARED)
    assert bodies[NO_BODY_DECLARED] == [{}]


@pytest.mark.parametrize(
    ("path", "body", "complaint"),
    [
        ("/v4/posting/fbs/list", {"limit": 100, "filter": {"to": "2026-11-26T00:00:00Z"}}, "since"),
        ("/v4/posting/fbs/list", {"limit": 1000, "filter": {}}, "maximum"),
        (
            "/v4/posting/fbs/unfulfilled/list",
            {"filter": {"warehouse_ids": [1020001234567000]}},
            "not of type 'string'",
        ),
        (
            "/v4/posting/fbs/unfulfilled/list",
            {"filter": {"cutoff_from": "26.11.2026"}},
            "date-time",
        ),
        ("/v2/posting/fbs/cancel", {"posting_number": "1-1-1"}, "cancel_reason_id"),
    ],
    ids=["missing-since", "limit-1000", "ids-as-numbers", "bad-date", "missing-reason"],
)
def test_the_validator_catches_bodies_that_break_the_document(
    fbs_openapi: dict[str, Any], path: str, body: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValidationFailed, match=complaint):
        validate(body, request_schema(fbs_openapi, path), fbs_openapi, lenient_int64=False)


def test_the_validator_ignores_patterns_and_nulls_and_accepts_ids_either_way_by_default(
    fbs_openapi: dict[str, Any],
) -> None:
    page = fixture_json("v4_unfulfilled_list.response.page2_last.json")
    schema = response_schema(fbs_openapi, "/v4/posting/fbs/unfulfilled/list")
    # Fixture cutoff dates do not match the prose `pattern` " YYYY-MM-DDThh:mm:ss.mcsZ".
    assert (
        errors(
            fixture_json("v4_unfulfilled_list.request.json"),
            request_schema(fbs_openapi, "/v4/posting/fbs/unfulfilled/list"),
            fbs_openapi,
        )
        == []
    )
    assert errors(page, schema, fbs_openapi) == []
    # SKUs in `optional` are numbers while the document says int64 strings.
    assert errors(page, schema, fbs_openapi, lenient_int64=False) != []
    error = response_schema(fbs_openapi, "/v3/posting/fbs/get", status="403")
    assert errors(fixture_json("error_403_bad_key.json")["body"], error, fbs_openapi) == []


async def test_https_clients_share_one_tls_context_and_plain_http_builds_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building a verifying TLS context reads the whole CA bundle: once per process, not per
    client, and never for a base URL without TLS."""
    built: list[object] = []
    real = httpx.create_ssl_context

    def counting(*args: Any, **kwargs: Any) -> Any:
        context = real(*args, **kwargs)
        built.append(context)
        return context

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    pool_module._tls_context.cache_clear()
    try:
        async with OzonClient("1", "test-api-key", base_url="http://127.0.0.1:9"):
            pass
        assert built == []
        for client_id in ("1", "2", "3"):
            async with OzonClient(client_id, "test-api-key", base_url="https://ozon.test"):
                pass
        assert len(built) == 1
        assert pool_module._tls_context() is built[0]
        assert built[0].verify_mode == ssl.CERT_REQUIRED and built[0].check_hostname
    finally:
        pool_module._tls_context.cache_clear()
