"""Sandbox time text and knob validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.sandbox.clock import Clock, format_us, parse_rfc3339, to_us
from daemon.sandbox.knobs import Knobs, parse_duration


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
