"""Escalation through the real cycle (issue 18.3): respx for Ozon, a real SQLite store,
simulated time, routes of levels 0, 1 and 2. The overdue alert goes to level 0 only; nobody
acknowledges it, so escalate_after later an urgent escalation goes to level 1 only, then to
level 2; `history` journals each step (`escalated`, kind action, the level in its reason) and
the ledger keeps it to once. An acknowledgement, a hold or a shipment stops the ladder. The
cycle lists the escalation moment in its agenda, and a precise wake-up at that moment sends it
without waiting for the next poll."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.alerts import Event
from daemon.alerts.batch import batch, release
from daemon.cycle import CycleResult
from daemon.engine import run_account_cycle, run_account_wakeup
from daemon.job import AccountJob
from daemon.models import LedgerKey, Posting
from daemon.notify.routes import Route, Router
from daemon.ozon.client import OzonClient
from daemon.policy import Rules
from daemon.store import Store
from tests.integration.fake_ozon import BASE_URL, FakeOzon, posting

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)
RULES = Rules(escalate_after=(30 * M, 2 * H))
NUMBER = "5000-0001-1"
ROUTER = Router(
    [
        Route(0, "json://127.0.0.1:1/packers", frozenset({"overdue", "reminder"})),
        Route(1, "json://127.0.0.1:1/manager", frozenset({"overdue", "reminder"}), level=1),
        Route(2, "json://127.0.0.1:1/owner", frozenset({"overdue"}), level=2),
    ]
)
PACKERS, MANAGER, OWNER = (route.id for route in ROUTER.routes)


@pytest.fixture
def fake() -> Iterator[FakeOzon]:
    with FakeOzon() as ozon:
        ozon.add(posting(NUMBER, T0 - M))  # overdue from the first cycle on
        yield ozon


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def job(client: OzonClient, rules: Rules = RULES) -> AccountJob:
    return AccountJob(
        name="shop-1", client=client, rules=rules, routes=ROUTER.route_ids, wake_horizon=4 * H
    )


def client(now: datetime) -> OzonClient:
    async def no_sleep(_seconds: float) -> None:
        return None

    return OzonClient(
        "1", "test-key", base_url=BASE_URL, retry_for=0, sleep=no_sleep,
        max_requests_per_second=1000, wall_clock=lambda: now,
    )  # fmt: skip


async def cycle(db: Path, now: datetime, rules: Rules = RULES) -> CycleResult:
    with Store.open(db, mode="writer") as store:
        async with client(now) as ozon:
            return await run_account_cycle(store, job(ozon, rules), lambda: now)


async def wake(db: Path, now: datetime) -> CycleResult:
    with Store.open(db, mode="writer") as store:
        async with client(now) as ozon:
            return await run_account_wakeup(store, job(ozon), lambda: now, [NUMBER])


def queued(db: Path, route: str) -> list[tuple[str, int, bool]]:
    """(event, escalation level, urgent) of the alerts queued for `route`, oldest first."""
    with Store.open(db, mode="reader") as store:
        due = store.deliveries_due(T0 + 10 * H, route_id=route)
    return [
        (d.alert.event, int((d.alert.payload.get("escalation") or {}).get("level", 0)),
         d.alert.urgent)
        for d in due
    ]  # fmt: skip


def escalated(db: Path) -> list[tuple[tuple[str, ...], str, str]]:
    with Store.open(db, mode="reader") as store:
        return [
            (entry.posting_numbers, entry.kind, entry.reason)
            for entry in reversed(store.history(100))
            if entry.event == "escalated"
        ]


async def test_an_unacknowledged_overdue_posting_climbs_the_ladder_level_by_level(
    fake: FakeOzon, db: Path
) -> None:
    first = await cycle(db, T0)
    assert first.alerts == {"overdue": 1}
    assert (T0 + 30 * M, NUMBER) in first.agenda  # the wake-up that escalates on time
    assert queued(db, PACKERS) == [("overdue", 0, True)]
    assert queued(db, MANAGER) == [] and queued(db, OWNER) == []

    await cycle(db, T0 + 29 * M)
    assert queued(db, MANAGER) == []

    at_level_1 = await cycle(db, T0 + 30 * M)
    assert at_level_1.alerts == {"overdue": 1}
    assert queued(db, MANAGER) == [("overdue", 1, True)]  # urgent: no quiet hours hold it
    assert queued(db, PACKERS) == [("overdue", 0, True)]  # nothing more for level 0
    assert queued(db, OWNER) == []
    (step,) = escalated(db)
    assert step[0] == (NUMBER,) and step[1] == "action"
    assert step[2].startswith("level 1: not acknowledged 30m after its first alert")

    await cycle(db, T0 + 31 * M)  # the same level never twice
    assert len(escalated(db)) == 1

    await cycle(db, T0 + 2 * H)
    assert queued(db, OWNER) == [("overdue", 2, True)]
    assert queued(db, MANAGER) == [("overdue", 1, True)]
    assert [reason[:7] for _, _, reason in escalated(db)] == ["level 1", "level 2"]


async def test_a_precise_wake_up_escalates_between_polls(fake: FakeOzon, db: Path) -> None:
    await cycle(db, T0)
    result = await wake(db, T0 + 30 * M)  # the moment of the agenda, no full cycle
    assert result.alerts == {"overdue": 1}
    assert queued(db, MANAGER) == [("overdue", 1, True)]
    assert (T0 + 2 * H, NUMBER) in result.agenda  # and the next level is on the agenda


async def test_an_acknowledgement_stops_the_ladder(fake: FakeOzon, db: Path) -> None:
    await cycle(db, T0)
    with Store.open(db, mode="annotate") as store:
        store.acknowledge("shop-1", NUMBER, T0 - M, "Li Wei", T0 + 10 * M)
    later = await cycle(db, T0 + 30 * M)
    assert not any(moment > T0 for moment, _ in later.agenda)
    await cycle(db, T0 + 3 * H)
    assert queued(db, MANAGER) == [] and queued(db, OWNER) == []
    assert escalated(db) == []


async def test_a_hold_or_a_shipment_stops_the_ladder(fake: FakeOzon, db: Path) -> None:
    fake.add(posting("5000-0002-1", T0 - M))
    await cycle(db, T0)
    with Store.open(db, mode="annotate") as store:
        store.hold(NUMBER, None, T0 + M)
    fake.leave("5000-0002-1", "delivering")
    await cycle(db, T0 + 3 * H)
    assert queued(db, MANAGER) == [] and escalated(db) == []


async def test_without_escalate_after_nothing_escalates(fake: FakeOzon, db: Path) -> None:
    await cycle(db, T0, Rules())
    await cycle(db, T0 + 5 * H, Rules())
    assert queued(db, MANAGER) == [] and escalated(db) == []


async def test_a_moved_deadline_starts_a_new_ladder(fake: FakeOzon, db: Path) -> None:
    await cycle(db, T0)
    with Store.open(db, mode="annotate") as store:
        store.acknowledge("shop-1", NUMBER, T0 - M, "Li Wei", T0 + M)
    fake.postings[NUMBER]["shipment_date"] = (T0 + 10 * M).strftime("%Y-%m-%dT%H:%M:%SZ")
    await cycle(db, T0 + 5 * M)  # the move clears the acknowledgement; 5m left: a reminder
    await cycle(db, T0 + 34 * M)
    assert queued(db, MANAGER) == []
    await cycle(db, T0 + 35 * M)  # 30m after that reminder: nobody took the new deadline
    assert queued(db, MANAGER) == [("overdue", 1, True)]


def test_release_routes_an_escalation_by_its_level_only(db: Path) -> None:
    """The staged rows of one cycle: a level-0 and a level-1 alert of the same event stay two
    messages, each for the routes of its level."""
    with Store.open(db, mode="writer") as store:
        item = Posting(posting_number=NUMBER, status="awaiting_packaging", shipment_date=T0)
        with batch(store, "shop-1", T0) as alerts:
            alerts.add(Event.OVERDUE, LedgerKey(NUMBER, "overdue", "#0"), item, "overdue")
            alerts.escalate(Event.OVERDUE, LedgerKey(NUMBER, "escalated", "1@x"), item,
                            "level 1: nobody", level=1, after=30 * M)  # fmt: skip
        assert release(store, T0, ROUTER.route_ids, "shop-1") == 2
    assert queued(db, PACKERS) == [("overdue", 0, True)]
    assert queued(db, MANAGER) == [("overdue", 1, True)]
    assert queued(db, OWNER) == []
