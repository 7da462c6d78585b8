"""Messages for phones: every required item, three languages, "and N more", no markup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.notify.render import MAX_LISTED, clean, deadline_text, render, span

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def item(
    number: str, hours: float, status: str = "awaiting_packaging", **extra: Any
) -> dict[str, Any]:
    deadline = NOW + timedelta(hours=hours)
    return {
        "posting_number": number,
        "status": status,
        "warehouse": "Main FBS warehouse",
        "shipment_date": deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": extra.pop("reason", ""),
        **extra,
    }


def alert(event: str, postings: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "account": "shop-1",
        "total": len(postings),
        "postings": postings,
        **extra,
    }


@pytest.mark.parametrize(
    ("language", "title_word", "left_word"),
    [
        ("en", "Ship soon", "left"),
        ("zh", "即将到发货截止时间", "剩余"),
        ("ru", "Скоро срок отгрузки", "осталось"),
    ],
)
def test_reminder_names_account_posting_status_warehouse_deadlines_and_time_left(
    language: str, title_word: str, left_word: str
) -> None:
    message = render(alert("reminder", [item("111-1", 3.5)]), NOW, SHANGHAI, language)
    assert title_word in message.title
    assert "shop-1" in message.title and "shop-1" in message.body
    assert "111-1" in message.body
    assert "Main FBS warehouse" in message.body
    assert "2026-11-26 15:30 Asia/Shanghai (10:30 MSK)" in message.body
    assert left_word in message.body
    assert span(timedelta(hours=3, minutes=30), language) in message.body


def test_overdue_says_how_late() -> None:
    message = render(alert("overdue", [item("222-1", -26)]), NOW, SHANGHAI, "en")
    assert "OVERDUE" in message.title
    assert "overdue by 1d 2h" in message.body


def test_cancellation_messages_carry_the_reason() -> None:
    body = render(
        alert("cancelled_elsewhere", [item("333-1", 5, "cancelled", reason="buyer cancelled")]),
        NOW,
        SHANGHAI,
    ).body
    assert "reason: buyer cancelled" in body


def test_title_counts_postings_and_shows_the_most_urgent_deadline() -> None:
    postings = [item("b-1", 10), item("a-1", 2), item("c-1", 30)]
    message = render(alert("reminder", postings), NOW, SHANGHAI)
    assert message.title == "[shop-1] Ship soon: 3 postings, most urgent 2h left"
    assert message.body.index("a-1") < message.body.index("b-1") < message.body.index("c-1")


def test_more_than_twenty_postings_end_with_and_n_more() -> None:
    postings = [item(f"p-{i:03d}", i + 1) for i in range(23)]
    message = render(alert("reminder", postings), NOW, SHANGHAI)
    assert message.body.count("\np-") == MAX_LISTED
    assert message.body.rstrip().endswith("and 3 more")
    assert "p-019" in message.body and "p-020" not in message.body


def test_and_n_more_counts_postings_left_out_of_the_payload() -> None:
    payload = alert("overdue", [item(f"p-{i}", -1) for i in range(25)])
    payload["total"] = 120
    assert render(payload, NOW, SHANGHAI, "zh").body.rstrip().endswith("还有 100 个")
    assert render(payload, NOW, SHANGHAI, "ru").body.rstrip().endswith("и ещё 100")


def test_moscow_zone_is_shown_once() -> None:
    moment = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert deadline_text(moment, ZoneInfo("Europe/Moscow")) == "2026-11-26 10:00 MSK"


def test_text_from_outside_cannot_carry_markup() -> None:
    assert (
        clean("*bold* _it_ `code` [link](x) # h\nnext\x07")
        == "bold   it   code   link (x)   h next"
    )
    body = render(alert("reminder", [item("1-1", 2, warehouse="*Best*_[WH]`")]), NOW, SHANGHAI).body
    for char in "*_`[]":
        assert char not in body


def test_account_level_events_carry_their_reason() -> None:
    message = render(
        {"event": "api_error", "account": "shop-1", "postings": [], "reason": "Ozon: 503"},
        NOW,
        SHANGHAI,
        "ru",
    )
    assert message.title == "[shop-1] Ozon API не отвечает"
    assert "Ozon: 503" in message.body


def test_digest_lists_its_counts() -> None:
    digest = {"watched": 12, "due_24h": 4, "overdue": 2, "cancelled_24h": 1,
              "shipped_late_24h": 0, "late_share_14d": 0.125}  # fmt: skip
    message = render({"event": "digest", "account": "shop-1", "digest": digest}, NOW, SHANGHAI)
    assert "watched postings: 12" in message.body
    assert "overdue now: 2" in message.body
    assert "12.5%" in message.body
