"""One bad posting never silences an account (issue 16.1), in-process: respx for Ozon, a real
SQLite store. Ozon's "no deadline" marker, a zero date and a posting listed twice on one page
each leave the other postings alerted and the cycle successful."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from daemon.cycle import CycleResult
from daemon.engine import run_account_cycle
from daemon.job import AccountJob
from daemon.models import NO_DEADLINE
from daemon.ozon.client import OzonClient
from daemon.policy import CancelRules, Rules
from daemon.store import Store
from tests.integration.fake_ozon import BASE_URL, FakeOzon, posting

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CANCELLING = Rules(cancel=CancelRules(enabled=True, overdue_for=HOUR, max_share=1.0))


@pytest.fixture
def fake() -> Iterator[FakeOzon]:
    with FakeOzon(page_size=50) as ozon:
        yield ozon


def unfiltered(fake: FakeOzon, extra: list[dict[str, object]]) -> None:
    """Answer the unfulfilled list with every posting of `fake` plus `extra`, as given (Ozon
    lists a no-deadline posting whatever the cutoff window)."""

    def answer(request: httpx.Request) -> httpx.Response:
        fake.calls.append(("/v4/posting/fbs/unfulfilled/list", json.loads(request.content)))
        listed = [*fake.postings.values(), *extra]
        return httpx.Response(200, json={"postings": listed, "cursor": "", "has_next": False})

    fake.router.post("/v4/posting/fbs/unfulfilled/list").mock(side_effect=answer)


async def cycle(db: Path, now: datetime, rules: Rules = CANCELLING) -> CycleResult:
    async def no_sleep(_seconds: float) -> None:
        return None

    with Store.open(db, mode="writer") as store:
        async with OzonClient(
            "1", "test-key", base_url=BASE_URL, retry_for=0, sleep=no_sleep,
            max_requests_per_second=1000, wall_clock=lambda: now,
        ) as client:  # fmt: skip
            job = AccountJob(name="shop-1", client=client, rules=rules)
            return await run_account_cycle(store, job, lambda: now)


def alerted(db: Path) -> dict[str, set[str]]:
    """Posting number -> the events alerted about it."""
    found: dict[str, set[str]] = {}
    with Store.open(db, mode="reader") as store:
        for entry in store.history(1000):
            for number in entry.posting_numbers:
                found.setdefault(number, set()).add(entry.event)
    return found


@pytest.mark.parametrize(
    "hostile",
    [
        posting("2-1", T0) | {"shipment_date": "9999-12-31T23:59:59Z"},
        posting("2-1", T0) | {"shipment_date": "9999-12-31T23:59:59.999999900Z"},
        posting("2-1", T0) | {"shipment_date": "9999-12-31T23:59:59-05:00"},
        posting("2-1", T0) | {"shipment_date": "0001-01-01T00:00:00Z"},
        posting("2-1", T0) | {"shipment_date": "0001-01-01T00:00:00+03:00"},
        posting("2-1", T0) | {"in_process_at": "0001-01-01T00:00:00Z"},
        posting("2-1", T0) | {"tariffication": {"next_tariff_starts_at": "9999-12-31T23:59:59Z"}},
    ],
    ids=[
        "no-deadline",
        "no-deadline-nanos",
        "no-deadline-offset",
        "zero",
        "zero-offset",
        "zero-in-process",
        "no-next-tariff",
    ],
)
async def test_one_hostile_posting_leaves_the_account_alerted(
    fake: FakeOzon, tmp_path: Path, hostile: dict[str, object]
) -> None:
    fake.add(posting("1-1", T0 + 2 * HOUR))
    unfiltered(fake, [hostile])
    db = tmp_path / "state.db"

    for moment in (T0, T0 + 100 * 24 * HOUR):  # the second: everything long overdue
        result = await cycle(db, moment)
        assert result.ok, result.error

    events = alerted(db)
    assert events["1-1"] >= {"reminder", "overdue"}
    if hostile["shipment_date"] == posting("2-1", T0)["shipment_date"]:
        assert "2-1" in events  # only an optional date was odd: a normal posting
    else:
        assert "2-1" not in events, "no deadline or no real one: never alerted"


async def test_a_no_deadline_posting_is_cached_as_such_and_never_cancelled(
    fake: FakeOzon, tmp_path: Path
) -> None:
    unfiltered(fake, [posting("2-1", T0) | {"shipment_date": "9999-12-31T23:59:59Z"}])
    db = tmp_path / "state.db"

    result = await cycle(db, T0 + 1000 * 24 * HOUR)

    assert result.ok and result.selected == () and result.next_wakeup is None
    with Store.open(db, mode="reader") as store:
        (cached,) = store.postings(T0)
    assert cached.posting.shipment_date == NO_DEADLINE
    assert not cached.posting.has_deadline


async def test_a_deadline_removed_by_ozon_is_reported_once_and_then_silent(
    fake: FakeOzon, tmp_path: Path
) -> None:
    fake.add(posting("1-1", T0 + 2 * HOUR))
    unfiltered(fake, [])
    db = tmp_path / "state.db"
    assert (await cycle(db, T0)).ok
    fake.postings["1-1"]["shipment_date"] = "9999-12-31T23:59:59Z"
    fake.postings["1-1"]["tariffication"] = None  # (its tariff steps would warn on their own)

    for moment in (T0 + HOUR, T0 + 10 * HOUR, T0 + 100 * HOUR):
        assert (await cycle(db, moment)).ok

    with Store.open(db, mode="reader") as store:
        entries = [(e.event, e.reason) for e in reversed(store.history(100))]
    assert [event for event, _ in entries] == ["reminder", "deadline_changed"]
    assert "no deadline" in entries[1][1]


async def test_a_posting_listed_twice_on_one_page_is_kept_once_and_reported_once(
    fake: FakeOzon, tmp_path: Path
) -> None:
    twice = posting("3-1", T0 + 3 * HOUR)
    fake.add(posting("1-1", T0 + 2 * HOUR))
    unfiltered(fake, [twice, twice])
    db = tmp_path / "state.db"

    first = await cycle(db, T0)
    second = await cycle(db, T0 + HOUR)

    assert first.ok and second.ok
    assert (first.listed, first.unreadable) == (2, 1)
    assert alerted(db) == {"1-1": {"reminder"}, "3-1": {"reminder"}}


async def test_a_watched_posting_that_turns_unreadable_does_not_fail_later_cycles(
    fake: FakeOzon, tmp_path: Path
) -> None:
    fake.add(posting("1-1", T0 + 2 * HOUR))
    fake.add(posting("4-1", T0 + 5 * HOUR))
    unfiltered(fake, [])
    db = tmp_path / "state.db"
    assert (await cycle(db, T0)).ok
    fake.postings["4-1"]["shipment_date"] = "0001-01-01T00:00:00Z"  # listed and got unreadable

    results = [await cycle(db, T0 + k * HOUR) for k in (1, 2, 3)]

    assert all(result.ok for result in results), [r.error for r in results]
    assert "overdue" in alerted(db)["1-1"]
