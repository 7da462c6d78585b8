"""Each route gets messages within its own service's limit (issue 16.7): the limit comes from
the Apprise plugin, in bytes for a WeCom bot; a long alert goes out in numbered parts, and the
route counts as delivered only when every part was accepted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.config import EVENTS
from daemon.notify.outbox import Outbox, route_limit
from daemon.notify.render import Message, MessageLimit
from daemon.notify.routes import Route, Router
from daemon.store import Store

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
WECOM = "wecombot://0123456789abcdef-wecom-key"
TELEGRAM = "tgram://123456789:AAH-bot-token-xyz/-100987654"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "s.db", mode="writer") as opened:
        yield opened


def test_the_limit_of_a_route_comes_from_its_apprise_plugin_in_the_right_unit() -> None:
    assert route_limit(WECOM) == MessageLimit(2048, "bytes", title_in_body=True)
    assert route_limit(TELEGRAM) == MessageLimit(4096, "chars", title_in_body=True)
    json_limit = route_limit("json://127.0.0.1:8080/hook")
    assert json_limit is not None and json_limit.unit == "chars"
    assert not json_limit.title_in_body
    assert route_limit("not-a-url") is None


def queue_overdue(store: Store, router: Router, count: int) -> int:
    postings = [
        {
            "posting_number": f"{30_000_000 + i}-0001-1",
            "status": "awaiting_packaging",
            "warehouse": "Склад Москва 莫斯科仓库 " * 3,
            "shipment_date": (T0 - timedelta(hours=i + 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": "",
        }
        for i in range(count)
    ]
    payload = {"event": "overdue", "account": "shop-1", "total": count, "postings": postings}
    return store.enqueue_alert(
        "shop-1",
        "overdue",
        [p["posting_number"] for p in postings],
        T0,
        urgent=True,
        payload=payload,
        routes=router.route_ids("shop-1", "overdue"),
    )


class Service:
    """A fake notification service: records what it accepted, refuses what it is told to."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, Message]] = []
        self.refuse: set[int] = set()  # the n-th call (1-based) is refused
        self.calls = 0

    async def __call__(self, url: str, message: Message) -> bool:
        self.calls += 1
        if self.calls in self.refuse:
            return False
        self.accepted.append((url, message))
        return True


def outbox(store: Store, router: Router, service: Service, now: datetime) -> Outbox:
    return Outbox(store, router, zone=ZoneInfo("Asia/Shanghai"), language="zh",
                  now=lambda: now, sender=service)  # fmt: skip


@pytest.mark.parametrize("url", [WECOM, TELEGRAM], ids=["wecom", "telegram"])
async def test_a_zh_alert_of_twenty_postings_reaches_the_route_in_parts_within_its_limit(
    store: Store, url: str
) -> None:
    router = Router([Route(0, url, frozenset(EVENTS))])
    queue_overdue(store, router, 20)
    service = Service()

    report = await outbox(store, router, service, T0).deliver_due()

    limit = route_limit(url)
    assert limit is not None
    assert (report.sent, report.failed) == (1, 0)
    parts = [message for _, message in service.accepted]
    if url == WECOM:
        assert len(parts) >= 2, "20 postings in Chinese are over 2,048 bytes"
    for index, part in enumerate(parts, start=1):
        assert limit.fits(part), (limit.measure(part), part.title)
        if len(parts) > 1:
            assert part.title.endswith(f"({index}/{len(parts)})")
    text = "".join(part.body for part in parts)
    assert all(f"{30_000_000 + i}-0001-1" in text for i in range(20))
    assert store.pending_deliveries() == 0
    assert [entry.event for entry in store.history(10)] == ["overdue"]


def numbers_in(parts: list[Message], count: int) -> list[str]:
    """Every posting number of `queue_overdue` once per time it appears in `parts`."""
    wanted = [f"{30_000_000 + i}-0001-1" for i in range(count)]
    return [number for part in parts for number in wanted if number in part.body]


async def test_a_part_refused_keeps_the_alert_due_and_the_retry_sends_only_the_postings_not_sent(
    store: Store,
) -> None:
    router = Router([Route(0, WECOM, frozenset(EVENTS))])
    alert_id = queue_overdue(store, router, 20)
    service = Service()
    service.refuse = {2}

    first = await outbox(store, router, service, T0).deliver_due()

    assert (first.sent, first.failed) == (0, 1)
    assert len(service.accepted) == 1, "the parts after a refused one are not sent"
    (part_one,) = [message for _, message in service.accepted]
    assert part_one.title.endswith("(1/3)"), "20 postings in Chinese take 3 WeCom parts"
    assert store.pending_deliveries() == 1
    (due,) = store.deliveries_due(T0 + timedelta(hours=1))
    assert due.alert.id == alert_id and due.attempts == 1
    assert due.last_error.startswith("part 2 of 3"), due.last_error
    assert due.sent_postings == frozenset(numbers_in([part_one], 20))
    assert store.history(10) == [], "not delivered anywhere yet"

    later = await outbox(store, router, service, T0 + timedelta(hours=1)).deliver_due()

    assert (later.sent, later.failed) == (1, 0)
    retry = [message for _, message in service.accepted[1:]]
    assert retry, "the postings of parts 2 and 3 go out"
    assert not set(numbers_in(retry, 20)) & set(numbers_in([part_one], 20))
    if len(retry) > 1:
        assert retry[0].title.endswith(f"(1/{len(retry)})"), "the rest is numbered afresh"
    every = numbers_in([message for _, message in service.accepted], 20)
    assert sorted(every) == sorted(f"{30_000_000 + i}-0001-1" for i in range(20)), (
        "each posting reaches the route exactly once"
    )
    assert store.pending_deliveries() == 0
    assert [entry.event for entry in store.history(10)] == ["overdue"]


async def test_a_retry_after_every_posting_was_sent_marks_the_route_delivered_without_a_message(
    store: Store,
) -> None:
    router = Router([Route(0, WECOM, frozenset(EVENTS))])
    alert_id = queue_overdue(store, router, 3)
    (route_id,) = router.route_ids("shop-1", "overdue")
    numbers = [f"{30_000_000 + i}-0001-1" for i in range(3)]
    store.mark_parts_sent([alert_id], route_id, numbers[:2])
    store.mark_parts_sent([alert_id], route_id, numbers[1:])
    (due,) = store.deliveries_due(T0)
    assert due.sent_postings == frozenset(numbers)
    service = Service()

    await outbox(store, router, service, T0).deliver_due()

    assert service.accepted == []
    assert store.pending_deliveries() == 0
