"""The sync cycle in-process: respx for Ozon, a real SQLite store, simulated time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon import cycle as cycle_module
from daemon.cycle import Cycle, CycleResult, run_cycle
from daemon.engine import run_account_cycle, run_account_wakeup
from daemon.job import AccountJob
from daemon.ozon.client import OzonClient
from daemon.policy import CancelRules, Rules
from daemon.store import Store, StoreError
from tests.integration.fake_ozon import BASE_URL, FakeOzon, posting, rfc

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
BATCH = 300  # postings per batch in these tests (the daemon's own is larger: slow to fake)
HOUR = timedelta(hours=1)


@pytest.fixture
def fake() -> Iterator[FakeOzon]:
    with FakeOzon() as ozon:
        yield ozon


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cycle_module, "BATCH_POSTINGS", BATCH)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


async def cycle(db: Path, now: datetime, rules: Rules | None = None) -> CycleResult:
    """One cycle of account "shop-1" at `now` (the sync, the cancel executor, the release of
    its alerts), with a store opened and closed around it (every cycle is a restart, so
    nothing may rely on memory between cycles)."""

    async def no_sleep(_seconds: float) -> None:
        return None

    with Store.open(db, mode="writer") as store:
        async with OzonClient(
            "1", "test-key", base_url=BASE_URL, retry_for=0, sleep=no_sleep,
            max_requests_per_second=1000, wall_clock=lambda: now,
        ) as client:  # fmt: skip
            job = AccountJob(name="shop-1", client=client, rules=rules or Rules())
            return await run_account_cycle(store, job, lambda: now)


def events(db: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(event, posting numbers) of every alert queued so far, oldest first."""
    with Store.open(db, mode="reader") as store:
        entries = reversed(store.history(1000))
        return [(e.event, e.posting_numbers) for e in entries if e.kind == "alert"]


async def test_every_reminder_step_and_overdue_fires_once_over_time(
    fake: FakeOzon, db: Path
) -> None:
    deadline = T0 + 30 * HOUR
    fake.add(posting("1000-0001-1", deadline))
    # Each moment twice: the second cycle at the same time must add nothing.
    moments = [T0, T0 + 7 * HOUR, T0 + 27 * HOUR, T0 + 29.5 * HOUR, deadline, deadline + 12 * HOUR]
    for moment in moments:
        for _ in range(2):
            result = await cycle(db, moment)
            assert result.ok, result.error
    assert events(db) == [
        ("reminder", ("1000-0001-1",)),  # 24h step, crossed at T0 + 6h
        ("reminder", ("1000-0001-1",)),  # 4h
        ("reminder", ("1000-0001-1",)),  # 1h
        ("overdue", ("1000-0001-1",)),
        ("overdue", ("1000-0001-1",)),  # repeat after overdue_repeat 12h
    ]


async def test_first_sync_inside_several_steps_sends_one_reminder(fake: FakeOzon, db: Path) -> None:
    fake.add(posting("1000-0002-1", T0 + 30 * 60 * timedelta(seconds=1)))  # 30 min left
    await cycle(db, T0)
    await cycle(db, T0 + timedelta(minutes=5))
    assert events(db) == [("reminder", ("1000-0002-1",))]


async def test_one_message_per_event_lists_every_posting(fake: FakeOzon, db: Path) -> None:
    for index in range(5):
        fake.add(posting(f"2000-000{index}-1", T0 - HOUR * (index + 1)))
    result = await cycle(db, T0)
    assert result.alerts == {"overdue": 5}
    ((event, numbers),) = events(db)
    assert event == "overdue"
    assert sorted(numbers) == [f"2000-000{index}-1" for index in range(5)]


async def test_unchanged_cycle_writes_no_posting_rows(fake: FakeOzon, db: Path) -> None:
    for index in range(5):
        fake.add(posting(f"3000-000{index}-1", T0 + 100 * HOUR))
    first = await cycle(db, T0)
    second = await cycle(db, T0 + HOUR)
    assert (first.new, first.changed) == (5, 0)
    assert (second.new, second.changed, second.unchanged) == (0, 0, 5)


async def test_a_listing_of_several_batches_is_cached_and_decided_whole(
    fake: FakeOzon, db: Path
) -> None:
    """Postings are cached and decided a batch at a time while the next pages are
    fetched; every batch is in by the end of the cycle, each posting once."""
    total = 2 * BATCH + 345
    for index in range(total):
        fake.add(posting(f"4{index:03d}-0000-1", T0 - HOUR - index * timedelta(seconds=1)))
    first = await cycle(db, T0)
    assert (first.listed, first.new, first.watched) == (total, total, total)
    assert first.alerts == {"overdue": total}
    ((event, numbers),) = events(db)
    assert event == "overdue" and len(set(numbers)) == total
    second = await cycle(db, T0 + timedelta(minutes=10))
    assert (second.new, second.changed, second.unchanged) == (0, 0, total)
    assert second.alerts == {} and len(events(db)) == 1
    with Store.open(db, mode="reader") as store:
        assert len(store.watched_numbers("shop-1")) == total


