"""systemd's STATUS= line of `run`: each account for a few, one summary for many (formatting
hundreds of accounts after every cycle was among the costliest steps of a 500-account run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from daemon.cycle import CycleResult
from daemon.ozon.errors import OzonError
from daemon.runner import STATUS_ACCOUNTS, status_line

AT = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
MSK = ZoneInfo("Europe/Moscow")


def results(count: int, failing: frozenset[int] = frozenset()) -> dict[str, CycleResult]:
    made = {}
    for n in range(count):
        result = CycleResult(account=f"shop-{n}", started=AT + timedelta(seconds=n))
        result.watched = 10
        if n in failing:
            result.error = OzonError("Ozon is down")
        made[result.account] = result
    return made


def test_a_few_accounts_are_listed_one_by_one() -> None:
    line = status_line(results(2, frozenset({1})), {"shop-0": 3}, MSK)
    assert line == (
        "shop-0: ok, last sync 10:00:00, 10 watched, 3 overdue; "
        "shop-1: FAILING, last sync 10:00:01, 10 watched, 0 overdue"
    )


def test_many_accounts_are_summed_up_in_one_short_line() -> None:
    count = 500
    line = status_line(results(count, frozenset({7, 9, 11, 13})), {"shop-1": 2, "shop-2": 5}, MSK)
    assert count > STATUS_ACCOUNTS
    assert line == (
        "500 accounts: 496 ok, 4 FAILING (shop-11, shop-13, shop-7, ...), "
        "last sync 10:08:19, 5000 watched, 7 overdue"
    )


def test_before_any_cycle_it_says_starting() -> None:
    assert status_line({}, {}, MSK) == "starting"
