"""Messages with working calendars (issue 19): working time left beside clock time for postings
whose warehouse has a calendar, the `at_risk` message, and the digest's non-working days with
the postings due in or right after them, in English, Chinese and Russian."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.notify.calendar_text import closed_days_text, day_text
from daemon.notify.render import MessageLimit, render, render_parts, span

NOW = datetime(2027, 3, 12, 14, 59, tzinfo=UTC)  # Friday 17:59 in Moscow
MOSCOW = ZoneInfo("Europe/Moscow")
MONDAY_0900 = "2027-03-15T06:00:00Z"


def item(number: str, deadline: str, **extra: Any) -> dict[str, Any]:
    return {
        "posting_number": number,
        "status": "awaiting_packaging",
        "warehouse": "Main FBS warehouse",
        "warehouse_id": 7,
        "shipment_date": deadline,
        "reason": "",
        **extra,
    }


def alert(event: str, postings: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"event": event, "account": "shop-1", "total": len(postings), "postings": postings,
            **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "2d 15h left (1m of working time)"),
        ("zh", "剩余 2天15小时（工作时间 1分）"),
        ("ru", "2д 15ч осталось (рабочего времени 1мин)"),
    ],
)
def test_a_posting_with_a_calendar_shows_working_time_left_beside_clock_time(
    language: str, expected: str
) -> None:
    postings = [
        item("1-1", MONDAY_0900, working_seconds_left=60),
        item("2-1", MONDAY_0900),  # no calendar: clock time alone
    ]
    body = render(alert("reminder", postings), NOW, MOSCOW, language).body
    first, second = body.split("\n\n")[1:]
    assert expected in first
    assert span(timedelta(days=2, hours=15, minutes=1), language) in second
    assert "working" not in second and "工作时间" not in second and "рабочего" not in second


def test_no_working_time_is_shown_once_overdue_or_for_a_value_that_is_not_seconds() -> None:
    overdue = render(
        alert("overdue", [item("1-1", "2027-03-12T14:00:00Z", working_seconds_left=0)]),
        NOW, MOSCOW, "en",
    ).body  # fmt: skip
    assert "overdue by 59m" in overdue and "working time" not in overdue
    odd = render(
        alert("reminder", [item("1-1", MONDAY_0900, working_seconds_left="lots")]),
        NOW, MOSCOW, "en",
    ).body  # fmt: skip
    assert "working time" not in odd


@pytest.mark.parametrize(
    ("language", "title", "note"),
    [
        ("en", "No working time left", "the warehouse is closed until after the deadline"),
        ("zh", "截止前已无工作时间", "仓库要到截止时间之后才上班"),
        ("ru", "Рабочего времени не осталось", "склад закрыт до истечения срока отгрузки"),
    ],
)
def test_at_risk_says_no_working_time_is_left_in_each_language(
    language: str, title: str, note: str
) -> None:
    posting = item("1-1", MONDAY_0900, working_seconds_left=0)
    message = render(alert("at_risk", [posting]), NOW, MOSCOW, language)
    assert title in message.title and "[shop-1]" in message.title
    assert note in message.body
    assert "1-1" in message.body and "Main FBS warehouse" in message.body
    assert "2027-03-15 09:00 MSK" in message.body
    assert span(timedelta(0), language) in message.body  # no working time left, shown


CLOSED = [
    {
        "calendar": "office",
        "days": ["2027-03-13", "2027-03-14", "2027-03-15"],
        "total": 12,
        "postings": [item(f"{n}-1", MONDAY_0900) for n in range(10)],
    },
    {"calendar": "cn", "days": ["2027-03-13"], "total": 0, "postings": []},
]


@pytest.mark.parametrize(
    ("language", "heading", "days", "around"),
    [
        ("en", "Non-working days in the next 7 days:", "Sat 03-13, Sun 03-14, Mon 03-15",
         "due in or right after them: 12"),
        ("zh", "未来 7 天的非工作日:", "周六 03-13, 周日 03-14, 周一 03-15",
         "在这些日子或紧随其后到期: 12"),
        ("ru", "Нерабочие дни в ближайшие 7 дней:", "сб 03-13, вс 03-14, пн 03-15",
         "срок в эти дни или сразу после них: 12"),
    ],
)  # fmt: skip
def test_the_digest_lists_each_calendars_days_off_and_the_postings_due_around_them(
    language: str, heading: str, days: str, around: str
) -> None:
    digest = {"watched": 12, "overdue": 0, "closed_days": CLOSED}
    body = render({"event": "digest", "account": "shop-1", "digest": digest}, NOW, MOSCOW,
                  language).body  # fmt: skip
    assert heading in body
    assert f"office: {days}; {around}" in body
    assert "cn: " in body and ": 0" in body.split("cn: ")[1]
    for n in range(10):
        assert f"{n}-1 |" in body
    assert body.count("2027-03-15 09:00 MSK") == 10
    assert {"en": "and 2 more", "zh": "还有 2 个", "ru": "и ещё 2"}[language] in body


def test_a_digest_without_closed_days_is_unchanged_and_a_long_one_fits_a_route() -> None:
    assert closed_days_text({"digest": {"watched": 1}}, "en", str, str) == ""
    plain = render({"event": "digest", "account": "a", "digest": {"watched": 1}}, NOW, MOSCOW)
    assert "Non-working" not in plain.body
    long = {"event": "digest", "account": "a", "digest": {"watched": 1, "closed_days": CLOSED}}
    (part,) = render_parts(long, NOW, MOSCOW, "zh", MessageLimit(600, "bytes"))
    assert MessageLimit(600, "bytes").fits(part)


def test_day_text_names_the_weekday() -> None:
    assert day_text(date(2027, 3, 8), "en") == "Mon 03-08"
    assert day_text(date(2027, 3, 8), "zh") == "周一 03-08"
    assert day_text(date(2027, 3, 8), "ru") == "пн 03-08"
