"""The board's memo of `status --json` elements (daemon.views.ElementMemo): whatever the clock
does and whatever the ratings do, an element built with the memo equals one built without,
and what the memo holds is reused rather than built again."""

from __future__ import annotations

import random
import sys
import threading
from dataclasses import replace
from datetime import timedelta

import msgspec

from daemon.models import AccountRatings, ErrorIndex
from daemon.store import CachedPosting
from daemon.views import ElementMemo, status_json
from tests.unit.test_advice import SHIP, H, posting, steps, summary

FOREVER = steps(("commission", 1, "80", None))
WORKED_LATE = steps(  # free at first, then dearer every 6 hours, then 200 RUB for ever
    ("no_discount", 0, "0", timedelta(0)),
    ("commission", 1, "20", 6 * H),
    ("commission", 2, "60", 12 * H),
    ("commission", 3, "200", None),
)


def cached(number: str, account: str, tariff: object, hours: float = 0) -> CachedPosting:
    item = posting(tariff_steps=tariff)  # type: ignore[arg-type]
    moved = msgspec.structs.replace(item, posting_number=number, shipment_date=SHIP + hours * H)
    seen = SHIP - 48 * H
    return CachedPosting(account=account, posting=moved, watched=True, held=False,
                         held_until=None, first_seen=seen, last_changed=seen)  # fmt: skip


def ratings(index: float, delay: str = "OK") -> AccountRatings:
    return AccountRatings(index=ErrorIndex(index=index, currency="RUB"), summary=summary(delay))


POSTINGS = [
    cached("1-1-1", "shop", WORKED_LATE),
    cached("1-1-2", "shop", WORKED_LATE, hours=5),
    cached("1-1-3", "other", FOREVER, hours=-3),
    cached("1-1-4", "other", steps(), hours=1),  # no steps: the tariff snapshot (none)
    cached("1-1-5", "shop", WORKED_LATE, hours=40),  # not late for most of the run
]


def test_elements_built_with_the_memo_equal_those_built_without_over_any_clock() -> None:
    rng = random.Random(7)
    memo = ElementMemo()
    kept = {"shop": ratings(0.02), "other": ratings(0.08)}
    moments = sorted(SHIP + timedelta(minutes=rng.uniform(-120, 60 * 60)) for _ in range(300))
    moments += [SHIP + 2 * H, SHIP - H, SHIP + 13 * H, SHIP + 4 * H]  # the clock jumps back
    for step, now in enumerate(moments):
        if step == 150:  # the ratings change half way (new objects, new values)
            kept = {"shop": ratings(0.02, "CRITICAL"), "other": ratings(0.3)}
        if step == 200:  # equal values in new objects: still the same advice
            kept = {name: replace_ratings(value) for name, value in kept.items()}
        assert status_json(POSTINGS, now, None, kept, memo) == status_json(
            POSTINGS, now, None, kept
        ), now


def replace_ratings(value: AccountRatings) -> AccountRatings:
    return AccountRatings(index=value.index, summary=value.summary)


def test_what_the_memo_holds_is_reused_until_the_next_tariff_step_comes_near() -> None:
    memo = ElementMemo()
    kept = {"shop": ratings(0.02), "other": ratings(0.08)}
    now = SHIP + 30 * timedelta(minutes=1)
    first = status_json(POSTINGS, now, None, kept, memo)
    again = status_json(POSTINGS, now + timedelta(minutes=10), None, kept, memo)
    assert first[0]["advice"] is not None
    assert again[0]["advice"] is first[0]["advice"]  # reused, not built again
    assert again[0]["seconds_left"] == first[0]["seconds_left"] - 600  # the clock still counts
    # 1-1-1's next step starts at SHIP + 6 h: within 2 h of it the advice says so
    near = status_json(POSTINGS, SHIP + 4 * H + timedelta(minutes=1), None, kept, memo)
    assert near[0]["advice"] is not first[0]["advice"]
    assert near[0]["advice"]["step_soon"] is True and first[0]["advice"]["step_soon"] is False


def test_the_memo_lets_go_of_postings_no_longer_shown() -> None:
    memo = ElementMemo()
    now = SHIP + 2 * H
    status_json(POSTINGS, now, None, {}, memo)
    assert len(memo.fixed) == len(POSTINGS)
    for _ in range(5):  # the same numbers, decoded again: new objects each time
        fresh = [replace(item) for item in POSTINGS]
        status_json(fresh, now, None, {}, memo)
    assert len(memo.fixed) + len(memo.advice) <= 4 * len(POSTINGS) + 2 * len(POSTINGS)
    status_json(POSTINGS[:1], now, None, {}, memo)
    assert len(memo.fixed) <= 4


def test_requests_in_threads_share_one_memo_safely() -> None:
    """The board answers requests in threads: several building and pruning at once never
    break one another, and every answer is the one built without the memo."""
    memo = ElementMemo()
    now = SHIP + 2 * H
    expected = status_json(POSTINGS, now, None, {})
    failures: list[BaseException] = []

    def screen() -> None:
        try:
            for _ in range(300):
                fresh = [replace(item) for item in POSTINGS]  # new objects: entries to prune
                assert status_json(fresh, now, None, {}, memo) == expected
        except BaseException as err:  # noqa: BLE001 - reported below
            failures.append(err)

    threads = [threading.Thread(target=screen) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
