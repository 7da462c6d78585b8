"""Which cached posting numbers `hold` names when a typed number matches none."""

from __future__ import annotations

import random
import re

import pytest

from daemon.hold import NUMBER_MAX, ORDER_NUMBER, HoldRefused, closest_numbers, posting_number
from daemon.ozon.posting import MAX_NUMBER_LENGTH

CACHED = ["12345678-0001-1", "12345678-0001-2", "87654321-0042-1", "55555555-0005-3"]


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("12345678-0010-1", "12345678-0001-1"),  # two digits swapped
        ("1234567-0001-1", "12345678-0001-1"),  # a digit missing
        ("123456789-0001-1", "12345678-0001-1"),  # a digit too many
        ("87654321-0042-7", "87654321-0042-1"),  # the wrong part
        (" 55555555-0005-3x", "55555555-0005-3"),
    ],
    ids=["swapped", "missing", "extra", "wrong-part", "junk"],
)
def test_the_closest_cached_number_comes_first(typed: str, first: str) -> None:
    assert closest_numbers(typed, CACHED)[0] == first


def test_nothing_alike_names_nothing() -> None:
    assert closest_numbers("hello", CACHED) == []
    assert closest_numbers("12345678-0001-1", []) == []


def test_the_closest_is_found_among_a_hundred_thousand_numbers() -> None:
    rng = random.Random(7)
    numbers = [
        f"{rng.randint(10**7, 10**8 - 1)}-{rng.randint(1, 9999):04d}-{rng.randint(1, 3)}"
        for _ in range(100_000)
    ]
    numbers.insert(rng.randint(0, len(numbers)), "12345678-0001-1")
    assert closest_numbers("12345678-0010-1", numbers)[0] == "12345678-0001-1"
    assert len(closest_numbers("12345678-0010-1", numbers, n=3)) == 3


@pytest.mark.parametrize(
    ("text", "is_order"),
    [("12345678-0001", True), ("12345678-0001-1", False), ("12345678", False), ("a-1", False)],
)
def test_an_order_number_is_a_posting_number_without_its_last_part(
    text: str, is_order: bool
) -> None:
    assert bool(ORDER_NUMBER.match(text)) is is_order


def test_a_typed_number_is_checked_before_any_lookup() -> None:
    assert posting_number("  12345678-0001-1 ") == "12345678-0001-1"
    assert posting_number("9" * NUMBER_MAX) == "9" * NUMBER_MAX
    for bad, why in (
        ("", "give a posting number"),
        (" \t ", "give a posting number"),
        ("9" * (NUMBER_MAX + 1), f"({NUMBER_MAX + 1} characters) is not a posting number"),
        ("1234\x1b[2J-1", "control or line-break"),
        ("1234\u2028-1", "control or line-break"),
    ):
        with pytest.raises(HoldRefused, match=re.escape(why)) as refused:
            posting_number(bad)
        assert len(str(refused.value)) < 200
        assert "\x1b" not in str(refused.value) and "\u2028" not in str(refused.value)


def test_the_bound_is_the_one_the_parser_keeps_cached_numbers_within() -> None:
    assert NUMBER_MAX == MAX_NUMBER_LENGTH


def test_the_closest_numbers_of_a_huge_text_are_none_and_found_at_once() -> None:
    assert closest_numbers("9" * 60_000, ["9" * 20, *CACHED]) == []
