"""The policy's notices from Ozon's own data (issue 20): a `tariff_step` warning
`tariff_warn_before` before `next_tariff_starts_at` (none for the 9999-12-31 marker, once per
posting and step start, due at its moment through `next_wakeup`), and `needs_data` once per
posting and set of missing data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from msgspec.structs import replace

from daemon.alerts import Event
from daemon.models import Money, Posting, Product, Requirement, Tariff, TariffStep
from daemon.policy import Rules, Watched, decide, next_wakeup
from daemon.policy_keys import needs_data_step, tariff_step_step
from daemon.policy_notices import next_tariff, notice_wakeup, notices
from tests.tariff_json import with_tariff

D = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # shipment_date
T = D + timedelta(seconds=1)  # the first commission step starts one second after it
H = timedelta(hours=1)
S = timedelta(seconds=1)
W = 2 * H  # tariff_warn_before, the default
TARIFF = Tariff(
    current_type="discount",
    current_rate=2,
    current_charge=Money("19.8", "RUB"),
    next_type="commission",
    next_rate=1,
    next_charge=Money("50", "RUB"),
    next_starts_at=T,
)
GTD = Requirement("products_requiring_gtd", (1658203344,))
MARK = Requirement("products_requiring_mandatory_mark", (1702299810,))


def posting(tariff: Tariff | None = TARIFF, **fields: Any) -> Posting:
    base: dict[str, Any] = {
        "posting_number": "1-1",
        "status": "awaiting_packaging",
        "shipment_date": D + 12 * H,
        "products": (Product(sku=1658203344, offer_id="MUG-330-BLUE"),),
    }
    return with_tariff(tariff, **(base | fields))


def needing(*requirements: Requirement) -> Posting:
    return posting(
        None, requirement_skus=requirements, requirements=tuple(r.name for r in requirements)
    )


def events(found: list[tuple[Event, str, str]]) -> list[tuple[Event, str]]:
    return [(event, step) for event, step, _ in found]


WARN = (Event.TARIFF_STEP, tariff_step_step(T))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (T - W - S, []),
        (T - W, [WARN]),  # the warning is due exactly W before the step
        (T - H, [WARN]),
        (T - S, [WARN]),
        (T, []),  # the step has started: too late to warn
        (T + H, []),
    ],
    ids=["before-the-window", "at-warn-time", "inside", "last-second", "at-the-step", "after"],
)
def test_a_tariff_warning_belongs_to_the_window_before_the_step(
    now: datetime, expected: list[tuple[Event, str]]
) -> None:
    assert events(notices(posting(), now, W)) == expected


@pytest.mark.parametrize(
    "tariff",
    [replace(TARIFF, next_starts_at=None), None],
    ids=["9999-12-31-marker", "no-tariff"],
)
def test_no_tariff_warning_without_a_next_step(tariff: Tariff | None) -> None:
    item = posting(tariff)
    assert item.next_tariff_starts_at is None
    assert notices(item, T - H, W) == []
    assert notice_wakeup(item, T - 3 * H, W) is None


def test_tariff_warn_before_0s_turns_the_warnings_off() -> None:
    assert notices(posting(), T - S, timedelta(0)) == []
    assert notice_wakeup(posting(), T - 3 * H, timedelta(0)) is None


def test_the_warning_fires_once_per_posting_and_step_and_again_for_a_moved_start() -> None:
    fired = {("1-1", *WARN)}
    assert notices(posting(), T - H, W, fired) == []
    moved = T + 12 * H
    later = posting(replace(TARIFF, next_starts_at=moved))
    assert events(notices(later, moved - H, W, fired)) == [
        (Event.TARIFF_STEP, tariff_step_step(moved))
    ]


def test_the_warning_says_what_changes_from_what() -> None:
    ((_, _, reason),) = notices(posting(), T - H, W)
    assert "2026-11-26T10:00:01Z" in reason
    assert "discount 2 %, 19.8 RUB -> commission 1 %, 50 RUB" in reason


def test_without_next_tariff_fields_the_step_of_the_timeline_says_what_changes() -> None:
    steps = (
        TariffStep("discount", 2, Money("19.8", "RUB"), D),
        TariffStep("commission", 1, Money("50", "RUB"), D + 12 * H),
        TariffStep("commission", 2, Money("100", "RUB"), None),
    )
    bare = Tariff(current_type="discount", current_rate=2, next_starts_at=T)
    item = with_tariff(bare, steps, posting_number="1-1", status="awaiting_packaging",
                       shipment_date=D)  # fmt: skip
    assert next_tariff(item, T) == ("commission", 1.0, Money("50", "RUB"))


def test_the_warning_is_a_wakeup_moment_until_it_fired() -> None:
    item = posting()
    assert notice_wakeup(item, T - 3 * H, W) == T - W
    assert notice_wakeup(item, T - 3 * H, W, {("1-1", *WARN)}) is None
    assert notice_wakeup(item, T - H, W) is None  # due already: decide now, not later
    assert notice_wakeup(item, T - 3 * H, W, before=T - W) is None  # not earlier than that
    assert notice_wakeup(item, T - 3 * H, W, before=T - W + S) == T - W
    rules = Rules(remind_before=(timedelta(minutes=1),))
    watched = [Watched(item)]
    assert next_wakeup(watched, T - 3 * H, rules) == T - W  # before the posting's deadline


def test_needs_data_fires_once_per_set_and_again_when_the_set_changes() -> None:
    first = notices(needing(GTD), D, W)
    assert events(first) == [(Event.NEEDS_DATA, needs_data_step([(GTD.name, GTD.skus)]))]
    fired = {("1-1", Event.NEEDS_DATA, first[0][1])}
    assert notices(needing(GTD), D + H, W, fired) == []
    more = notices(needing(GTD, MARK), D + H, W, fired)
    assert [event for event, _ in events(more)] == [Event.NEEDS_DATA]
    assert notices(needing(), D, W) == []


def test_the_needs_data_reason_names_what_is_missing_for_which_product() -> None:
    ((_, _, reason),) = notices(needing(GTD, MARK), D, W)
    assert "customs declaration number (GTD) for SKU 1658203344 (MUG-330-BLUE)" in reason
    assert "mandatory marking code (Chestny ZNAK) for SKU 1702299810" in reason


def test_decide_alerts_notices_of_watched_postings_only_and_records_them() -> None:
    rules = Rules()
    item = posting(requirement_skus=(GTD,), requirements=(GTD.name,))
    decisions = decide([Watched(item)], T - H, rules)
    assert {alert.event for alert in decisions.alerts} >= {Event.TARIFF_STEP, Event.NEEDS_DATA}
    again = decide([Watched(item)], T - H + S, rules, set(decisions.ledger_keys()))
    assert {a.event for a in again.alerts} & {Event.TARIFF_STEP, Event.NEEDS_DATA} == set()
    shipped = replace(item, status="delivering")
    assert decide([Watched(shipped)], T - H, rules).alerts == ()
