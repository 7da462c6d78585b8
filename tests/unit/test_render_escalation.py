"""An escalation reads as one (issue 18.3): its title names the level, its first lines say
nobody acknowledged the postings and how to take one in hand, in en / zh / ru."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from daemon.notify.render import render

NOW = datetime(2026, 11, 26, 10, 45, tzinfo=UTC)
PAYLOAD = {
    "event": "overdue",
    "account": "shop-1",
    "total": 1,
    "postings": [
        {
            "posting_number": "5000-0001-1",
            "status": "awaiting_packaging",
            "warehouse": "Main",
            "shipment_date": "2026-11-26T10:00:00Z",
            "reason": "level 1: not acknowledged 45m after its first alert",
        }
    ],
    "escalation": {"level": 1, "after": "30m", "after_seconds": 1800},
}


@pytest.mark.parametrize(
    ("language", "title", "line"),
    [
        ("en", "ESCALATION 1 · [shop-1] OVERDUE", "Nobody acknowledged these postings 30m after"),
        ("zh", "升级提醒（第 1 级） · [shop-1] 已超时未发货", "首次提醒 30分 后仍无人确认接手"),
        ("ru", "ЭСКАЛАЦИЯ 1 · [shop-1] ПРОСРОЧЕНО", "Никто не взял эти отправления в работу за 30"),
    ],
)
def test_an_escalation_names_its_level_and_says_nobody_acknowledged(
    language: str, title: str, line: str
) -> None:
    message = render(PAYLOAD, NOW, ZoneInfo("Asia/Shanghai"), language)
    assert message.title.startswith(title)
    assert line in message.body
    assert "5000-0001-1" in message.body
    assert "ozon-sync ack" in message.body


def test_an_ordinary_alert_has_no_escalation_words() -> None:
    plain = {key: value for key, value in PAYLOAD.items() if key != "escalation"}
    message = render(plain, NOW, ZoneInfo("Asia/Shanghai"), "en")
    assert message.title.startswith("[shop-1] OVERDUE")
    assert "acknowledged" not in message.body
