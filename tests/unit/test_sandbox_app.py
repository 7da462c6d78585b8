"""The sandbox app without HTTP: auth, rate limit, knobs, cancel rules and recorded calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daemon.sandbox import Knobs, SandboxOptions
from daemon.sandbox.app import SandboxApp
from daemon.sandbox.methods import Answer
from tests.conftest import OZON_FIXTURES

START = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
WINDOW = {"cutoff_from": "2026-10-01T00:00:00Z", "cutoff_to": "2026-12-31T00:00:00Z"}
UNFULFILLED = "/v4/posting/fbs/unfulfilled/list"
CANCEL = "/v2/posting/fbs/cancel"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fixture(name: str) -> Any:
    return json.loads((OZON_FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


def _app(monotonic: FakeMonotonic, **knobs: Any) -> SandboxApp:
    options = SandboxOptions(
        scenario="demo",
        clock=lambda: START,
        monotonic=monotonic,
        knobs=Knobs(**{"rate_limit": 0, **knobs}),
    )
    return SandboxApp(options)


def _call(app: SandboxApp, path: str, body: Any, key: str | None = None) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return app.handle(path, app.options.client_id, key or app.options.api_key, raw)


def _json(answer: Answer) -> Any:
    return json.loads(answer.body)


def _cancel(app: SandboxApp, number: str, reason: int, message: str = "late") -> Answer:
    body = {"posting_number": number, "cancel_reason_id": reason, "cancel_reason_message": message}
    return _call(app, CANCEL, body)


def test_a_wrong_api_key_gets_ozons_403_body(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic)
    answer = _call(app, "/v1/roles", {}, key="wrong")
    expected = _fixture("error_403_bad_key.json")
    assert answer.status == expected["_http"]["status"]
    assert _json(answer) == expected["body"]


def test_requests_over_the_rate_limit_get_429_with_retry_after(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, rate_limit=3)
    statuses = [_call(app, "/v1/roles", {}).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = _call(app, "/v1/roles", {})
    expected = _fixture("error_429_rate_limit.json")
    assert _json(limited) == expected["body"]
    assert dict(limited.headers) == expected["_http"]["headers_observed"]
    monotonic.now += 1.01  # the sliding window has moved past the first three
    assert _call(app, "/v1/roles", {}).status == 200


def test_fail_next_answers_503_then_recovers(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, fail_next=2)
    assert [_call(app, "/v1/roles", {}).status for _ in range(3)] == [503, 503, 200]
    assert [call.status for call in app.calls] == [503, 503, 200]


def test_error_rate_one_answers_internal_error_every_time(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, error_rate=1.0)
    answer = _call(app, "/v1/roles", {})
    assert (answer.status, _json(answer)) == (
        500,
        {"code": 13, "message": "Internal error", "details": []},
    )


def test_drop_next_closes_without_answer_and_is_recorded_as_status_0(
    monotonic: FakeMonotonic,
) -> None:
    app = _app(monotonic, drop_next=1)
    assert _call(app, "/v1/roles", {}).drop
    assert not _call(app, "/v1/roles", {}).drop
    assert [call.status for call in app.calls] == [0, 200]


def test_malformed_page_breaks_only_that_page(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, malformed_page=2)
    body: dict[str, Any] = {"limit": 4, "filter": WINDOW}
    first = _call(app, UNFULFILLED, body)
    cursor = _json(first)["cursor"]
    second = _call(app, UNFULFILLED, {**body, "cursor": cursor})
    assert second.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(second.body)
    assert _call(app, UNFULFILLED, body).status == 200
    _json(_call(app, UNFULFILLED, body))


def test_wrap_result_wraps_the_list_answers(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, wrap_result=True)
    answer = _json(_call(app, UNFULFILLED, {"limit": 2, "filter": WINDOW}))
    assert set(answer) == {"result"}
    assert set(answer["result"]) == {"postings", "cursor", "has_next", "count"}


def test_a_method_without_its_role_answers_403_missing_role(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, forbidden_methods=[CANCEL])
    answer = _cancel(app, "10000001-0001-1", 402)
    assert (answer.status, _json(answer)["message"]) == (
        403,
        "Api-Key is missing a required role for a method",
    )
    roles = _json(_call(app, "/v1/roles", {}))
    assert CANCEL not in [m for role in roles["roles"] for m in role["methods"]]
    assert app.status("10000001-0001-1") == "awaiting_packaging"


def test_cancel_with_an_allowed_reason_cancels_as_the_seller(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic)
    answer = _cancel(app, "10000001-0001-1", 402, "Could not be shipped in time")
    assert (answer.status, _json(answer)) == (200, _fixture("v2_cancel.response.json"))
    posting = app.get_json("10000001-0001-1")
    assert (posting["status"], posting["substatus"]) == ("cancelled", "posting_canceled")
    assert posting["cancellation"]["cancellation_type"] == "seller"
    assert posting["cancellation"]["cancellation_initiator"] == "Продавец"
    assert posting["cancellation"]["cancel_reason_id"] == 402
    assert posting["available_actions"] == []


def test_cancel_with_a_reason_not_allowed_for_the_posting_is_refused(
    monotonic: FakeMonotonic,
) -> None:
    app = _app(monotonic)
    answer = _cancel(app, "10000002-0002-1", 402)  # this posting allows only 352 and 400
    assert (answer.status, _json(answer)) == (400, _fixture("v2_cancel.error_wrong_reason.json"))
    assert app.status("10000002-0002-1") == "awaiting_packaging"


def test_cancel_of_a_posting_without_the_cancel_action_is_refused(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic)
    assert _cancel(app, "10000011-0011-1", 352).status == 400  # already cancelled
    assert _cancel(app, "10000001-0001-1", 352).status == 200
    again = _cancel(app, "10000001-0001-1", 352)
    assert _json(again)["message"] == "HAS_INCORRECT_CANCEL_REASON"


def test_cancel_with_reason_402_needs_a_message(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic)
    answer = _cancel(app, "10000001-0001-1", 402, "  ")
    assert answer.status == 400
    assert _json(answer)["code"] == 3
    assert app.status("10000001-0001-1") == "awaiting_packaging"


def test_per_posting_reason_knob_changes_what_cancel_accepts(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, cancel_reasons={"10000002-0002-1": [402]})
    reasons = _json(
        _call(
            app, "/v1/posting/fbs/cancel-reason", {"related_posting_numbers": ["10000002-0002-1"]}
        )
    )
    assert [r["id"] for r in reasons["result"][0]["reasons"]] == [402]
    assert _cancel(app, "10000002-0002-1", 402).status == 200


def test_cancel_knobs_apply_the_cancel_before_dropping_or_hanging(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, cancel_outcome="drop")
    assert _cancel(app, "10000001-0001-1", 352).drop
    assert app.status("10000001-0001-1") == "cancelled"
    app.set_knobs({"cancel_outcome": "hang", "hang_seconds": 7})
    hanging = _cancel(app, "10000003-0003-1", 352)
    assert (hanging.hang, hanging.status) == (7.0, 200)
    assert app.status("10000003-0003-1") == "cancelled"


def test_change_on_get_ships_the_posting_just_before_that_get(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, change_on_get={"10000004-0004-1": "ship"})
    listed = _json(_call(app, UNFULFILLED, {"limit": 100, "filter": WINDOW}))
    before = {p["posting_number"]: p["status"] for p in listed["postings"]}
    assert before["10000004-0004-1"] == "awaiting_packaging"
    got = _json(_call(app, "/v3/posting/fbs/get", {"posting_number": "10000004-0004-1"}))
    assert got["result"]["status"] == "awaiting_deliver"
    assert app.knobs.change_on_get == {}


def test_roles_expires_at_follows_the_key_knob(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic, key_expires_in=3 * 86_400)
    roles = _json(_call(app, "/v1/roles", {}))
    assert roles["expires_at"] == "2026-11-29T03:30:00Z"


def test_every_call_is_recorded_with_path_body_time_and_status(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic)
    _call(app, "/v3/posting/fbs/get", {"posting_number": "nope-1"})
    _call(app, UNFULFILLED, b"{not json")
    [missing, broken] = app.calls
    assert (missing.path, missing.body, missing.status) == (
        "/v3/posting/fbs/get",
        {"posting_number": "nope-1"},
        404,
    )
    assert (broken.body, broken.status, broken.at) == (None, 400, START)
    assert missing.client_id == app.options.client_id


def test_scheduled_events_apply_when_a_request_arrives_after_they_fall_due(
    monotonic: FakeMonotonic,
) -> None:
    app = _app(monotonic)
    assert app.status("10000005-0005-1") == "awaiting_packaging"
    app.advance(6)
    assert app.status("10000005-0005-1") == "awaiting_deliver"
    answer = _json(
        _call(
            app,
            "/v4/posting/fbs/list",
            {
                "limit": 100,
                "filter": {
                    "since": "2026-11-01T00:00:00Z",
                    "to": "2026-11-27T00:00:00Z",
                    "last_changed_status_date": {
                        "from": "2026-11-26T03:30:05Z",
                        "to": "2026-11-26T03:30:07Z",
                    },
                },
            },
        )
    )
    assert [p["posting_number"] for p in answer["postings"]] == ["10000005-0005-1"]


def test_add_posting_can_name_its_warehouse_with_any_text(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic)
    hostile = '<script>alert("x")</script><b>bold</b>'
    new = app.add_posting(START + timedelta(hours=1), warehouse_name=hostile)
    assert app.get_json(new)["delivery_method"]["warehouse"] == hostile
    listed = _json(
        _call(
            app,
            "/v4/posting/fbs/unfulfilled/list",
            {"limit": 100, "filter": {"cutoff_from": "2026-11-01T00:00:00Z",
                                      "cutoff_to": "2026-12-31T00:00:00Z"}},
        )
    )  # fmt: skip
    found = [p for p in listed["postings"] if p["posting_number"] == new]
    assert found[0]["delivery_method"]["warehouse"] == hostile


def test_python_verbs_change_postings_for_tests(monotonic: FakeMonotonic) -> None:
    app = _app(monotonic)
    new = app.add_posting(START + timedelta(minutes=30), posting_number="20000001-0001-1")
    assert app.status(new) == "awaiting_packaging"
    app.move_deadline(new, START + timedelta(hours=2))
    assert app.get_json(new)["shipment_date"] == "2026-11-26T05:30:00Z"
    assert app.split(new) == ["20000001-0001-2", "20000001-0001-3"]
    app.change("20000001-0001-2", "cancel_by_buyer")
    cancellation = app.get_json("20000001-0001-2")["cancellation"]
    assert cancellation["cancellation_type"] == "client"
    with pytest.raises(KeyError):
        app.change("nope-1", "ship")
