"""Ledger steps and timing for the `tariff_step` and `needs_data` alerts (issue 20)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from daemon.models import Posting, Requirement
from daemon.policy_keys import needs_data_step, tariff_step_step, tariff_warn_at

STARTS = datetime(2026, 11, 26, 10, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("starts", "warn_before", "expected"),
    [
        (STARTS, timedelta(hours=2), datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC)),
        (STARTS, timedelta(minutes=1), datetime(2026, 11, 26, 9, 59, 1, tzinfo=UTC)),
        (STARTS, timedelta(0), None),
        (None, timedelta(hours=2), None),
    ],
    ids=["two-hours", "one-minute", "off", "no-further-step"],
)
def test_tariff_warn_at(
    starts: datetime | None, warn_before: timedelta, expected: datetime | None
) -> None:
    assert tariff_warn_at(starts, warn_before) == expected


def test_the_9999_marker_posting_gets_no_warning_time() -> None:
    last_step = Posting(
        posting_number="1-1-1",
        status="awaiting_packaging",
        shipment_date=STARTS,
    )
    assert tariff_warn_at(last_step.next_tariff_starts_at, timedelta(hours=2)) is None


def test_tariff_step_steps_name_the_start() -> None:
    assert tariff_step_step(STARTS) == "@2026-11-26T10:00:01Z"
    assert tariff_step_step(STARTS + timedelta(hours=12)) != tariff_step_step(STARTS)


def test_needs_data_step_is_the_same_for_the_same_set_in_any_order() -> None:
    one = [
        Requirement("products_requiring_gtd", (1702299810, 1658203344)),
        Requirement("products_requiring_country", (1811122233,)),
    ]
    two = [
        Requirement("products_requiring_country", (1811122233,)),
        Requirement("products_requiring_gtd", (1658203344, 1702299810, 1658203344)),
    ]
    step = needs_data_step((r.name, r.skus) for r in one)
    assert step == needs_data_step((r.name, r.skus) for r in two)
    assert step == (
        "products_requiring_country=1811122233;products_requiring_gtd=1658203344,1702299810"
    )


def test_a_changed_set_of_missing_data_is_a_new_step() -> None:
    before = needs_data_step([("products_requiring_gtd", (1658203344,))])
    more = needs_data_step([("products_requiring_gtd", (1658203344, 1702299810))])
    other = needs_data_step([("products_requiring_country", (1658203344,))])
    assert len({before, more, other}) == 3
    assert needs_data_step([]) == ""