async def test_a_store_error_in_a_batch_cached_in_the_background_ends_the_cycle(
    fake: FakeOzon, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(2 * BATCH):
        fake.add(posting(f"5{index:03d}-0000-1", T0 + 100 * HOUR))
    upsert = Store.upsert_postings
    calls: list[int] = []

    def failing_second(self: Store, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("disk I/O error", path=db)
        return upsert(self, *args, **kwargs)

    monkeypatch.setattr(Store, "upsert_postings", failing_second)
    with pytest.raises(StoreError, match="disk I/O error"):
        await cycle(db, T0)
    assert len(calls) == 2


async def cycle_dying_at(
    step: str, db: Path, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle at `now` that dies (as if killed) when it reaches its `step` method."""

    def die(*_args: object) -> None:
        raise RuntimeError(f"killed at {step}")

    with monkeypatch.context() as patched:
        patched.setattr(Cycle, step, die)
        with pytest.raises(RuntimeError, match="killed"):
            await cycle(db, now)


async def test_a_move_committed_by_a_cycle_that_died_before_its_end_is_sent_once_later(
    fake: FakeOzon, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cycle that dies after committing a batch (SIGKILL, power loss) has cached the new
    deadline together with its staged alert: the next cycle sends it, and only once."""
    fake.add(posting("6000-0001-1", T0 + 100 * HOUR))
    assert (await cycle(db, T0)).ok
    fake.postings["6000-0001-1"]["shipment_date"] = rfc(T0 + 124 * HOUR)

    await cycle_dying_at("_record_sync_state", db, T0 + timedelta(minutes=10), monkeypatch)
    assert events(db) == []  # staged, not sent
    assert (await cycle(db, T0 + timedelta(minutes=20))).alerts == {}
    assert events(db) == [("deadline_changed", ("6000-0001-1",))]
    assert (await cycle(db, T0 + timedelta(minutes=30))).alerts == {}
    assert len(events(db)) == 1


async def test_a_cycle_that_dies_inside_a_batch_caches_nothing_of_it_and_loses_no_move(
    fake: FakeOzon, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's cached postings, ledger keys and alerts are one commit: a cycle dying while
    deciding leaves the old deadline cached, and the next cycle reports the move once."""
    fake.add(posting("6000-0002-1", T0 + 100 * HOUR))
    await cycle(db, T0)
    fake.postings["6000-0002-1"]["shipment_date"] = rfc(T0 + 124 * HOUR)

    await cycle_dying_at("_decide", db, T0 + timedelta(minutes=10), monkeypatch)
    with Store.open(db, mode="reader") as store:
        cached = store.posting("6000-0002-1", T0, account="shop-1")
    assert cached is not None and cached.posting.shipment_date == T0 + 100 * HOUR
    after = await cycle(db, T0 + timedelta(minutes=20))
    assert after.alerts == {"deadline_changed": 1}
    assert events(db) == [("deadline_changed", ("6000-0002-1",))]
    assert (await cycle(db, T0 + timedelta(minutes=30))).alerts == {}
    assert len(events(db)) == 1


async def test_shipped_posting_leaves_the_watch_quietly(fake: FakeOzon, db: Path) -> None:
    fake.add(posting("4000-0001-1", T0 + 10 * HOUR))
    fake.add(posting("4000-0002-1", T0 + 10 * HOUR))
    await cycle(db, T0)
    fake.leave("4000-0001-1", "delivering", substatus="posting_on_way_to_city")
    result = await cycle(db, T0 + HOUR)
    assert result.departed == 1
    assert fake.calls_to("/v4/posting/fbs/list") == 1
    assert fake.calls_to("/v3/posting/fbs/get") == 0  # explained by the changed list
    with Store.open(db, mode="reader") as store:
        watched = {p.posting_number for p in store.postings(T0 + HOUR)}
        everything = {
            p.posting_number: p.departure for p in store.postings(T0 + HOUR, include_departed=True)
        }
    assert watched == {"4000-0002-1"}
    assert everything["4000-0001-1"] == "shipped"
    assert [e for e, _ in events(db)] == ["reminder"]  # one batch for both, nothing more


async def test_buyer_cancellation_is_reported_as_cancelled_elsewhere(
    fake: FakeOzon, db: Path
) -> None:
    fake.add(posting("5000-0001-1", T0 + 50 * HOUR))
    await cycle(db, T0)
    fake.leave(
        "5000-0001-1",
        "cancelled",
        substatus="posting_canceled",
        cancellation={
            "cancel_reason_id": 501,
            "cancel_reason": "Buyer changed their mind",
            "cancellation_type": "client",
            "cancelled_after_ship": False,
            "affect_cancellation_rating": False,
            "cancellation_initiator": "Покупатель",
        },
    )
    await cycle(db, T0 + HOUR)
    await cycle(db, T0 + 2 * HOUR)
    assert events(db) == [("cancelled_elsewhere", ("5000-0001-1",))]


async def test_vanished_posting_unexplained_by_changes_is_reread_with_get(
    fake: FakeOzon, db: Path
) -> None:
    fake.add(posting("6000-0001-1", T0 + 50 * HOUR))
    await cycle(db, T0)
    fake.changed_visible = False  # the changed list misses it: only `get` can tell
    fake.leave("6000-0001-1", "delivering")
    result = await cycle(db, T0 + HOUR)
    assert result.reread == 1
    assert result.departed == 1


async def test_interrupted_listing_infers_nothing_and_reports_api_error_once(
    fake: FakeOzon, db: Path
) -> None:
    for index in range(4):  # two pages of two
        fake.add(posting(f"7000-000{index}-1", T0 + (100 + index) * HOUR))
    await cycle(db, T0)
    fake.fail_page = 2
    failed = await cycle(db, T0 + HOUR)
    again = await cycle(db, T0 + 2 * HOUR)
    assert not failed.ok and not again.ok
    assert not failed.listing_complete
    assert failed.departed == 0
    assert fake.calls_to("/v3/posting/fbs/get") == 0
    with Store.open(db, mode="reader") as store:
        assert len(store.postings(T0)) == 4  # still watched
        state = store.get_sync_state("shop-1")
    assert state.consecutive_failures == 2
    fake.fail_page = None
    recovered = await cycle(db, T0 + 3 * HOUR)
    assert recovered.ok
    assert [e for e, _ in events(db)] == ["api_error", "recovered"]


async def test_dry_run_selection_reports_would_cancel_once(fake: FakeOzon, db: Path) -> None:
    fake.add(posting("8000-0001-1", T0 - 50 * HOUR))
    rules = Rules(cancel=CancelRules(enabled=False))
    await cycle(db, T0, rules)
    await cycle(db, T0 + HOUR, rules)
    kinds = [e for e, _ in events(db)]
    assert kinds.count("would_cancel") == 1
    assert "overdue" in kinds


async def test_cycle_lists_the_agenda_of_thresholds_within_its_horizon(
    fake: FakeOzon, db: Path
) -> None:
    fake.add(posting("9000-0001-1", T0 + HOUR + timedelta(seconds=20)))  # 1h step in 20 s
    fake.add(posting("9000-0002-1", T0 + 50 * HOUR))  # 24h step in 26 h: beyond the horizon
    with Store.open(db, mode="writer") as store:
        async with OzonClient("1", "k", base_url=BASE_URL, max_requests_per_second=1000) as client:
            job = AccountJob("shop-1", client, Rules(), wake_horizon=timedelta(minutes=10))
            result = await run_cycle(store, job, lambda: T0)
    assert result.agenda == [(T0 + timedelta(seconds=20, microseconds=1), "9000-0001-1")]
    assert result.next_wakeup == T0 + timedelta(seconds=20, microseconds=1)


@pytest.mark.parametrize("count", [1, 12], ids=["one get", "one narrow listing"])
async def test_a_wakeup_rereads_only_the_postings_crossing_their_threshold(
    fake: FakeOzon, db: Path, count: int
) -> None:
    numbers = [f"9100-{index:04d}-1" for index in range(count)]
    for number in numbers:
        fake.add(posting(number, T0 + HOUR + timedelta(seconds=20)))
    fake.add(posting("9100-9999-1", T0 + 40 * HOUR))  # not crossing anything
    await cycle(db, T0)  # the 4h reminder for the crossing ones
    listed_before = fake.calls_to("/v4/posting/fbs/unfulfilled/list")
    later = T0 + timedelta(seconds=21)
    with Store.open(db, mode="writer") as store:
        async with OzonClient("1", "k", base_url=BASE_URL, max_requests_per_second=1000) as client:
            job = AccountJob("shop-1", client, Rules())
            result = await run_account_wakeup(store, job, lambda: later, numbers)
    assert result.ok
    assert result.alerts == {"reminder": count}
    gets = fake.calls_to("/v3/posting/fbs/get")
    listings = fake.calls_to("/v4/posting/fbs/unfulfilled/list") - listed_before
    if count == 1:
        assert (gets, listings) == (1, 0)
    else:
        assert gets == 0
        assert listings == len(numbers) // fake.page_size  # only the crossing ones are listed
        window = fake.calls[-1][1]["filter"]
        assert window["cutoff_from"] < rfc(T0 + HOUR + timedelta(seconds=20)) < window["cutoff_to"]
    assert [e for e, _ in events(db)] == ["reminder", "reminder"]
