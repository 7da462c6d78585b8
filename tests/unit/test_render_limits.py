"""Outside text in messages (issue 16.7): cleaned of every line separator, control and bidi
character, capped per field, and each message kept within its route's own limit by splitting it
into numbered parts on posting boundaries (a WeCom bot takes 2,048 bytes, Telegram 4,096
characters)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.notify.render import (
    FIELD_CAP,
    MAX_LISTED,
    MessageLimit,
    clean,
    render,
    render_parts,
)

NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
WECOM = MessageLimit(2048, "bytes", title_in_body=True)
TELEGRAM = MessageLimit(4096, "chars", title_in_body=True)

HOSTILE = (
    "\u2028\u2029\u0085"  # line and paragraph separators, NEXT LINE
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # bidi controls
    "\x00\x07\x1b\x7f\x80\x9b\x9f"  # C0, DEL, C1
)


@pytest.mark.parametrize("char", list(HOSTILE), ids=lambda c: f"U+{ord(c):04X}")
def test_clean_removes_every_separator_control_and_bidi_character(char: str) -> None:
    cleaned = clean(f"Main{char}warehouse")
    assert char not in cleaned
    assert cleaned.replace(" ", "") == "Mainwarehouse"


def test_clean_caps_a_field_with_an_ellipsis() -> None:
    cleaned = clean("W" * 5000)
    assert len(cleaned) == FIELD_CAP
    assert cleaned.endswith("…")
    assert clean("short") == "short"


def item(number: str, hours: float, **extra: Any) -> dict[str, Any]:
    return {
        "posting_number": number,
        "status": "awaiting_packaging",
        "warehouse": extra.pop("warehouse", "Main FBS warehouse"),
        "shipment_date": (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": extra.pop("reason", ""),
        **extra,
    }


def alert(event: str, postings: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"event": event, "account": "shop-1", "total": total or len(postings),
            "postings": postings}  # fmt: skip


def test_a_five_thousand_character_warehouse_name_makes_a_short_message() -> None:
    hostile = "W" * 2000 + HOSTILE + "\u202eevil" + "W" * 3000
    message = render(alert("overdue", [item("1-1", -2, warehouse=hostile)]), NOW, SHANGHAI)
    assert len(message.title) + len(message.body) < 600
    assert "…" in message.body
    for char in HOSTILE:
        assert char not in message.body


def size(text: str, limit: MessageLimit) -> int:
    if limit.unit == "bytes":
        return len(text.encode("utf-8"))
    return len(text.encode("utf-16-le")) // 2


def sent_as(title: str, body: str) -> str:
    """What Apprise sends to a service without a title field: the title merged into the body."""
    return f"{title}\r\n{body}"


def long_alert(event: str, count: int, total: int) -> dict[str, Any]:
    """An alert whose rendering is over every limit: long (capped) warehouse names and reasons
    from outside, in every posting."""
    postings = [
        item(
            f"{10_000_000 + i}-0001-{i % 3 + 1}",
            -3 - i,
            warehouse="Склад 仓库 " * 40,
            reason="Покупатель отменил 买家取消 " * 20,
        )
        for i in range(count)
    ]
    return alert(event, postings, total)


@pytest.mark.parametrize("language", ["zh", "ru", "en"])
@pytest.mark.parametrize("limit", [WECOM, TELEGRAM], ids=["wecom-2048-bytes", "telegram-4096"])
@pytest.mark.parametrize("event", ["overdue", "cancelled_elsewhere"])
def test_an_alert_over_a_route_limit_is_split_into_numbered_parts_on_posting_boundaries(
    language: str, limit: MessageLimit, event: str
) -> None:
    payload = long_alert(event, MAX_LISTED + 5, total=40)
    whole = render(payload, NOW, SHANGHAI, language)
    assert size(sent_as(whole.title, whole.body), limit) > limit.size, "the test needs a long one"

    parts = render_parts(payload, NOW, SHANGHAI, language, limit)

    assert len(parts) >= 2
    for index, part in enumerate(parts, start=1):
        assert size(sent_as(part.title, part.body), limit) <= limit.size, part.title
        assert part.title.endswith(f"({index}/{len(parts)})"), part.title
        assert part.title.startswith(whole.title)
        assert part.body.startswith(whole.body.split("\n", 1)[0]), "each part names the account"
    # Each listed posting's lines are in exactly one part, whole and in the original order.
    blocks = whole.body.split("\n\n")[1:]
    joined = [block for part in parts for block in part.body.split("\n\n")[1:]]
    assert joined == blocks
    numbers = re.findall(r"^\d{8}-0001-\d", whole.body, flags=re.MULTILINE)
    assert len(numbers) == MAX_LISTED
    for number in numbers:
        assert sum(number in part.body for part in parts) == 1, number
    assert whole.body.endswith(blocks[-1]) and parts[-1].body.endswith(blocks[-1])


@pytest.mark.parametrize("language", ["zh", "ru", "en"])
def test_a_zh_ru_en_reminder_of_twenty_postings_fits_wecom_only_when_split(language: str) -> None:
    postings = [item(f"{20_000_000 + i}-0001-1", 1 + i / 10) for i in range(MAX_LISTED)]
    payload = alert("reminder", postings)

    parts = render_parts(payload, NOW, SHANGHAI, language, WECOM)

    for part in parts:
        assert size(sent_as(part.title, part.body), WECOM) <= WECOM.size
    listed = "".join(part.body for part in parts)
    for posting in postings:
        assert listed.count(posting["posting_number"]) == 1


def test_a_message_within_the_limit_is_one_part_without_a_number() -> None:
    payload = alert("overdue", [item("1-1", -2)])
    whole = render(payload, NOW, SHANGHAI, "zh")
    assert render_parts(payload, NOW, SHANGHAI, "zh", WECOM) == [whole]
    assert render_parts(payload, NOW, SHANGHAI, "zh", None) == [whole]


def test_a_limit_counted_without_the_title_leaves_the_title_out_of_the_count() -> None:
    payload = long_alert("overdue", MAX_LISTED, total=MAX_LISTED)
    separate = MessageLimit(2048, "chars", title_in_body=False)
    for part in render_parts(payload, NOW, SHANGHAI, "ru", separate):
        assert size(part.body, separate) <= 2048


def test_an_account_error_over_the_limit_is_cut_not_refused() -> None:
    payload = {"event": "api_error", "account": "shop-1", "postings": [], "reason": "x" * 9000}
    tiny = MessageLimit(200, "bytes", title_in_body=True)
    parts = render_parts(payload, NOW, SHANGHAI, "zh", tiny)
    assert len(parts) == 1
    assert size(sent_as(parts[0].title, parts[0].body), tiny) <= 200
