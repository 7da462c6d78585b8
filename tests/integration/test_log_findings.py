"""A finding is logged as a warning once per posting (or account) and reason, debug after that,
and its end as one info line: the cycle against respx with a real store, the key check against
the in-process sandbox, structlog's capture_logs (issue 23, point 2)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from structlog.testing import capture_logs

from daemon.engine import run_account_cycle
from daemon.job import AccountJob
from daemon.keycheck import check_key_expiry
from daemon.ozon.client import OzonClient
from daemon.policy import Rules
from daemon.sandbox import Knobs, Sandbox
from daemon.store import Store
from tests.integration.fake_ozon import BASE_URL, FakeOzon, posting

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture
def fake() -> Iterator[FakeOzon]:
    with FakeOzon() as ozon:
        yield ozon


def levels(logs: list[dict[str, Any]], event: str, **fields: object) -> list[str]:
    """The levels of the captured lines of `event` (with `fields`), in order."""
    return [
        entry["log_level"]
        for entry in logs
        if entry["event"] == event and all(entry.get(k) == v for k, v in fields.items())
    ]


async def cycles(db: Path, moments: list[datetime]) -> list[dict[str, Any]]:
    """Cycles of account "shop-1" at `moments` by one running daemon (one job, one store),
    returning what they logged."""

    async def no_sleep(_seconds: float) -> None:
        return None

    with capture_logs() as logs, Store.open(db, mode="writer") as store:
        async with OzonClient(
            "1", "test-key", base_url=BASE_URL, retry_for=0, sleep=no_sleep,
            max_requests_per_second=1000,
        ) as client:  # fmt: skip
            job = AccountJob(name="shop-1", client=client, rules=Rules())
            for moment in moments:
                result = await run_account_cycle(store, job, lambda moment=moment: moment)
                assert result.ok, result.error
    return logs


async def test_a_posting_not_found_is_a_warning_once_then_debug(
    fake: FakeOzon, tmp_path: Path
) -> None:
    fake.add(posting("1000-0001-1", T0 + 30 * HOUR))
    fake.add(posting("2000-0001-1", T0 + 30 * HOUR))
    fake.add(posting("3000-0001-1", T0 + 30 * HOUR))
    db = tmp_path / "state.db"
    await cycles(db, [T0])
    del fake.postings["1000-0001-1"]  # vanished: not listed, not changed, 404 to a get
    del fake.postings["2000-0001-1"]

    logs = await cycles(db, [T0 + k * timedelta(minutes=5) for k in (1, 2, 3)])

    for number in ("1000-0001-1", "2000-0001-1"):
        assert levels(logs, "posting_not_found", posting_number=number) == [
            "warning",
            "debug",
            "debug",
        ], logs
    assert fake.calls_to("/v3/posting/fbs/get") == 6  # asked every cycle: only the log is quiet


async def test_an_unreadable_posting_is_a_warning_once_then_debug_even_after_a_restart(
    fake: FakeOzon, tmp_path: Path
) -> None:
    fake.add(posting("1000-0001-1", T0 + 30 * HOUR))
    unreadable = posting("4000-0001-1", T0 + 30 * HOUR)
    unreadable["shipment_date"] = "0001-01-01T00:00:00Z"

    def listing(request: httpx.Request) -> httpx.Response:
        listed = [*fake.postings.values(), unreadable]  # Ozon lists it whatever the window
        return httpx.Response(200, json={"postings": listed, "cursor": "", "has_next": False})

    fake.router.post("/v4/posting/fbs/unfulfilled/list").mock(side_effect=listing)
    db = tmp_path / "state.db"

    first = await cycles(db, [T0, T0 + HOUR])
    restarted = await cycles(db, [T0 + 2 * HOUR])

    which = {"posting_number": "4000-0001-1", "field": "shipment_date"}
    assert levels(first, "posting_unreadable", **which) == ["warning", "debug"], first
    assert levels(restarted, "posting_unreadable", **which) == ["debug"]  # the ledger knows


async def test_an_unreadable_key_expiry_is_a_warning_once_until_it_can_be_read_again(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    sandbox = make_sandbox(knobs=Knobs(rate_limit=0, forbidden_methods=["/v1/roles"]))
    now = datetime.now(UTC)
    async with OzonClient(
        sandbox.client_id, sandbox.api_key, base_url=sandbox.base_url, retry_for=5
    ) as client:
        job = AccountJob("shop-1", client, Rules())
        with Store.open(tmp_path / "s.db", mode="writer") as store, capture_logs() as logs:
            for _ in range(3):  # `run` asks after every cycle until it gets an answer
                await check_key_expiry(store, [job], MOSCOW, now)
            sandbox.set_knobs(forbidden_methods=[])
            await check_key_expiry(store, [job], MOSCOW, now)
            await check_key_expiry(store, [job], MOSCOW, now + timedelta(days=1))
            sandbox.set_knobs(forbidden_methods=["/v1/roles"])
            await check_key_expiry(store, [job], MOSCOW, now + timedelta(days=2))

    assert levels(logs, "key_info_unavailable", account="shop-1") == [
        "warning",
        "debug",
        "debug",
        "warning",  # a new failure after it was read again: a state change again
    ]
    assert levels(logs, "key_info_available", account="shop-1") == ["info"]  # once, at the end
