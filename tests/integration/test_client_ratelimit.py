"""The per-Client-Id request rate limit, measured with a fake clock (no real waiting)."""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import respx

from daemon.ozon import OzonClient, RateLimiter
from daemon.ozon.ratelimit import shared_limiter
from tests.conftest import FakeTime

BASE = "http://127.0.0.1:9"
NOW = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
_ids = itertools.count(700000)


def fresh_client_id() -> str:
    """A Client-Id no other test uses, so no limiter from another test is shared."""
    return str(next(_ids))


@pytest.fixture
def ozon() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.post("/v1/roles").mock(return_value=httpx.Response(200, json={"roles": []}))
        yield router


def most_starts_in_any_second(starts: list[float]) -> int:
    """The most request starts in any one-second window (less a hair for float rounding)."""
    starts = sorted(starts)
    return max(bisect.bisect_left(starts, start + 1.0 - 1e-6) - i for i, start in enumerate(starts))


async def test_sequential_acquires_are_spaced_by_one_over_the_rate(fake_time: FakeTime) -> None:
    limiter = RateLimiter(20.0, clock=fake_time.clock, sleep=fake_time.sleep)
    started = fake_time.now
    starts = []
    for _ in range(100):
        await limiter.acquire()
        starts.append(fake_time.now)
    assert fake_time.now - started == pytest.approx(4.95)
    assert most_starts_in_any_second(starts) <= 20
    assert fake_time.sleeps == pytest.approx([0.05] * 99)


async def test_no_start_within_a_second_after_the_answer_int_rate_answers_back(
    fake_time: FakeTime,
) -> None:
    """Ozon counts a request when it arrives: slow answers must not let more than `rate` of
    the counted requests fall in one second (the second rule of the module docstring)."""
    limiter = RateLimiter(5.0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts, answers = [], []
    for _ in range(5):
        await limiter.acquire()
        starts.append(fake_time.now)
        fake_time.now += 0.15  # the answer takes 0.15 s, within the 0.2 s slot
        limiter.answered()
        answers.append(fake_time.now)
    assert starts == pytest.approx([1000.0, 1000.2, 1000.4, 1000.6, 1000.8])
    await limiter.acquire()  # the answer 5 back came at 1000.15: not before 1001.15
    assert fake_time.now == pytest.approx(answers[0] + 1.0)
    assert fake_time.now > starts[-1] + limiter.interval  # later than spacing alone


async def test_answers_back_within_the_slot_add_no_wait(fake_time: FakeTime) -> None:
    limiter = RateLimiter(5.0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts = []
    for _ in range(12):
        await limiter.acquire()
        starts.append(fake_time.now)
        limiter.answered()  # answered at once
    assert starts == pytest.approx([1000.0 + 0.2 * n for n in range(12)])
    assert most_starts_in_any_second(starts) <= 5


async def test_a_hundred_concurrent_requests_at_20_rps_take_at_least_4_95_seconds(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    client = OzonClient(
        fresh_client_id(),
        "test-api-key",
        base_url=BASE,
        max_requests_per_second=20.0,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        wall_clock=lambda: NOW,
    )
    started = fake_time.now
    async with client:
        await asyncio.gather(*(client.key_info() for _ in range(100)))
    assert ozon.calls.call_count == 100
    assert fake_time.now - started >= 4.95 - 1e-9
    starts = [started, *fake_time.wakeups]
    assert len(starts) == 100
    assert most_starts_in_any_second(starts) <= 20


async def test_clients_of_one_client_id_share_one_budget(
    ozon: respx.MockRouter, fake_time: FakeTime
) -> None:
    client_id = fresh_client_id()
    clients = [
        OzonClient(
            client_id,
            "test-api-key",
            base_url=BASE,
            max_requests_per_second=10.0,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
        )
        for _ in range(2)
    ]
    started = fake_time.now
    await asyncio.gather(*(client.key_info() for client in clients for _ in range(10)))
    for client in clients:
        await client.aclose()
    # 20 requests at 10 per second, whichever client sends them.
    assert fake_time.now - started == pytest.approx(1.9)


async def test_other_client_ids_have_their_own_budget(fake_time: FakeTime) -> None:
    first = shared_limiter(BASE, fresh_client_id(), 10.0, clock=fake_time.clock)
    second = shared_limiter(BASE, fresh_client_id(), 10.0, clock=fake_time.clock)
    same = shared_limiter(BASE + "/", shared_id := "shared-id", 10.0, clock=fake_time.clock)
    assert first is not second
    assert shared_limiter(BASE, shared_id, 50.0) is same
    assert shared_limiter(BASE, shared_id, 5.0).rate == 5.0  # the lowest rate wins
    assert first.reserve() == 0.0 and second.reserve() == 0.0


def test_a_rate_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)
