"""Durations as the config writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.durations import (
    LONGEST_DURATION,
    MAX_DURATION,
    DurationError,
    format_duration,
    parse_duration,
    read_duration,
)

GOOD = [
    ("90s", timedelta(seconds=90)),
    ("5m", timedelta(minutes=5)),
    ("4h", timedelta(hours=4)),
    ("2d", timedelta(days=2)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("0s", timedelta(0)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[g[0] for g in GOOD])
def test_parse_duration_reads_each_unit_and_combinations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5x", "-5m", "1m1h", "1.5h", "h", "5 m", "1h1h"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=24), "24h"),
        (timedelta(hours=48), "48h"),
        (timedelta(days=90), "90d"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(0), "0s"),
        (timedelta(seconds=-90), "-1m30s"),
    ],
)
def test_format_duration_writes_what_people_write(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_is_the_identity(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


BOUNDED = [
    ("366d", {}, None),
    ("367d", {}, '"367d" is above the maximum of "366d"'),
    ("9999999d", {"maximum": LONGEST_DURATION}, '"9999999d" is above the maximum of "3653d"'),
    ("99999999999d", {}, '"99999999999d" is above the maximum of "366d"'),
    ("9" * 5000 + "s", {}, '"' + "9" * 40 + '..." is above the maximum of "366d"'),
    ("5s", {"minimum": timedelta(seconds=10)}, '"5s" is below the minimum of "10s"'),
    ("soon", {}, '"soon" is not a duration (use e.g. "90s", "5m", "1h30m", "2d")'),
]


@pytest.mark.parametrize(
    ("text", "bounds", "problem"),
    BOUNDED,
    ids=["at the maximum", "above", "keep_history", "beyond a timedelta", "5000 digits",
         "below the minimum", "not a duration"],
)  # fmt: skip
def test_read_duration_keeps_every_value_in_its_range(
    text: str, bounds: dict[str, timedelta], problem: str | None
) -> None:
    if problem is None:
        assert read_duration(text, **bounds) <= MAX_DURATION
        return
    with pytest.raises(DurationError) as caught:
        read_duration(text, **bounds)
    assert str(caught.value) == problem


@given(st.text(alphabet="0123456789dhms ", max_size=60))
def test_read_duration_raises_nothing_but_duration_error(text: str) -> None:
    try:
        value = read_duration(text)
    except DurationError:
        return
    assert timedelta(0) <= value <= MAX_DURATION
