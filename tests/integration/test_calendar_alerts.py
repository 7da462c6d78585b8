"""Working calendars in the alert path (issue 19), in-process with respx for Ozon and a real
SQLite store: `at_risk` from a cycle and from a precise wake-up at the closing (once), working
reminders on the agenda, working time in delivered messages, and the digest's non-working
days (RU 2027: a transferred working Saturday, then a three-day break)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.calendars import CalendarSection, build_calendars
from daemon.closed_days import closed_days
from daemon.config import EVENTS
from daemon.cycle import CycleResult
from daemon.digest import queue_due_digests
from daemon.engine import run_account_cycle, run_account_wakeup
from daemon.job import AccountJob
from daemon.notify.outbox import Outbox
from daemon.notify.routes import Route, Router
from daemon.ozon.client import OzonClient
from daemon.ozon.parse import parse_unfulfilled_page
from daemon.policy import Rules
from daemon.store import Store
from daemon.worktime import WarehouseCalendars
from tests.integration.fake_ozon import BASE_URL, FakeOzon, posting
from tests.receiver import Receiver

MSK = ZoneInfo("Europe/Moscow")
NOWHERE = Router([])
WAREHOUSE = 1020001234567000  # the fixture template's warehouse
OTHER_WAREHOUSE = 55


def msk(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=MSK).astimezone(UTC)


def office(**extra: object) -> WarehouseCalendars:
    section = CalendarSection.model_validate(
        {"name": "office", "timezone": "Europe/Moscow", "warehouse_ids": [WAREHOUSE], **extra}
    )
    return build_calendars([section], "UTC")[1]


@pytest.fixture
def fake() -> Iterator[FakeOzon]:
    with FakeOzon() as ozon:
        yield ozon


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def alerts_of(db: Path) -> list[tuple[str, tuple[str, ...], str]]:
    with Store.open(db, mode="reader") as store:
        return [(e.event, e.posting_numbers, e.reason) for e in reversed(store.history(100))
                if e.kind == "alert"]  # fmt: skip


async def run(
    db: Path, now: datetime, rules: Rules, wake: list[str] | None = None, router: Router = NOWHERE
) -> CycleResult:
    """A full cycle (or a wake-up for `wake`) of shop-1 with the office calendar at `now`."""
    with Store.open(db, mode="writer") as store:
        async with OzonClient("1", "k", base_url=BASE_URL, max_requests_per_second=1000,
                              wall_clock=lambda: now) as client:  # fmt: skip
            job = AccountJob("shop-1", client, rules, calendars=office(), routes=router.route_ids,
                             wake_horizon=timedelta(hours=2))  # fmt: skip
            if wake is not None:
                return await run_account_wakeup(store, job, lambda: now, wake)
            return await run_account_cycle(store, job, lambda: now)


async def test_at_risk_is_due_at_fridays_closing_and_sent_once_by_the_wakeup(
    fake: FakeOzon, tmp_path: Path
) -> None:
    db = tmp_path / "s.db"
    monday_0900 = msk(3, 15, 9)
    fake.add(posting("7000-0001-1", monday_0900))  # the office warehouse: at risk
    other = posting("7000-0002-1", monday_0900)
    other["delivery_method"]["warehouse_id"] = OTHER_WAREHOUSE  # no calendar: clock time
    fake.add(other)
    first = await run(db, msk(3, 12, 17), Rules())
    assert first.ok and "at_risk" not in first.alerts
    assert first.agenda == [(msk(3, 12, 18), "7000-0001-1")]
    woken = await run(db, msk(3, 12, 18), Rules(), wake=["7000-0001-1"])
    assert woken.alerts == {"at_risk": 1}
    again = await run(db, msk(3, 12, 18, 5), Rules())
    assert "at_risk" not in again.alerts
    ((_, numbers, reason),) = [a for a in alerts_of(db) if a[0] == "at_risk"]
    assert numbers == ("7000-0001-1",)
    assert reason.startswith("no working time left: the warehouse is closed until after")


async def test_working_reminders_are_on_the_agenda_at_their_working_instant(
    fake: FakeOzon, tmp_path: Path
) -> None:
    db = tmp_path / "s.db"
    fake.add(posting("7100-0001-1", msk(3, 15, 10)))
    rules = Rules(remind_before=(timedelta(hours=2),), remind_in="working")
    result = await run(db, msk(3, 12, 16), rules)
    # 2h of working time before Monday 10:00: Monday 09:00-10:00 and Friday 17:00-18:00
    assert result.agenda == [(msk(3, 12, 17) + timedelta(microseconds=1), "7100-0001-1")]
    woken = await run(db, msk(3, 12, 17, 1), rules, wake=["7100-0001-1"])
    assert woken.alerts == {"reminder": 1}
    (reminder,) = [a for a in alerts_of(db) if a[0] == "reminder"]
    assert "of working time left" in reminder[2]


async def test_delivered_messages_show_working_time_left_for_postings_with_a_calendar(
    fake: FakeOzon, tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "s.db"
    fake.add(posting("7200-0001-1", msk(3, 15, 10)))
    other = posting("7200-0002-1", msk(3, 15, 10))
    other["delivery_method"]["warehouse_id"] = OTHER_WAREHOUSE
    fake.add(other)
    router = Router([Route(0, receiver.url("/r"), frozenset(EVENTS))])
    await run(db, msk(3, 14, 11), Rules(), router=router)  # Sunday: the 24h reminder of both
    now = msk(3, 14, 11, 30)
    with Store.open(db, mode="writer") as store:
        box = Outbox(store, router, zone=MSK, language="en", now=lambda: now,
                     calendars=office())  # fmt: skip
        assert (await box.deliver_due()).sent == 1
    (message,) = receiver.on("/r")
    first, second = message.message.split("\n\n")[1:]
    assert "7200-0001-1" in first and "22h 30m left (1h of working time)" in first
    assert "7200-0002-1" in second and "22h 30m left" in second and "working" not in second


async def test_the_digest_lists_the_break_after_a_transferred_saturday(
    tmp_path: Path, receiver: Receiver
) -> None:
    thursday = msk(2, 18, 9)  # RU 2027: Sat 20 works, Sun 21 - Tue 23 off, Wed 24 works
    calendars = office(country="RU")
    due = {
        "8000-0001-1": msk(2, 19, 12),  # Friday: before the break
        "8000-0002-1": msk(2, 20, 12),  # the transferred working Saturday
        "8000-0003-1": msk(2, 22, 10),  # in the break
        "8000-0004-1": msk(2, 24, 17),  # the first working day after it
        "8000-0005-1": msk(2, 25, 10),  # a day later
    }
    page = parse_unfulfilled_page(
        json.dumps(
            {"postings": [posting(n, d) for n, d in due.items()], "has_next": False}
        ).encode()
    )
    router = Router([Route(0, receiver.url("/d"), frozenset(EVENTS))])
    async with OzonClient("1", "k", base_url=BASE_URL) as client:
        job = AccountJob("shop-1", client, Rules(), calendars=calendars, routes=router.route_ids)
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            store.upsert_postings("shop-1", page.postings, thursday)
            assert closed_days(store, "shop-1", calendars, [OTHER_WAREHOUSE], thursday) == []
            assert queue_due_digests(store, [job], MSK, time(9), thursday) == ["shop-1"]
            (delivery,) = store.deliveries_due(thursday, route_id=router.routes[0].id)
            box = Outbox(store, router, zone=MSK, language="ru", now=lambda: thursday)
            assert (await box.deliver_due()).sent == 1
    (entry,) = delivery.alert.payload["digest"]["closed_days"]
    assert entry["calendar"] == "office"
    assert entry["days"] == ["2027-02-21", "2027-02-22", "2027-02-23"]
    assert entry["total"] == 2
    assert [p["posting_number"] for p in entry["postings"]] == ["8000-0003-1", "8000-0004-1"]
    body = receiver.on("/d")[0].message
    assert "Нерабочие дни в ближайшие 7 дней:" in body
    assert "office: вс 02-21, пн 02-22, вт 02-23; срок в эти дни или сразу после них: 2" in body
    assert "8000-0003-1 | склад: Main FBS warehouse | срок: 2027-02-22 10:00 MSK" in body
