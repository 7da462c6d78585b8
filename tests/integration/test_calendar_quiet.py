"""A route with `quiet_hours = "calendar:NAME"`: non-urgent alerts wait while the calendar's
warehouse is closed (a whole weekend) and go when it opens; urgent ones go at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.calendars import CalendarSection, ClosedHours, build_calendar
from daemon.config import EVENTS, parse_config, resolve_secrets
from daemon.engine import build_router
from daemon.notify.outbox import Outbox
from daemon.notify.routes import Route, Router
from daemon.store import Store
from tests.integration.test_outbox import queue
from tests.receiver import Receiver

MOSCOW = ZoneInfo("Europe/Moscow")
FRIDAY_EVENING = datetime(2026, 5, 1, 20, 0, tzinfo=MOSCOW)
MONDAY_OPENING = datetime(2026, 5, 4, 9, 0, tzinfo=MOSCOW)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "s.db", mode="writer") as opened:
        yield opened


async def test_reminders_wait_over_the_closed_weekend_and_go_at_the_opening(
    store: Store, receiver: Receiver
) -> None:
    office = build_calendar(CalendarSection(name="office"), "Europe/Moscow")
    router = Router(
        [Route(0, receiver.url("/q"), frozenset(EVENTS), quiet_hours=ClosedHours(office))]
    )

    def outbox(now: datetime) -> Outbox:
        return Outbox(store, router, zone=MOSCOW, language="en", now=lambda: now)

    deadline = MONDAY_OPENING + timedelta(hours=5)
    queue(store, router, "reminder", ["r-1"], deadline, FRIDAY_EVENING)
    queue(store, router, "overdue", ["o-1"], FRIDAY_EVENING - timedelta(hours=1), FRIDAY_EVENING)
    night = await outbox(FRIDAY_EVENING).deliver_due()
    assert (night.sent, night.postponed) == (1, 1)  # the urgent one at once
    sunday = await outbox(MONDAY_OPENING - timedelta(minutes=1)).deliver_due()
    assert sunday.sent == 0  # still closed: held back
    monday = await outbox(MONDAY_OPENING).deliver_due()
    assert monday.sent == 1
    assert "r-1" in receiver.on("/q")[-1].message


def test_the_engine_gives_a_route_its_calendars_closed_hours() -> None:
    config = parse_config(
        {
            "accounts": [{"name": "a", "client_id": "1", "api_key": "k"}],
            "calendars": [{"name": "office", "timezone": "Europe/Moscow"}],
            "notify": [
                {"url": "json://127.0.0.1:9/a", "quiet_hours": "calendar:office"},
                {"url": "json://127.0.0.1:9/b", "quiet_hours": "22:00-08:00"},
            ],
        }
    )
    first, second = build_router(config, resolve_secrets(config, env={})).routes
    assert first.is_quiet(FRIDAY_EVENING)
    assert first.quiet_until(FRIDAY_EVENING) == MONDAY_OPENING
    assert second.quiet_hours is not None and not second.is_quiet(FRIDAY_EVENING)
