"""Sandbox time text, knob validation, and the fault knobs of the cancellation tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from daemon.sandbox import SandboxOptions
from daemon.sandbox.app import SandboxApp
from daemon.sandbox.clock import Clock, format_us, parse_rfc3339, to_us
from daemon.sandbox.knobs import Knobs, parse_duration
from daemon.sandbox.methods import Answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00Z"),
        ("2026-11-23T11:05:17.402Z", "2026-11-23T11:05:17.402Z"),
        ("2026-11-26T13:00:00+03:00", "2026-11-26T10:00:00Z"),
        ("2026-11-26T06:59:59.999999-03:00", "2026-11-26T09:59:59.999999Z"),
        ("2026-11-26T10:00:00.123456789Z", "2026-11-26T10:00:00.123456Z"),
    ],
)
def test_rfc3339_text_round_trips_through_microseconds(text: str, expected: str) -> None:
    assert format_us(parse_rfc3339(text)) == expected


@pytest.mark.parametrize("text", ["2026-11-26T10:00:00", "2026-11-26", "yesterday", ""])
def test_a_date_time_without_offset_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_clock_advances_only_forward() -> None:
    clock = Clock(lambda: datetime(2026, 11, 26, tzinfo=UTC))
    clock.advance(90)
    assert clock.now() == datetime(2026, 11, 26, 0, 1, 30, tzinfo=UTC)
    assert clock.now_us() == to_us(clock.now())
    with pytest.raises(ValueError):
        clock.advance(-1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("3d", 259_200), ("0.25", 0.25), ("-2h", -7200)],
)
def test_durations_are_read_like_the_config_file(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "h", "1x", "inf", "nan"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_knob_changes_are_validated_all_or_nothing() -> None:
    knobs = Knobs()
    with pytest.raises(ValueError, match="error_rate"):
        knobs.update({"fail_next": 3, "error_rate": 2})
    assert knobs.fail_next == 0
    knobs.update({"fail_next": 3, "latency": 0.25, "key_expires_in": "3d"})
    assert (knobs.fail_next, knobs.latency, knobs.key_expires_in) == (3, 0.25, 259_200.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"no_such_knob": 1},
        {"fail_next": -1},
        {"fail_next": True},
        {"wrap_result": "yes"},
        {"cancel_outcome": "explode"},
        {"change_on_get": {"1-1-1": "deliver"}},
        {"cancel_reasons": {"1-1-1": ["402"]}},
        {"forbidden_methods": "/v1/roles"},
        {"latency": -1},
    ],
)
def test_bad_knob_values_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Knobs().update(changes)


def test_the_constructor_checks_and_converts_like_update() -> None:
    knobs = Knobs(key_expires_in="3d", latency="2s", rate_limit=5)
    assert (knobs.key_expires_in, knobs.latency, knobs.rate_limit) == (3 * 86_400.0, 2.0, 5)
    assert Knobs().as_dict() == Knobs(**Knobs().as_dict()).as_dict()
    with pytest.raises(ValueError, match="knob error_rate"):
        Knobs(error_rate=2)
    with pytest.raises(ValueError, match="knob hang_seconds"):
        Knobs(hang_seconds="soon")


# -- the fault knobs of the cancellation tests (issue 15) --------------------------------------

START = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
CANCEL = "/v2/posting/fbs/cancel"
GET = "/v3/posting/fbs/get"
OVERDUE = "10000001-0001-1"  # demo: awaiting_packaging, 50 h overdue, cancel reasons 352/400/402
OTHER = "10000003-0003-1"  # demo: awaiting_packaging, 3 h overdue


def _app(**knobs: Any) -> SandboxApp:
    options = SandboxOptions(
        scenario="demo", clock=lambda: START, events=False, knobs=Knobs(rate_limit=0, **knobs)
    )
    return SandboxApp(options)


def _call(app: SandboxApp, path: str, body: dict[str, Any]) -> Answer:
    return app.handle(path, app.options.client_id, app.options.api_key, json.dumps(body).encode())


def _cancel(app: SandboxApp, number: str = OVERDUE) -> Answer:
    return _call(app, CANCEL, {"posting_number": number, "cancel_reason_id": 352})


def _get(app: SandboxApp, number: str) -> Answer:
    return _call(app, GET, {"posting_number": number})


@pytest.mark.parametrize(
    "changes",
    [
        {"cancel_apply_delay": -1},
        {"cancel_429_for": "soon"},
        {"change_at": {"posting_number": OVERDUE, "change": "ship", "after": 1}},
        {"change_at": [{"posting_number": OVERDUE, "change": "deliver", "after": 1}]},
        {"change_at": [{"posting_number": OVERDUE, "change": "ship"}]},
        {"change_at": [{"posting_number": OVERDUE, "change": "ship", "after": 1, "at": "x"}]},
        {"change_at": [{"posting_number": OVERDUE, "change": "ship", "at": "2026-11-26"}]},
        {"change_at": [{"posting_number": OVERDUE, "change": "ship", "after": -5}]},
        {"change_at": [{"posting_number": "", "change": "ship", "after": 5}]},
        {"change_at": [{"posting_number": OVERDUE, "change": "ship", "after": 5, "why": 1}]},
        {"not_found_on_get": OVERDUE},
        {"not_found_on_get": [""]},
    ],
)
def test_bad_values_of_the_cancellation_knobs_are_refused(changes: dict[str, object]) -> None:
    name = next(iter(changes))
    with pytest.raises(ValueError, match=f"knob {name}"):
        Knobs().update(changes)


def test_change_at_entries_are_checked_and_written_canonically() -> None:
    knobs = Knobs(
        change_at=[
            {"posting_number": OVERDUE, "change": "ship", "at": "2026-11-26T06:30:00+03:00"},
            {"posting_number": OTHER, "change": "in_carriage", "after": "2m"},
        ],
        cancel_apply_delay="30s",
        cancel_429_for=90,
    )
    assert knobs.change_at == [
        {"posting_number": OVERDUE, "change": "ship", "at": "2026-11-26T03:30:00Z"},
        {"posting_number": OTHER, "change": "in_carriage", "after": 120.0},
    ]
    assert (knobs.cancel_apply_delay, knobs.cancel_429_for) == (30.0, 90.0)


def test_a_cancel_applied_late_is_answered_at_once_and_cancels_after_the_delay() -> None:
    app = _app(cancel_apply_delay=30)
    answer = _cancel(app)
    assert (answer.status, json.loads(answer.body), answer.drop) == (200, {"result": True}, False)
    app.advance(29)
    assert json.loads(_get(app, OVERDUE).body)["result"]["status"] == "awaiting_packaging"
    # A second request meanwhile is answered alike and changes nothing.
    assert _cancel(app).status == 200
    app.advance(2)
    result = json.loads(_get(app, OVERDUE).body)["result"]
    assert result["status"] == "cancelled"
    assert result["cancellation"]["cancellation_type"] == "seller"
    assert result["cancellation"]["cancellation_initiator"] == "Продавец"
    assert result["cancellation"]["cancel_reason_id"] == 352
    # It happened at its moment (30 s after the request), not when somebody looked.
    assert app.store.get(OVERDUE).last_changed == to_us(START) + 30 * 1_000_000
    assert _cancel(app).status == 400  # cancelled already, as Ozon answers a second cancel
    assert app.cancel_requests() == {OVERDUE: [200, 200, 400]}


def test_a_cancel_taken_and_dropped_is_applied_after_the_delay() -> None:
    app = _app(cancel_outcome="drop", cancel_apply_delay=60)
    assert _cancel(app).drop
    assert app.status(OVERDUE) == "awaiting_packaging"
    app.advance(59.9)
    assert app.status(OVERDUE) == "awaiting_packaging"
    app.advance(0.1)
    assert app.status(OVERDUE) == "cancelled"
    assert app.cancel_requests() == {OVERDUE: [0]}


def test_cancel_429_for_refuses_cancels_for_that_long_and_applies_nothing() -> None:
    app = _app()
    app.set_knobs({"cancel_429_for": "10s"})
    limited = _cancel(app)
    assert limited.status == 429
    assert ("retry-after", "1") in limited.headers
    assert json.loads(limited.body)["code"] == 8
    assert _get(app, OVERDUE).status == 200  # other methods are not limited
    assert app.status(OVERDUE) == "awaiting_packaging"
    app.advance(4)
    assert _cancel(app).status == 429
    assert app.knobs.cancel_429_for == 6.0  # counts down
    app.set_knobs({"cancel_429_for": 10})  # set again: ten seconds from now
    app.advance(9)
    assert _cancel(app).status == 429
    app.advance(1)
    assert _cancel(app).status == 200
    assert app.knobs.cancel_429_for == 0.0
    assert app.status(OVERDUE) == "cancelled"
    assert app.cancel_requests() == {OVERDUE: [429, 429, 429, 200]}


def test_cancel_429_for_given_at_start_counts_from_the_start() -> None:
    app = _app(cancel_429_for=5)
    assert _cancel(app).status == 429
    app.advance(5)
    assert _cancel(app).status == 200


def test_cancel_429_for_assigned_directly_starts_at_the_next_request() -> None:
    app = _app()
    app.knobs.cancel_429_for = 3
    assert _cancel(app, OTHER).status == 429
    app.advance(3)
    assert _cancel(app, OTHER).status == 200


def test_change_at_moves_a_posting_at_its_moment() -> None:
    app = _app()
    app.set_knobs(
        {
            "change_at": [
                {"posting_number": OVERDUE, "change": "ship", "after": "5s"},
                {"posting_number": OTHER, "change": "in_carriage", "at": "2026-11-26T03:31:00Z"},
            ]
        }
    )
    # `after` became a moment when the knob was set.
    assert app.knobs.change_at[0]["at"] == "2026-11-26T03:30:05Z"
    app.advance(4)
    assert app.status(OVERDUE) == "awaiting_packaging"
    app.advance(2)
    assert app.status(OVERDUE) == "awaiting_deliver"
    assert app.store.get(OVERDUE).last_changed == to_us(START) + 5 * 1_000_000
    assert [entry["posting_number"] for entry in app.knobs.change_at] == [OTHER]
    app.advance(60)
    carried = json.loads(_get(app, OTHER).body)["result"]
    assert (carried["status"], carried["substatus"]) == ("awaiting_deliver", "posting_in_carriage")
    assert "cancel" in carried["available_actions"]
    assert app.knobs.change_at == []


def test_pack_assembles_a_posting_without_a_hand_over_substatus() -> None:
    app = _app()
    app.change_at(OVERDUE, "pack", after=1)
    app.advance(1)
    packed = json.loads(_get(app, OVERDUE).body)["result"]
    assert (packed["status"], packed["substatus"]) == (
        "awaiting_deliver",
        "posting_not_in_carriage",
    )
    assert "cancel" in packed["available_actions"]
    app.change(OVERDUE, "in_carriage")  # and then put in a carriage for hand-over
    assert app.get_json(OVERDUE)["substatus"] == "posting_in_carriage"


def test_changes_and_late_cancels_apply_in_the_order_they_happen() -> None:
    app = _app(cancel_apply_delay=5)
    app.change_at(OVERDUE, "ship", after=10)
    app.change_at(OTHER, "ship", after=1)
    _cancel(app, OVERDUE)  # applies at +5, before the ship at +10
    _cancel(app, OTHER)  # would apply at +5, after the ship at +1: still cancellable then
    app.advance(30)
    overdue = app.get_json(OVERDUE)
    assert (overdue["status"], overdue["previous_substatus"]) == ("cancelled", "posting_created")
    other = app.get_json(OTHER)
    assert other["status"] == "cancelled"
    assert other["previous_substatus"] == "posting_transferring_to_delivery"


def test_a_change_that_does_not_fit_its_posting_is_dropped_quietly() -> None:
    app = _app()
    app.change_at("10000010-0010-1", "ship", after=0)  # delivering already
    app.change_at("99999999-0000-1", "ship", after=0)  # unknown
    assert app.status("10000010-0010-1") == "delivering"
    assert app.knobs.change_at == []


def test_not_found_on_get_answers_404_once_for_that_posting() -> None:
    app = _app(not_found_on_get=[OVERDUE])
    assert _get(app, OTHER).status == 200
    missing = _get(app, OVERDUE)
    assert missing.status == 404
    assert json.loads(missing.body) == {"code": 5, "message": "posting not found", "details": []}
    assert _get(app, OVERDUE).status == 200
    assert app.knobs.not_found_on_get == []


def test_not_found_on_get_star_answers_the_next_get_of_any_posting() -> None:
    app = _app()
    app.set_knobs({"not_found_on_get": ["*", "*"]})
    assert [_get(app, n).status for n in (OTHER, OVERDUE, OTHER)] == [404, 404, 200]
    assert app.status(OVERDUE) == "awaiting_packaging"


def test_cancel_requests_are_counted_per_posting_whatever_the_answer() -> None:
    app = _app(cancel_outcome="drop")
    _cancel(app, OVERDUE)
    _cancel(app, OVERDUE)  # cancelled already: 400
    app.set_knobs({"fail_next": 1})
    _cancel(app, OTHER)
    _call(app, CANCEL, {"cancel_reason_id": 352})  # no posting number: not counted
    app.clear_calls()
    assert app.cancel_requests() == {OVERDUE: [0, 400], OTHER: [503]}
