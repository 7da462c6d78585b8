"""The ship-or-cancel rule as a table: each zone, the fee cap, no rating data, a 403, a tariff
step soon or far, and the facts it reports.

The posting is the worked example of RATINGS.md section 6 (Ozon's own `/v3/posting/fbs/get`
example): 1,530 RUB, due 2026-03-31 09:00Z, free until then, then 12-hour commission steps of
1 % (50 RUB) twice, 2 % (100 RUB) twice and 3 % (150 RUB) for ever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from daemon.advice import (
    FEE_BANDS,
    FEE_BANDS_AS_OF,
    FEE_BANDS_SOURCE,
    FEE_CAP_RUB,
    RULES,
    advise,
    cancel_fee,
    fee_band,
    holds_back_cancel,
    index_percent,
)
from daemon.models import (
    AccessDenied,
    ErrorIndex,
    Money,
    Posting,
    Product,
    Rating,
    RatingSummary,
    Tariff,
    TariffStep,
)
from tests.tariff_json import with_tariff

SHIP = datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
DENIED = AccessDenied(path="/v1/rating/index/fbs/info", code=7, message="missing a role")


def rub(amount: str) -> Money:
    return Money(amount, "RUB")


def steps(*charges: tuple[str, float, str, timedelta | None]) -> tuple[TariffStep, ...]:
    return tuple(
        TariffStep(
            tariff_type=kind,
            rate=rate,
            charge=rub(charge),
            ends_at=None if ends is None else SHIP + ends,
        )
        for kind, rate, charge, ends in charges
    )


WORKED = steps(
    ("no_discount", 0, "0", timedelta(0)),
    ("commission", 1, "50", 12 * H),
    ("commission", 1, "50", 24 * H),
    ("commission", 2, "100", 36 * H),
    ("commission", 2, "100", 48 * H),
    ("commission", 3, "150", None),
)


def posting(
    price: str = "1530",
    currency: str = "RUB",
    tariff_steps: tuple[TariffStep, ...] = WORKED,
    tariff: Tariff | None = None,
) -> Posting:
    return with_tariff(
        tariff,
        tariff_steps,
        posting_number="87341265-0117-1",
        status="awaiting_packaging",
        shipment_date=SHIP,
        products=(Product(sku=1, price=price, currency=currency, quantity=1),),
    )


def index(value: float) -> ErrorIndex:
    return ErrorIndex(index=value, currency="RUB")


def summary(delay: str = "OK", cancellation: str = "OK") -> RatingSummary:
    return RatingSummary(
        ratings=(
            Rating(rating="rating_shipment_delay", value=3.0, status=delay),
            Rating(rating="rating_order_cancellation", value=1.0, status=cancellation),
        )
    )


CASES = [
    # id, posting, hours late, index, summary, recommendation, words in the reason
    ("not-late-yet", posting(), -1, index(0.02), summary(), "ship", "not late yet"),
    ("exactly-at-the-deadline", posting(), 0, None, None, "ship", "not late yet"),
    ("green-zone-fee-0-below-the-surcharge", posting(), 13, index(0.02), summary(), "decide",
     "more than a cancellation 0 RUB at error index 2 % (green)"),
    ("green-zone-and-delay-rating-critical", posting(), 13, index(0.02), summary("CRITICAL"),
     "cancel", "shipment-delay rating is CRITICAL"),
    ("both-ratings-critical", posting(), 13, index(0.02), summary("CRITICAL", "CRITICAL"),
     "decide", "the sale may still be worth it"),
    ("blue-zone-cheap-posting", posting(), 13, index(0.052), summary(), "decide",
     "shipping costs 50 RUB, more than a cancellation 45.9 RUB"),
    ("blue-zone-dear-posting", posting("5490"), 30, index(0.052), summary(), "ship",
     "a cancellation 164.7 RUB at error index 5.2 % (blue) and the sale"),
    ("yellow-zone", posting(), 13, index(0.15), summary(), "ship",
     "shipping costs 50 RUB, a cancellation 91.8 RUB at error index 15 % (yellow)"),
    ("orange-zone", posting(), 30, index(0.30), summary(), "ship",
     "shipping costs 100 RUB, a cancellation 137.7 RUB at error index 30 % (orange)"),
    ("red-zone-may-block", posting(), 60, index(0.45), summary("CRITICAL"), "ship",
     "2d 12h late; error index 45 % (red): a seller cancellation may get the account blocked"),
    ("fee-cap-keeps-shipping-cheaper", posting("60000"), 60, index(0.30), summary(), "ship",
     "a cancellation 1500 RUB (capped)"),
    ("fee-cap-flips-the-comparison", posting("60000", tariff_steps=steps(
        ("no_discount", 0, "0", timedelta(0)), ("commission", 3, "1800", None))),
     13, index(0.30), summary(), "decide", "more than a cancellation 1500 RUB (capped)"),
    ("no-rating-data", posting(), 13, None, None, "decide", "no error index from Ozon yet"),
    ("index-403", posting(), 13, DENIED, summary(), "decide",
     "no rating role (Ozon answered 403)"),
    ("summary-403-index-known", posting(), 13, index(0.15), DENIED, "ship", "(yellow)"),
    ("tariff-step-far", posting(), 13, index(0.15), summary(), "ship",
     "shipping costs 50 RUB, a cancellation 91.8 RUB"),
    ("tariff-step-soon", posting(), 23, index(0.15), summary(), "decide",
     "shipping costs 100 RUB from 2026-04-01 09:00 UTC (the next tariff step), more than"),
    ("nothing-extra-yet", posting(tariff_steps=steps(
        ("no_discount", 0, "0", 6 * H), ("commission", 1, "50", None))),
     1, None, None, "ship", "1h 00m late, but shipping costs nothing extra yet"),
    ("free-now-but-a-step-soon", posting(tariff_steps=steps(
        ("no_discount", 0, "0", 6 * H), ("commission", 1, "50", None))),
     5, None, None, "decide", "shipping costs 50 RUB from 2026-03-31 15:00 UTC"),
    ("index-sent-as-a-percent", posting(), 13, index(15.0), summary(), "ship", "(yellow)"),
    ("prices-in-another-currency", posting("1530", "CNY"), 13, index(0.15), summary(), "decide",
     "different currencies"),
    ("unknown-tariff-type", posting(tariff_steps=steps(("surge", 1, "50", None))), 13,
     index(0.15), summary(), "decide", "the cost of shipping or of cancelling is unknown"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "subject", "hours_late", "ozon_index", "ratings", "expected", "words"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_the_rule(
    case: str,
    subject: Posting,
    hours_late: float,
    ozon_index: ErrorIndex | AccessDenied | None,
    ratings: RatingSummary | AccessDenied | None,
    expected: str,
    words: str,
) -> None:
    advice = advise(subject, SHIP + hours_late * H, ozon_index, ratings)
    assert advice.recommendation == expected, advice.reason
    assert words in advice.reason
    assert "\n" not in advice.reason


def test_the_facts_stand_side_by_side() -> None:
    advice = advise(posting(), SHIP + 23 * H, index(0.052), summary("WARNING"))
    facts = advice.facts
    assert facts.late == 23 * H
    assert facts.surcharge == rub("50")
    assert (facts.next_step_at, facts.next_surcharge) == (SHIP + 24 * H, rub("100"))
    assert facts.step_soon is True
    assert facts.ship_cost == rub("100")
    assert (facts.index, facts.zone) == (5.2, "blue")
    assert (facts.fee, facts.fee_capped) == (rub("45.9"), False)
    assert (facts.delay_status, facts.cancellation_status) == ("WARNING", "OK")
    assert (facts.index_missing, facts.summary_missing) == (None, None)


def test_missing_numbers_say_why() -> None:
    facts = advise(posting(), SHIP + H, DENIED, None).facts
    assert (facts.index_missing, facts.summary_missing) == ("403", "none")
    assert (facts.index, facts.zone, facts.fee, facts.delay_status) == (None, None, None, None)


def test_the_tariff_snapshot_serves_when_there_are_no_steps() -> None:
    tariff = Tariff(
        current_type="commission",
        current_rate=1,
        current_charge=rub("50"),
        next_type="commission",
        next_rate=2,
        next_charge=rub("100"),
        next_starts_at=SHIP + 24 * H,
    )
    far = advise(posting(tariff_steps=(), tariff=tariff), SHIP + 13 * H, index(0.15), summary())
    assert (far.facts.ship_cost, far.recommendation) == (rub("50"), "ship")
    stale = advise(posting(tariff_steps=(), tariff=tariff), SHIP + 25 * H, index(0.15), None)
    assert stale.facts.surcharge == rub("100")  # the next step began after it was read
    assert stale.recommendation == "decide"


def test_a_live_charge_percent_replaces_the_band_rate() -> None:
    advice = advise(posting(), SHIP + 13 * H, index(0.052), summary(), charge_percent=6.0)
    assert advice.facts.fee == rub("91.8")
    assert advice.recommendation == "ship"


@pytest.mark.parametrize(
    ("percent", "zone", "fee"),
    [
        (0.0, "green", 0),
        (4.0, "green", 0),
        (4.01, "blue", 3),
        (10.0, "blue", 3),
        (10.01, "yellow", 6),
        (20.0, "yellow", 6),
        (20.01, "orange", 9),
        (40.0, "orange", 9),
        (40.01, "red", 9),
        (100.0, "red", 9),
        (250.0, "red", 9),
    ],
    ids=lambda value: str(value),
)
def test_fee_bands_have_inclusive_upper_bounds(percent: float, zone: str, fee: int) -> None:
    band = fee_band(percent)
    assert (band.zone, band.fee_percent) == (zone, Decimal(fee))
    assert band.may_block == (zone == "red")


def test_the_band_table_names_its_source_and_date() -> None:
    assert "docs.ozon.com" in FEE_BANDS_SOURCE
    assert FEE_BANDS_AS_OF.year >= 2026
    assert [band.up_to for band in FEE_BANDS] == sorted(band.up_to for band in FEE_BANDS)
    assert FEE_CAP_RUB == 1500


@pytest.mark.parametrize(
    ("value", "percent"),
    [(0.0, 0.0), (0.052, 5.2), (1.0, 100.0), (5.2, 5.2), (45.0, 45.0)],
    ids=["zero", "fraction", "one-is-a-fraction", "percent", "big-percent"],
)
def test_index_percent_reads_fractions_and_percents(value: float, percent: float) -> None:
    assert index_percent(value) == pytest.approx(percent)


def test_the_cap_applies_to_rub_prices_only_and_quantities_count() -> None:
    two = Posting(
        posting_number="1-1-1",
        status="awaiting_packaging",
        shipment_date=SHIP,
        products=(Product(sku=1, price="30000.0000", currency="RUB", quantity=2),),
    )
    assert cancel_fee(two, 30.0) == (rub("1500"), True)
    assert cancel_fee(posting("60000", "CNY"), 30.0) == (Money("5400", "CNY"), False)
    assert cancel_fee(posting("not a price"), 30.0) is None


@pytest.mark.parametrize(
    ("recommendation", "held"),
    [("ship", True), ("cancel", False), ("decide", False)],
    ids=["ship-holds-back", "cancel-lets-it-go", "decide-lets-the-clock-decide"],
)
def test_respect_advice_holds_back_only_a_ship(recommendation: str, held: bool) -> None:
    cases = {
        "ship": advise(posting("5490"), SHIP + 30 * H, index(0.052), summary()),
        "cancel": advise(posting(), SHIP + 13 * H, index(0.02), summary("CRITICAL")),
        "decide": advise(posting(), SHIP + 13 * H, None, None),
    }
    assert cases[recommendation].recommendation == recommendation
    assert holds_back_cancel(cases[recommendation]) is held


RULE_OF_CASE = {
    "not-late-yet": "not_late",
    "exactly-at-the-deadline": "not_late",
    "green-zone-fee-0-below-the-surcharge": "sale_worth",
    "green-zone-and-delay-rating-critical": "delay_critical",
    "both-ratings-critical": "sale_worth",
    "blue-zone-cheap-posting": "sale_worth",
    "blue-zone-dear-posting": "cheaper_to_ship",
    "yellow-zone": "cheaper_to_ship",
    "orange-zone": "cheaper_to_ship",
    "red-zone-may-block": "red_zone",
    "fee-cap-keeps-shipping-cheaper": "cheaper_to_ship",
    "fee-cap-flips-the-comparison": "sale_worth",
    "no-rating-data": "no_index",
    "index-403": "no_role",
    "summary-403-index-known": "cheaper_to_ship",
    "tariff-step-far": "cheaper_to_ship",
    "tariff-step-soon": "sale_worth",
    "nothing-extra-yet": "free",
    "free-now-but-a-step-soon": "no_index",
    "index-sent-as-a-percent": "cheaper_to_ship",
    "prices-in-another-currency": "currencies",
    "unknown-tariff-type": "unknown_cost",
}


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_the_advice_names_the_step_of_the_rule_that_decided(case: tuple[object, ...]) -> None:
    """`Advice.rule` is what messages in other languages are worded from."""
    name, subject, hours_late, ozon_index, ratings = case[:5]
    assert isinstance(subject, Posting) and isinstance(hours_late, int | float)
    advice = advise(subject, SHIP + hours_late * H, ozon_index, ratings)  # type: ignore[arg-type]
    assert advice.rule == RULE_OF_CASE[str(name)]
    assert advice.rule in RULES


def test_every_step_of_the_rule_is_named_in_the_table() -> None:
    assert set(RULE_OF_CASE.values()) == set(RULES)
