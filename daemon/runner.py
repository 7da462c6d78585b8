"""The `run` process's account work: one full cycle or one precise wake-up at a time per
account, the agenda of moments something is due, and the one-line status systemd shows.

    cycle(name)      under the account's lock: the engine's full cycle, then its bookkeeping:
                     the agenda (what the cycle saw due within two poll intervals), a one-shot
                     wake-up at its first moment, /healthz and the metrics, STATUS=
    settle(name)     under the same lock: re-read the postings of cancels whose outcome is
                     unknown (about 10 s, 1 min and 5 min after the request), re-arm
    wake(name)       under the same lock: re-read only the postings due now (a reminder step,
                     a deadline, an escalation...), decide and alert them, re-arm the wake-up;
                     True when a full cycle should follow (the cancel rules need the listing)

Between polls nothing is late: the wake-up fires at the exact moment the first posting of the
agenda crosses a threshold. `Service` owns the scheduler, the engine (swapped on reload: set
`engine`), the after-cycle pipeline and the errors; this module only runs the work.

Imports the cycle result, the engine, health, metrics, the scheduler wrapper, sdnotify and the
store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from daemon.cycle import CycleResult
from daemon.engine import Engine
from daemon.health import Health
from daemon.metrics import Metrics
from daemon.schedule import Scheduler
from daemon.sdnotify import CycleGuard, SdNotifier
from daemon.store import Store

__all__ = ["MIN_WAKE_DELAY", "Runner", "all_locks", "first_cycle_spacing", "status_line"]

log = structlog.get_logger("daemon.runner")

MIN_WAKE_DELAY = timedelta(milliseconds=10)
FIRST_CYCLE_SPREAD = timedelta(seconds=2)  # between the first cycles of two accounts, at most
LATE_AFTER = timedelta(seconds=10)  # a scheduled cycle starting later than this is logged
STATUS_ACCOUNTS = 5  # more accounts than this: STATUS= sums them up


def first_cycle_spacing(interval: timedelta, accounts: int) -> timedelta:
    """Time between the first cycles of two accounts: FIRST_CYCLE_SPREAD, or less with so many
    accounts that they would not all start within one poll interval."""
    return min(FIRST_CYCLE_SPREAD, interval / max(accounts, 1))


class Runner:
    """Cycles and wake-ups of the accounts of `engine` (set again on a reload).

    `wake_job(name)` makes the scheduler's job for a wake-up (the service's, so that errors
    and deliveries stay with it); `stopping()` says the process is shutting down (no new
    wake-up is scheduled then)."""

    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        health: Health,
        metrics: Metrics,
        notifier: SdNotifier,
        guard: CycleGuard,
        *,
        now: Callable[[], datetime],
        zone: ZoneInfo,
        wake_job: Callable[[str], Callable[[], Awaitable[None]]],
        settle_job: Callable[[str], Callable[[], Awaitable[None]]],
        stopping: Callable[[], bool],
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.health = health
        self.metrics = metrics
        self.notifier = notifier
        self.guard = guard
        self.now = now
        self.zone = zone
        self.engine: Engine | None = None
        self.locks: dict[str, asyncio.Lock] = {}
        self._wake_job = wake_job
        self._settle_job = settle_job
        self._stopping = stopping
        self._last: dict[str, CycleResult] = {}
        self._overdue: dict[str, int] = {}
        self._agenda: dict[str, list[tuple[datetime, str]]] = {}
        self._phase: dict[str, datetime] = {}  # each account's first cycle: its schedule
        self._interval = timedelta(minutes=5)

    def add_accounts(self, names: Iterable[str]) -> None:
        """Give every account a lock (kept across reloads)."""
        for name in names:
            self.locks.setdefault(name, asyncio.Lock())

    def set_phases(self, phases: dict[str, datetime], interval: timedelta) -> None:
        """Each account's first scheduled cycle, every `interval` after which the next is due."""
        self._phase, self._interval = dict(phases), interval

    def note_lag(self, name: str) -> None:
        """Warn when a scheduled cycle starts more than LATE_AFTER behind its time (a loop
        too busy for its accounts: time to shard, docs/scale.md)."""
        phase = self._phase.get(name)
        if phase is None:
            return
        now, interval = self.now(), self._interval
        due = phase + ((now - phase) // interval) * interval if now >= phase else phase
        lag = (now - due).total_seconds()
        late = lag > LATE_AFTER.total_seconds()
        (log.warning if late else log.debug)(
            "cycle_late" if late else "cycle_due", account=name, lag=round(lag, 3)
        )

    def _has(self, engine: Engine, name: str) -> bool:
        return name in {job.name for job in engine.jobs}

    async def cycle(self, name: str, *, extra: bool = False) -> CycleResult | None:
        """One full cycle of `name` (`extra`: after a wake-up) and its bookkeeping; None when
        the account left the config on a reload."""
        assert self.engine is not None  # noqa: S101 - set by the service before any job
        async with self.locks.setdefault(name, asyncio.Lock()):
            engine = self.engine
            if not self._has(engine, name):
                return None
            with self.guard.running(name):
                result = await engine.cycle(name, extra=extra)
            self._last[name] = result
            self._after(result)
            self.schedule_settle(name)
        return result

    def _after(self, result: CycleResult) -> None:
        name = result.account
        if result.listing_complete:  # a complete listing knows every posting's next event
            self._agenda[name] = sorted(result.agenda)
        else:  # keep what we knew, add what this partial listing saw
            self._agenda[name] = sorted(set(self._agenda.get(name, [])) | set(result.agenda))
        self.schedule_wake(name)
        now = self.now()
        self.health.cycle_finished(name, result.ok, now, result.duration)
        counts = self.store.digest_counts(name, now)
        self.metrics.set_postings(name, counts.watched, counts.overdue)
        self._overdue[name] = counts.overdue
        self.notifier.status(self.status_line())

    def schedule_wake(self, name: str) -> None:
        """A one-shot evaluation at the account's next threshold crossing (none if none)."""
        agenda = self._agenda.get(name)
        if not agenda or self._stopping():
            self.scheduler.remove(f"wake:{name}")
            return
        when = max(agenda[0][0], self.now() + MIN_WAKE_DELAY)
        self.scheduler.once_at(f"wake:{name}", when, self._wake_job(name))

    async def wake(self, name: str) -> bool:
        """Re-read the postings of `name` due now and decide them; True when a full cycle
        should follow (it shares max_per_cycle with the regular cycle of this interval)."""
        assert self.engine is not None  # noqa: S101 - set by the service before any job
        full_cycle = False
        async with self.locks.setdefault(name, asyncio.Lock()):
            engine = self.engine
            if not self._has(engine, name):
                return False
            now = self.now()
            agenda = self._agenda.get(name, [])
            due = sorted({number for moment, number in agenda if moment <= now})
            if due:
                with self.guard.running(f"wake:{name}"):
                    result = await engine.focused(name, due)
                rest = [(moment, number) for moment, number in agenda if moment > now]
                self._agenda[name] = sorted(rest + result.agenda)
                full_cycle = bool(result.selected)  # cancel rules need the complete listing
            self.schedule_wake(name)
        return full_cycle

    def schedule_settle(self, name: str) -> None:
        """A one-shot re-read of the account's unknown cancel outcomes when the next is due."""
        when = None if self.engine is None else self.engine.next_settle_read(name)
        if when is None or self._stopping():
            self.scheduler.remove(f"settle:{name}")
            return
        self.scheduler.once_at(f"settle:{name}", when, self._settle_job(name))

    async def settle(self, name: str) -> None:
        """Under the account's lock: re-read the postings of its cancels whose outcome is
        unknown, then re-arm the next settling re-read."""
        assert self.engine is not None  # noqa: S101 - set by the service before any job
        async with self.locks.setdefault(name, asyncio.Lock()):
            engine = self.engine
            if not self._has(engine, name):
                return
            with self.guard.running(f"settle:{name}"):
                await engine.settle(name)
            self.schedule_settle(name)

    def status_line(self) -> str:
        """What systemd shows as STATUS= (see `status_line`)."""
        return status_line(self._last, self._overdue, self.zone)


def status_line(last: dict[str, CycleResult], overdue: dict[str, int], zone: ZoneInfo) -> str:
    """systemd's STATUS= after a cycle: every account's state, last sync and counts; with more
    than STATUS_ACCOUNTS accounts one summary (formatting hundreds of accounts after every
    cycle cost more than the cycles, and systemctl shows one line anyway)."""
    if len(last) > STATUS_ACCOUNTS:
        failing = sorted(name for name, result in last.items() if not result.ok)
        latest = max(result.started for result in last.values()).astimezone(zone)
        watched = sum(result.watched for result in last.values())
        names = ", ".join(failing[:3]) + (", ..." if len(failing) > 3 else "")
        return (
            f"{len(last)} accounts: {len(last) - len(failing)} ok, {len(failing)} FAILING"
            f"{f' ({names})' if failing else ''}, last sync {latest:%H:%M:%S}, {watched} watched, "
            f"{sum(overdue.get(name, 0) for name in last)} overdue"
        )
    parts = []
    for name, result in sorted(last.items()):
        state = "ok" if result.ok else "FAILING"
        at = result.started.astimezone(zone)
        parts.append(
            f"{name}: {state}, last sync {at:%H:%M:%S}, {result.watched} watched, "
            f"{overdue.get(name, 0)} overdue"
        )
    return "; ".join(parts) or "starting"


class all_locks:
    """Hold every account lock: no cycle runs while the engine is swapped."""

    def __init__(self, locks: dict[str, asyncio.Lock]) -> None:
        self.locks = list(locks.values())

    async def __aenter__(self) -> None:
        for lock in self.locks:
            await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        for lock in self.locks:
            lock.release()
