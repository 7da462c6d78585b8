"""The only module that imports APScheduler: a small wrapper around its AsyncIOScheduler.

Jobs are `async def` functions without arguments, run on the daemon's one event loop. Every
job has a name; adding a job with a name that exists replaces it. Interval jobs never overlap
themselves (max_instances=1) and coalesce missed runs into one; one-shot jobs fire at a moment
(precise wake-ups); daily jobs fire at a local time of day.

Imports APScheduler and the standard library only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["Job", "Scheduler"]

Job = Callable[[], Awaitable[None]]
MISFIRE_GRACE = 3600  # seconds: a run missed (suspended VPS, busy loop) still runs, once


class Scheduler:
    """Named jobs on the running asyncio loop. Call `start()` from inside the loop."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Start firing jobs on the current event loop."""
        self._scheduler.start()

    def pause(self) -> None:
        """Stop firing jobs; jobs already running go on (the service awaits them, then calls
        `shutdown`)."""
        if self._scheduler.running:
            self._scheduler.pause()

    def shutdown(self) -> None:
        """Stop the scheduler. APScheduler's asyncio executor cancels the jobs still running
        (whatever `wait` says), so call this only after they finished: `pause` first."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(self, name: str, interval: timedelta, job: Job, first_at: datetime) -> None:
        """Run `job` every `interval`, first at `first_at`; never two runs of it at once."""
        self._scheduler.add_job(
            job,
            IntervalTrigger(seconds=interval.total_seconds(), start_date=first_at, timezone=UTC),
            id=name,
            name=name,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE,
            next_run_time=first_at,
        )

    def once_at(self, name: str, when: datetime, job: Job) -> None:
        """Run `job` once at `when` (replacing a pending one-shot of the same name)."""
        self._scheduler.add_job(
            job,
            DateTrigger(run_date=when, timezone=UTC),
            id=name,
            name=name,
            replace_existing=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE,
        )

    def daily(self, name: str, at: time, zone: ZoneInfo, job: Job) -> None:
        """Run `job` every day at local time `at` in `zone`."""
        self._scheduler.add_job(
            job,
            CronTrigger(hour=at.hour, minute=at.minute, timezone=zone),
            id=name,
            name=name,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE,
        )

    def remove(self, name: str) -> None:
        """Remove the job `name` if it exists."""
        if self._scheduler.get_job(name) is not None:
            self._scheduler.remove_job(name)

    def names(self) -> list[str]:
        """Names of the scheduled jobs."""
        return sorted(job.id for job in self._scheduler.get_jobs())

    def next_run(self, name: str) -> datetime | None:
        """When job `name` runs next (None if it does not exist or is paused)."""
        job = self._scheduler.get_job(name)
        when = getattr(job, "next_run_time", None) if job is not None else None
        return when.astimezone(UTC) if isinstance(when, datetime) else None
