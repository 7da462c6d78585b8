"""The only module that imports APScheduler: a small wrapper around its AsyncIOScheduler.

Jobs are `async def` functions without arguments, run on the daemon's one event loop. Every
job has a name; adding a job with a name that exists replaces it. Interval jobs never overlap
themselves (max_instances=1) and coalesce missed runs into one; one-shot jobs fire at a moment
(precise wake-ups); daily jobs fire at a local time of day.

What APScheduler would say as free text is logged here as named events, each with the `job`
and, for a name `kind:account` (`wake:shop-1`), the `account`:

    job_skipped    debug    a run fell due while the job's previous run still went on (a
                            wake-up while the account's cycle runs: that cycle, or the
                            wake-up running, covers it)
    job_missed     warning  a run came more than MISFIRE_GRACE late (a suspended machine)
    job_failed     error    a job raised (a bug), with its traceback; the scheduler goes on
    job_cancelled  info     a job still running when the scheduler shut down (the service
                            waited for it first): stopped without a traceback

APScheduler's own log lines below ERROR are dropped by `daemon.logs` for that reason.

Imports APScheduler, structlog and the standard library only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["Job", "Scheduler"]

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[None]]
MISFIRE_GRACE = 3600  # seconds: a run missed (suspended VPS, busy loop) still runs, once
SKIPPED = "its previous run was still going on"


def job_fields(name: str) -> dict[str, str]:
    """The log fields naming job `name`: `job`, and `account` for a name `kind:account`."""
    kind, sep, account = name.partition(":")
    return {"job": name, "account": account} if sep and kind and account else {"job": name}


def guarded(name: str, job: Job) -> Job:
    """`job` as the scheduler runs it: an exception is logged (`job_failed`, an error naming
    the account, with its traceback) instead of reaching APScheduler, and a cancellation by
    the scheduler's shutdown ends it quietly (`job_cancelled`)."""

    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:
            # Only APScheduler's shutdown cancels its jobs' tasks, after the service waited
            # for them; a traceback would tell nothing more than this line.
            log.info("job_cancelled", **job_fields(name), reason="still running at shutdown")
        except Exception as err:  # a bug: logged with its account, the scheduler goes on
            log.error(
                "job_failed", **job_fields(name), error=f"{type(err).__name__}: {err}",
                exc_info=True,
            )  # fmt: skip

    return run


class Scheduler:
    """Named jobs on the running asyncio loop. Call `start()` from inside the loop."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        self._scheduler.add_listener(self._missed, EVENT_JOB_MISSED)

    @staticmethod
    def _skipped(event: JobEvent) -> None:
        log.debug("job_skipped", **job_fields(event.job_id), reason=SKIPPED)

    @staticmethod
    def _missed(event: Any) -> None:
        when = getattr(event, "scheduled_run_time", None)
        late = (datetime.now(UTC) - when).total_seconds() if isinstance(when, datetime) else None
        log.warning(
            "job_missed", **job_fields(event.job_id), scheduled_at=str(when),
            late_seconds=None if late is None else round(late),
            reason=f"it came more than {MISFIRE_GRACE} s late (was the machine suspended?)",
        )  # fmt: skip

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
        (whatever `wait` says; each logs `job_cancelled`), so call this only after they had
        their chance to finish: `pause` first."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(self, name: str, interval: timedelta, job: Job, first_at: datetime) -> None:
        """Run `job` every `interval`, first at `first_at`; never two runs of it at once."""
        self._scheduler.add_job(
            guarded(name, job),
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
            guarded(name, job),
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
            guarded(name, job),
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
