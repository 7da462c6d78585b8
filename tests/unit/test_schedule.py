"""The scheduler wrapper speaks in named events, never in APScheduler's free text: a run skipped
while the job's previous run goes on is a debug line, a job that raised is an error naming the
account, a job cancelled by the shutdown ends without a traceback, a run missed by more than
the grace is a warning. Real APScheduler on the test's event loop, JSON lines on a stream."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from daemon.logs import configure_logging
from daemon.schedule import Scheduler, job_fields


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    yield out
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "ozon-sync":
            root.removeHandler(handler)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def soon(seconds: float = 0.01) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def wait_until(condition: Any) -> None:
    for _ in range(1000):  # 10 s
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("timed out")


def loud(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["level"] in ("warning", "error", "critical")]


def test_a_job_name_kind_account_names_the_account() -> None:
    assert job_fields("wake:shop-1") == {"job": "wake:shop-1", "account": "shop-1"}
    assert job_fields("deliver") == {"job": "deliver"}


async def test_a_job_that_raises_is_one_error_naming_the_account(stream: io.StringIO) -> None:
    scheduler = Scheduler()
    scheduler.start()
    ran = asyncio.Event()

    async def broken() -> None:
        ran.set()
        raise ValueError("a bug in the cycle")

    scheduler.once_at("sync:shop-1", soon(), broken)
    await asyncio.wait_for(ran.wait(), 10)
    await wait_until(lambda: "job_failed" in stream.getvalue())
    scheduler.shutdown()

    (failed,) = loud(lines(stream))
    assert (failed["event"], failed["level"]) == ("job_failed", "error")
    assert (failed["job"], failed["account"]) == ("sync:shop-1", "shop-1")
    assert failed["error"] == "ValueError: a bug in the cycle"
    assert "ValueError" in failed["exception"]  # the traceback, for the bug report


async def test_a_wake_up_skipped_while_the_previous_one_runs_is_a_debug_line(
    stream: io.StringIO,
) -> None:
    scheduler = Scheduler()
    scheduler.start()
    running, release = asyncio.Event(), asyncio.Event()
    runs = 0

    async def wake() -> None:  # waits, as a wake-up waits for the account's running cycle
        nonlocal runs
        runs += 1
        running.set()
        await release.wait()

    scheduler.once_at("wake:shop-1", soon(), wake)
    await asyncio.wait_for(running.wait(), 10)
    scheduler.once_at("wake:shop-1", soon(), wake)  # due while the first still runs
    await wait_until(lambda: "job_skipped" in stream.getvalue())
    release.set()
    await asyncio.sleep(0.05)
    scheduler.shutdown()

    entries = lines(stream)
    (skipped,) = [e for e in entries if e["event"] == "job_skipped"]
    assert skipped["level"] == "debug"
    assert (skipped["job"], skipped["account"]) == ("wake:shop-1", "shop-1")
    assert loud(entries) == [] and runs == 1
    assert "maximum number of running instances" not in stream.getvalue()


async def test_a_job_cancelled_by_the_shutdown_ends_without_a_traceback(
    stream: io.StringIO,
) -> None:
    scheduler = Scheduler()
    scheduler.start()
    running = asyncio.Event()

    async def hanging() -> None:
        running.set()
        await asyncio.sleep(3600)

    scheduler.once_at("sync:shop-1", soon(), hanging)
    await asyncio.wait_for(running.wait(), 10)
    scheduler.shutdown()  # APScheduler's asyncio executor cancels the job's task
    await wait_until(lambda: "job_cancelled" in stream.getvalue())
    await asyncio.sleep(0.05)

    entries = lines(stream)
    (cancelled,) = [e for e in entries if e["event"] == "job_cancelled"]
    assert (cancelled["level"], cancelled["account"]) == ("info", "shop-1")
    assert loud(entries) == []
    assert "CancelledError" not in stream.getvalue() and "exception" not in cancelled


async def test_a_run_missed_by_more_than_the_grace_is_one_warning(stream: io.StringIO) -> None:
    scheduler = Scheduler()
    scheduler.start()
    ran = False

    async def wake() -> None:
        nonlocal ran
        ran = True

    scheduler.once_at("wake:shop-1", datetime.now(UTC) - timedelta(hours=2), wake)
    await wait_until(lambda: "job_missed" in stream.getvalue())
    scheduler.shutdown()

    (missed,) = loud(lines(stream))
    assert (missed["event"], missed["level"], missed["account"]) == (
        "job_missed",
        "warning",
        "shop-1",
    )
    assert missed["late_seconds"] >= 7200 and not ran
