"""Delivery from the outbox to real json:// routes on a local receiver: retries per route,
quiet hours with batching and dropping, filters, and no duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.config import EVENTS
from daemon.notify.outbox import Outbox
from daemon.notify.routes import Route, Router
from daemon.store import Store
from tests.receiver import Receiver

UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # 23:00 in UTC: inside 22:00-08:00


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "s.db", mode="writer") as opened:
        yield opened


def route(index: int, url: str, **options: Any) -> Route:
    return Route(index, url, frozenset(options.pop("events", EVENTS)), **options)


def payload(event: str, numbers: list[str], deadline: datetime) -> dict[str, Any]:
    stamp = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "event": event,
        "account": "shop-1",
        "total": len(numbers),
        "postings": [
            {
                "posting_number": n,
                "status": "awaiting_packaging",
                "warehouse": "WH",
                "shipment_date": stamp,
                "reason": "",
            }
            for n in numbers
        ],
    }


def queue(store: Store, router: Router, event: str, numbers: list[str], deadline: datetime,
          now: datetime) -> int:  # fmt: skip
    return store.enqueue_alert(
        "shop-1", event, numbers, now, urgent=event in {"overdue", "cancelled", "cancel_failed",
        "api_error"}, payload=payload(event, numbers, deadline),
        routes=router.route_ids("shop-1", event),
    )  # fmt: skip


def outbox(store: Store, router: Router, now: datetime) -> Outbox:
    return Outbox(store, router, zone=UTC_ZONE, language="en", now=lambda: now)


async def test_failed_route_is_retried_later_while_the_other_got_it_at_once(
    store: Store, receiver: Receiver
) -> None:
    router = Router([route(0, receiver.url("/good")), route(1, receiver.url("/flaky"))])
    receiver.fail_first["/flaky"] = 1
    queue(store, router, "overdue", ["1-1"], T0 - timedelta(hours=1), T0)
    first = await outbox(store, router, T0).deliver_due()
    assert (first.sent, first.failed) == (1, 1)
    assert len(receiver.on("/good")) == 1 and receiver.on("/flaky") == []
    too_soon = await outbox(store, router, T0 + timedelta(seconds=5)).deliver_due()
    assert (too_soon.sent, too_soon.failed) == (0, 0)  # backoff: not retried yet
    later = await outbox(store, router, T0 + timedelta(minutes=5)).deliver_due()
    assert (later.sent, later.failed) == (1, 0)
    assert len(receiver.on("/flaky")) == 1
    assert len(receiver.on("/good")) == 1  # never twice
    again = await outbox(store, router, T0 + timedelta(hours=1)).deliver_due()
    assert again.sent == 0
    assert receiver.attempts["/flaky"] == 2


async def test_quiet_hours_hold_reminders_and_release_them_batched(
    store: Store, receiver: Receiver
) -> None:
    quiet = (time(22, 0), time(8, 0))
    router = Router([route(0, receiver.url("/q"), quiet_hours=quiet)])
    later_deadline = T0 + timedelta(hours=20)
    queue(store, router, "reminder", ["r-1"], later_deadline, T0)
    queue(store, router, "reminder", ["r-2"], later_deadline, T0 + timedelta(hours=1))
    queue(store, router, "overdue", ["o-1"], T0 - timedelta(hours=2), T0)
    night = await outbox(store, router, T0 + timedelta(hours=1)).deliver_due()
    assert night.sent == 1 and night.postponed == 2  # the urgent one went at once
    assert [m.title.split(":")[0] for m in receiver.on("/q")] == ["[shop-1] OVERDUE"]
    morning = T0 + timedelta(hours=9, minutes=1)  # 08:01
    released = await outbox(store, router, morning).deliver_due()
    assert released.sent == 1  # both reminders in one message
    reminder = receiver.on("/q")[-1]
    assert "2 postings" in reminder.title
    assert "r-1" in reminder.message and "r-2" in reminder.message


async def test_a_held_reminder_whose_posting_is_overdue_by_morning_is_dropped(
    store: Store, receiver: Receiver
) -> None:
    router = Router([route(0, receiver.url("/q"), quiet_hours=(time(22, 0), time(8, 0)))])
    queue(store, router, "reminder", ["r-1"], T0 + timedelta(hours=3), T0)
    assert (await outbox(store, router, T0).deliver_due()).postponed == 1
    morning = await outbox(store, router, T0 + timedelta(hours=9, minutes=1)).deliver_due()
    assert (morning.sent, morning.dropped) == (0, 1)
    assert receiver.messages == []


async def test_routes_filter_events_and_accounts(store: Store, receiver: Receiver) -> None:
    router = Router(
        [
            route(0, receiver.url("/urgent"), events={"overdue"}),
            route(1, receiver.url("/other-shop"), accounts=frozenset({"shop-2"})),
            route(2, receiver.url("/all")),
        ]
    )
    queue(store, router, "reminder", ["r-1"], T0 + timedelta(hours=3), T0 - timedelta(hours=12))
    queue(store, router, "overdue", ["o-1"], T0 - timedelta(hours=1), T0)
    await outbox(store, router, T0).deliver_due()
    assert [m.title.split(":")[0] for m in receiver.on("/urgent")] == ["[shop-1] OVERDUE"]
    assert receiver.on("/other-shop") == []
    assert len(receiver.on("/all")) == 2


async def test_route_removed_from_the_config_is_dropped_not_retried(
    store: Store, receiver: Receiver
) -> None:
    old = Router([route(0, receiver.url("/old"))])
    queue(store, old, "overdue", ["o-1"], T0 - timedelta(hours=1), T0)
    new = Router([route(0, receiver.url("/new"))])
    report = await outbox(store, new, T0).deliver_due()
    assert report.dropped == 1
    assert receiver.messages == []
    assert store.pending_deliveries() == 0


async def test_a_route_that_raises_does_not_stop_the_others(
    store: Store, receiver: Receiver
) -> None:
    router = Router([route(0, receiver.url("/a")), route(1, receiver.url("/b"))])
    queue(store, router, "overdue", ["o-1"], T0 - timedelta(hours=1), T0)

    async def sender(url: str, message: Any) -> bool:
        if url.endswith("/a"):
            raise ConnectionError("boom")
        return True

    box = Outbox(store, router, zone=UTC_ZONE, language="en", now=lambda: T0, sender=sender)
    report = await box.deliver_due()
    assert (report.sent, report.failed) == (1, 1)
