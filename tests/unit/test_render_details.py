"""What alerts show besides the deadline (issue 20), in three languages: the ship-or-cancel
advice in `overdue`, the tariff change in `tariff_step`, the missing data and where it is
filled in for `needs_data`, and Ozon's ratings with per-warehouse figures in the digest. The
payloads are made by the daemon's own code (`daemon.alert_facts`, `daemon.alerts.batch`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.alert_facts import alert_facts
from daemon.alerts.batch import posting_payload
from daemon.models import (
    AccessDenied,
    AccountRatings,
    ErrorIndex,
    Money,
    Posting,
    Product,
    Rating,
    RatingSummary,
    Requirement,
    Tariff,
)
from daemon.notify.details import DETAIL_WORDS
from daemon.notify.render import render
from tests.tariff_json import with_tariff
from tests.unit.test_advice import SHIP, WORKED

H = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
TARIFF = Tariff(
    current_type="commission",
    current_rate=1,
    current_charge=Money("50", "RUB"),
    next_type="commission",
    next_rate=2,
    next_charge=Money("100", "RUB"),
    next_starts_at=SHIP + 24 * H + timedelta(seconds=1),
)
RATINGS = AccountRatings(
    index=ErrorIndex(index=0.052, currency="RUB"),
    summary=RatingSummary(
        ratings=(
            Rating(rating="rating_shipment_delay", value=6.0, status="WARNING"),
            Rating(rating="rating_order_cancellation", value=1.0, status="OK"),
        )
    ),
)


def subject(**fields: Any) -> Posting:
    base: dict[str, Any] = {
        "posting_number": "87341265-0117-1",
        "status": "awaiting_packaging",
        "shipment_date": SHIP,
        "warehouse_name": "Main FBS warehouse",
        "products": (
            Product(
                sku=1658203344, offer_id="MUG-330|*BLUE*", price="1530", currency="RUB", quantity=1
            ),
        ),
    }
    return with_tariff(TARIFF, WORKED, **(base | fields))


def message(event: str, posting: Posting, now: datetime, language: str, **kw: Any) -> str:
    facts = alert_facts(event, posting, now, kw.get("ratings"))
    payload = {"event": event, "account": "shop-1", "total": 1,
               "postings": [posting_payload(posting, "reason", facts)]}  # fmt: skip
    rendered = render(payload, now, SHANGHAI, language)
    return rendered.title + "\n" + rendered.body


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Advice: YOUR CALL", "ship now: extra 50 RUB", "extra 100 RUB",
                "error index 5.2 % (zone blue), fee 45.9 RUB", "shipment-delay rating: WARNING",
                "cancellation rating: OK"]),
        ("zh", ["建议: 请自行决定", "现在发货: 附加 50 RUB", "错误指数 5.2 % (区间 蓝色)",
                "延迟发货评分: WARNING"]),
        ("ru", ["Совет: РЕШАТЬ ВАМ", "отгрузить сейчас: доплата 50 RUB",
                "индекс ошибок 5.2 % (зона синяя), сбор 45.9 RUB", "рейтинг просрочек: WARNING"]),
    ],
)  # fmt: skip
def test_an_overdue_alert_puts_the_advice_and_its_facts_side_by_side(
    language: str, words: list[str]
) -> None:
    text = message("overdue", subject(), SHIP + 23 * H, language, ratings=RATINGS)
    for word in words:
        assert word in text, text
    assert "2026-04-01 17:00" in text  # the next step, in the configured zone


def test_an_overdue_alert_without_ratings_says_why_the_advice_cannot_weigh_a_cancel() -> None:
    denied = AccountRatings(index=AccessDenied(path="/v1/rating/index/fbs/info"))
    text = message("overdue", subject(), SHIP + 13 * H, "en", ratings=denied)
    assert "Advice: YOUR CALL (the API key has no rating role (Ozon answered 403))" in text
    assert "cancel: the API key has no rating role" in text
    text = message("overdue", subject(), SHIP + 13 * H, "en")
    assert "no error index from Ozon yet" in text


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Shipping tariff steps up soon", "Tariff from 2026-04-01 17:00: surcharge 2 % = "
                "100 RUB (now: surcharge 1 % = 50 RUB)"]),
        ("zh", ["运费费率即将上调", "附加费 2 % = 100 RUB"]),
        ("ru", ["Скоро повышение тарифа отгрузки", "доплата 2 % = 100 RUB"]),
    ],
)  # fmt: skip
def test_a_tariff_step_alert_says_when_and_what_changes(language: str, words: list[str]) -> None:
    text = message("tariff_step", subject(), SHIP + 22 * H, language)
    for word in words:
        assert word in text, text


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Data missing before assembly", "Missing: customs declaration number (GTD): "
                "SKU 1658203344", "Missing: country of origin", "Fill it in: seller account",
                "/v6/fbs/posting/product/exemplar/set", "/v2/posting/fbs/product/country/set"]),
        ("zh", ["打包前需补充信息", "缺少: 报关单号（GTD）", "填写位置"]),
        ("ru", ["Не хватает данных для сборки", "Не хватает: номер ГТД", "Где заполнить"]),
    ],
)  # fmt: skip
def test_a_needs_data_alert_says_what_is_missing_for_which_product_and_where(
    language: str, words: list[str]
) -> None:
    needs = (
        Requirement("products_requiring_gtd", (1658203344,)),
        Requirement("products_requiring_country", (1658203344,)),
    )
    posting = subject(requirement_skus=needs, requirements=tuple(r.name for r in needs))
    text = message("needs_data", posting, SHIP - 5 * H, language)
    for word in words:
        assert word in text, text
    assert "MUG-330  BLUE" in text and "*" not in text  # outside text cleaned of markup


DIGEST: dict[str, Any] = {
    "watched": 3,
    "overdue": 1,
    "ozon": {
        "ratings": [
            {"rating": "rating_order_cancellation", "value": 1.2, "past_value": 0.8,
             "status": "OK", "value_type": "PERCENT", "change_meaning": "MEANING_BAD"},
            {"rating": "rating_shipment_delay", "value": 6, "past_value": None,
             "status": "WARNING", "value_type": "PERCENT", "change_meaning": ""},
        ],
        "error_index": {"percent": 5.2, "zone": "blue", "fee_percent": 3.0,
                        "period_from": "2026-11-19", "period_to": "2026-12-02", "fees": 350.0,
                        "currency": "RUB"},
    },
    "warehouses": [
        {"warehouse_id": 1, "warehouse": "Main FBS warehouse", "shipped": 120,
         "shipped_late": 3, "cancelled_by_us": 1, "cancelled_elsewhere": 4},
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Ozon ratings, 7 days: cancellations 1.2 % OK (was 0.8 %); shipment delays 6 % "
                "WARNING", "error index 5.2 % (blue: a seller cancellation costs 3 % of the "
                "price), fees 2026-11-19..2026-12-02: 350 RUB", "Main FBS warehouse: 120 / 3 / 1 "
                "/ 4", "shipped / late / cancelled by ozon-sync / cancelled elsewhere"]),
        ("zh", ["Ozon 评分（7 天）: 取消率 1.2 % OK", "错误指数 5.2%（蓝色", "已发货 / 延迟"]),
        ("ru", ["Рейтинги Ozon, 7 дней: отмены 1.2 % OK (было 0.8 %)", "индекс ошибок 5.2 % "
                "(синяя", "Main FBS warehouse: 120 / 3 / 1 / 4"]),
    ],
)  # fmt: skip
def test_the_digest_shows_ratings_the_error_index_and_each_warehouse(
    language: str, words: list[str]
) -> None:
    payload = {"event": "digest", "account": "shop-1", "digest": DIGEST}
    body = render(payload, SHIP, SHANGHAI, language).body
    for word in words:
        assert word in body, body


def test_the_digest_says_a_403_and_what_to_do() -> None:
    digest = {"ozon": {"denied": ["/v1/rating/summary", "/v1/rating/index/fbs/info"]}}
    body = render({"event": "digest", "account": "shop-1", "digest": digest}, SHIP, SHANGHAI).body
    assert "ratings not available: the API key has no role for /v1/rating/summary, " in body
    assert "(Ozon answered 403)" in body and "Seller API" in body


def test_a_digest_without_ozon_numbers_shows_no_empty_lines() -> None:
    body = render({"event": "digest", "account": "shop-1", "digest": {}}, SHIP, SHANGHAI).body
    assert "rating" not in body.lower() and "warehouse" not in body.lower()


def test_every_language_has_every_detail_word() -> None:
    english = set(DETAIL_WORDS["en"])
    for language, words in DETAIL_WORDS.items():
        assert set(words) == english, language
