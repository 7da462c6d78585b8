"""Which cached posting numbers `hold` names when a typed number matches none."""

from __future__ import annotations

import random

import pytest

from daemon.hold import ORDER_NUMBER, closest_numbers

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
