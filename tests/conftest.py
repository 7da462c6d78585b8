"""Shared pytest fixtures and paths for the whole test suite. Keep it small.

`OZON_DATA` (`tests/data/ozon/`) holds the Ozon fixtures and the official OpenAPI documents; the
suite reads nothing outside the repository.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.openapi_schema import load_document
from tests.sandbox_fixtures import make_sandbox, sandbox, sandbox_process  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]
OZON_DATA = REPO_ROOT / "tests" / "data" / "ozon"
OZON_FIXTURES = OZON_DATA
FBS_OPENAPI_2026 = OZON_DATA / "ozon-fbs-openapi-2026.json"
SELLER_OPENAPI_2025 = OZON_DATA / "ozon-seller-openapi-2025-09.json"
# A hand transcription of the reference page of /v1/rating/index/fbs/info (see the README there).
RATING_INDEX_OPENAPI = OZON_DATA / "ozon-rating-index-fbs-openapi.json"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options of the crash tests (tests/e2e/test_crash_e2e.py)."""
    group = parser.getgroup("ozon-sync crash tests")
    group.addoption(
        "--crash-runs",
        type=int,
        default=20,
        help="SIGKILLs of `once` in the crash test (at least 100 for a thorough run) [20]",
    )
    group.addoption(
        "--term-runs",
        type=int,
        default=1,
        help="SIGTERMs of `run` while a cancel hangs past the grace period (~40 s each) [1]",
    )
    group.addoption(
        "--crash-seed",
        type=int,
        default=None,
        help="seed of the crash tests' random kill moments (printed in the header) [random]",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--crash-seed", None) is None:
        config.option.crash_seed = random.SystemRandom().randrange(2**32)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: three workers per core, at most 24. Most of the suite waits on other processes
    (the daemon, the fake Ozon, a browser, timers): with one worker per core the whole run used
    a third of the machine's CPU time (measured on 2 cores: 13 CPU-minutes in 20.6 minutes)."""
    return max(2, min(24, 3 * (os.cpu_count() or 1)))


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("--crash-seed")
    return f"crash tests: seed {seed} (replay with --crash-seed {seed})"


@pytest.fixture(scope="session")
def fbs_openapi() -> dict[str, Any]:
    """The official 2026 FBS OpenAPI document (v4 list methods, get, cancel, cancel-reason)."""
    return load_document(FBS_OPENAPI_2026)


@pytest.fixture(scope="session")
def seller_openapi() -> dict[str, Any]:
    """The official 2025-09 Seller OpenAPI document (cancel-reason/list, /v1/roles)."""
    return load_document(SELLER_OPENAPI_2025)


@pytest.fixture(scope="session")
def rating_index_openapi() -> dict[str, Any]:
    """The transcribed OpenAPI fragment of `/v1/rating/index/fbs/info` (not an official file)."""
    return load_document(RATING_INDEX_OPENAPI)


class FakeTime:
    """A monotonic clock and an async sleep that never waits: sleeping moves the clock.

    `sleeps` records every requested wait. Concurrent sleepers each move the clock to their
    own wake-up time (never backwards), so a batch of tasks ends at the latest wake-up.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.wakeups: list[float] = []

    def clock(self) -> float:
        """The current fake monotonic time in seconds."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait, move the clock to the wake-up time and yield to other tasks."""
        self.sleeps.append(seconds)
        wakeup = self.now + seconds
        self.wakeups.append(wakeup)
        self.now = max(self.now, wakeup)
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    """A FakeTime starting at 1000.0 s."""
    return FakeTime()
