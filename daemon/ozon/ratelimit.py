"""A request-rate limit per Ozon Client-Id, shared by every client of that account in a process.

Ozon allows 50 requests per second per Client-Id, summed over all methods and all programs
using that Client-Id (API-FACTS §1.4). `RateLimiter` spaces requests evenly: each `acquire()`
reserves the next free slot (`1 / rate` seconds after the previous one) and sleeps until it, so
concurrent callers are served in call order and never more than `rate` start in any second
(give or take the slot on the boundary). The reservation happens before any await, so it needs
no lock and works from any event loop. `clock` and `sleep` are injectable for tests.

Ozon counts a request when it arrives, a little after it starts, and that delay varies: two
requests `rate` slots apart can arrive less than a second apart and the later one be refused
(429). So callers also report each answer (`answered()`), and a request never starts within a
second after the answer to the request `int(rate)` answers back: by then Ozon has surely
counted that one, so at most `int(rate)` of the requests it counts fall in any one second. With
answers back within the slot (or not reported), this adds no wait.

`shared_limiter()` hands out one limiter per `(base_url, client_id)` while any client holds it.
`retry_after(header, now)` reads Ozon's `Retry-After` (seconds or an HTTP date).

This module imports only the standard library.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

__all__ = ["RateLimiter", "retry_after", "shared_limiter"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class RateLimiter:
    """At most `rate` request starts per second, spaced evenly; see the module docstring."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of requests per second: {rate}")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._answers: deque[float] = deque()  # when the last int(rate) answers came back

    @property
    def interval(self) -> float:
        """Seconds between two request starts."""
        return 1.0 / self.rate

    def reserve(self) -> float:
        """Reserve the next slot; return how many seconds to wait for it (0 when free now)."""
        now = self._clock()
        slot = max(now, self._next_slot)
        answers = self._answers
        if len(answers) >= self._window:
            slot = max(slot, answers[-self._window] + 1.0)
        self._next_slot = slot + self.interval
        return slot - now

    def answered(self) -> None:
        """Note that a request got its answer (or failed) now; see the module docstring."""
        self._answers.append(self._clock())
        while len(self._answers) > self._window:
            self._answers.popleft()

    @property
    def _window(self) -> int:
        return max(1, int(self.rate))

    async def acquire(self) -> None:
        """Wait until this caller may start a request."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)


_limiters: weakref.WeakValueDictionary[tuple[str, str], RateLimiter] = weakref.WeakValueDictionary()


def shared_limiter(
    base_url: str,
    client_id: str,
    rate: float,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> RateLimiter:
    """Return the limiter of `(base_url, client_id)`, creating it if no live client holds one.

    When clients of one account ask for different rates, the lowest one applies to all of
    them. `clock` and `sleep` are those of the client that created the limiter.
    """
    key = (base_url.rstrip("/"), client_id)
    limiter = _limiters.get(key)
    if limiter is None:
        limiter = RateLimiter(rate, clock=clock, sleep=sleep)
        _limiters[key] = limiter
    elif rate < limiter.rate:
        limiter.rate = rate
    return limiter


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
