"""`ozon-sync run`: the long-running daemon under systemd.

    start: open the store (writer lock), build the engine, start the scheduler,
           READY=1, watchdog; a first cycle for every account, 2 s apart (closer with so many
           accounts that they would not all start within one poll interval)
    every poll_interval per account after its first: a full cycle (accounts stay spread over
           the interval, never in lockstep; one starting over 10 s late logs `cycle_late`)
    after each cycle: STATUS=, metrics, a one-shot wake-up at the next moment a posting crosses
           a threshold, then the after-cycle pipeline `once` runs too (daemon.aftercycle:
           digest, key expiry, pruning, delivery, heartbeat)
    a cancel whose outcome is unknown: one-shot re-reads about 10 s, 1 min and 5 min after the
           request (`settle:<account>`), the cycles after that, until Ozon's answer is known
    at digest_at: the pipeline again (without a heartbeat), so the digest is on time
    every 30 s: delivery (retries, quiet hours ending)
    SIGHUP: reload the config (an invalid one is logged and the old one kept)
    a write refused by the database (disk full, read-only): one `database_unwritable` message
           straight to the routes (the outbox cannot be written), one error line per failed
           cycle, no watchdog pings while it lasts (systemd restarts a daemon that stays so);
           after UNWRITABLE_CYCLES failed cycles in a row, a clean stop and exit 74
    SIGTERM/SIGINT: stop taking work, let cycles in flight finish (bounded), release the
           alerts of cycles abandoned after the grace, flush the outbox, close the store, exit 0
    [health] listen, [board] listen: /healthz, /metrics and the packer's board (daemon.web),
           served by uvicorn as tasks of this loop (one server when both name one address)

Ozon errors never end the process: cycles record them and alert `api_error`. The accounts'
cycles and precise wake-ups are run by daemon.runner, the refused-writes streak is kept by
daemon.unwritable, the HTTP listeners are started by daemon.web.listeners. Imports the engine,
the after-cycle pipeline, the alerts path, cycle, notify, runner, schedule, sdnotify, health,
metrics, unwritable, config, store and web.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from daemon.aftercycle import after_cycle
from daemon.alerts.batch import release
from daemon.config import Config, ConfigError, ResolvedSecrets, load_config, resolve_secrets
from daemon.cycle import CycleResult
from daemon.engine import Engine, utc_now
from daemon.health import Health, Heartbeat
from daemon.logs import register_secrets
from daemon.metrics import Metrics
from daemon.notify.outbox import Outbox
from daemon.policy_rules import Rules
from daemon.runner import Runner, all_locks, first_cycle_spacing
from daemon.schedule import Scheduler
from daemon.sdnotify import CycleGuard, SdNotifier, Watchdog
from daemon.shards import Shard
from daemon.store import Store, StoreUnwritableError
from daemon.unwritable import WriteStreak
from daemon.web.listeners import Listeners

__all__ = ["Service"]

log = structlog.get_logger(__name__)

CYCLE_BOUND = timedelta(minutes=30)  # a cycle running longer than this is wedged
STOP_GRACE = 25.0  # seconds to let cycles in flight finish on SIGTERM
FLUSH_GRACE = 10.0  # seconds to deliver what is queued on SIGTERM
DELIVERY_EVERY = timedelta(seconds=30)  # retries and quiet-hours releases
WAKE_HORIZON_INTERVALS = 2  # a cycle lists the events due within two poll intervals


class Service:
    """The `run` process for one config file. `await Service(...).run()` returns the exit code."""

    def __init__(
        self,
        config_path: Path,
        config: Config,
        secrets: ResolvedSecrets,
        *,
        dry_run: bool = False,
        notifier: SdNotifier | None = None,
        now: Callable[[], datetime] = utc_now,
        shard: Shard | None = None,
    ) -> None:
        self.config_path = config_path
        self.shard = shard  # `run --shard`: kept over reloads (None: the config's own)
        self.config = config
        self.secrets = secrets
        self.dry_run = dry_run
        self.notifier = notifier or SdNotifier()
        self.now = now
        self.guard = CycleGuard(CYCLE_BOUND.total_seconds())
        self.scheduler = Scheduler()
        self.store: Store | None = None
        self.engine: Engine | None = None
        self.outbox: Outbox | None = None
        self.runner: Runner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._live_rules: dict[str, Rules] = {}  # each account's rules, as configured now
        self._publish_rules(config)
        names = [account.name for account in config.accounts]
        self.metrics = Metrics(names)
        self.health = Health(config.daemon.poll_interval, names, metrics=self.metrics,
                             started_at=now())  # fmt: skip
        self.listeners = Listeners([])
        self.heartbeat: Heartbeat | None = None
        self.writes = WriteStreak(
            self.notifier,
            outbox=lambda: self.outbox,
            language=lambda: self.config.daemon.language,
            stop=self._stopping.set,
        )

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns 0. Store errors at start propagate (73/74)."""
        self.store = Store.open(self.config.database_path(), mode="writer")
        try:
            self._build()
            self.listeners = await Listeners.start(
                self.config, self.store, self.health, self.metrics, now=self.now
            )
            url = self.secrets.heartbeat_url
            self.heartbeat = Heartbeat(url.reveal()) if url is not None else None
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._stopping.set)
            loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self._reload()))
            self.scheduler.start()
            self._schedule()
            watchdog = Watchdog(self.notifier, healthy=self._healthy, reason=self._unhealthy_reason)
            self.notifier.ready("started; first sync running")
            watchdog.start()
            log.info(
                "daemon_started",
                accounts=[account.name for account in self.config.accounts],
                poll_interval=self.config.daemon.poll_interval.total_seconds(),
                dry_run=self.dry_run,
            )
            await self._stopping.wait()
            self.notifier.stopping()
            watchdog.stop()
            await self._shutdown()
        finally:
            await self.listeners.stop()
            if self.heartbeat is not None:
                await self.heartbeat.aclose()
            if self.engine is not None:
                await self.engine.aclose()
            self.store.close()
            self.notifier.close()
        log.info("daemon_stopped")
        if self.writes.exhausted and self.writes.error is not None:
            raise self.writes.error  # the CLI's one line and exit 74
        return 0

    def _healthy(self) -> bool:
        """What the watchdog asks: no cycle overran, and the database takes writes."""
        return self.writes.error is None and self.guard.healthy()

    def _unhealthy_reason(self) -> str:
        if self.writes.error is not None:
            return "the state database refuses writes; systemd will restart the daemon"
        return "a cycle has run past its bound; systemd will restart the daemon"

    def _build(self) -> None:
        assert self.store is not None  # noqa: S101 - set by run()
        self.engine, self.outbox = self._make(self.config, self.secrets)
        self.runner = Runner(
            self.store, self.scheduler, self.health, self.metrics, self.notifier, self.guard,
            now=self.now, zone=self.config.daemon.zone,
            wake_job=self._job_wake, settle_job=self._job_settle,
            stopping=self._stopping.is_set,
        )  # fmt: skip
        self.runner.engine = self.engine
        self.runner.add_accounts(account.name for account in self.config.accounts)

    def _publish_rules(self, config: Config) -> None:
        """Make `config`'s rules the ones every cancel executor obeys from its next request."""
        self._live_rules.clear()
        self._live_rules.update({a.name: config.rules_for(a) for a in config.accounts})

    def _make(self, config: Config, secrets: ResolvedSecrets) -> tuple[Engine, Outbox]:
        """The engine and outbox of `config`, built without touching the running ones."""
        assert self.store is not None  # noqa: S101 - set by run()
        engine = Engine(
            config, secrets, self.store, dry_run=self.dry_run,
            on_request=self.metrics.on_request,
            wake_horizon=WAKE_HORIZON_INTERVALS * config.daemon.poll_interval,
            live_rules=self._live_rules,
        )  # fmt: skip
        daemon = config.daemon
        outbox = Outbox(
            self.store, engine.router, zone=daemon.zone, language=daemon.language,
            now=self.now, on_result=self.metrics.alert, calendars=engine.calendars,
        )  # fmt: skip
        return engine, outbox

    def _schedule(self) -> None:
        daemon, now = self.config.daemon, self.now()
        for name in self.scheduler.names():
            self.scheduler.remove(name)
        interval = daemon.poll_interval
        spacing = first_cycle_spacing(interval, len(self.config.accounts))
        phases = {}
        for index, account in enumerate(self.config.accounts):
            # Each account's first cycle comes `spacing` after the previous one's, and its
            # later cycles every interval after its first: the accounts stay spread over the
            # interval (never in lockstep), and hundreds of them all sync in the first one.
            first = phases[account.name] = now + index * spacing
            self.scheduler.every(
                f"sync:{account.name}", interval, self._job_cycle(account.name), first_at=first
            )
        if self.runner is not None:
            self.runner.set_phases(phases, interval)
        self.scheduler.every("deliver", DELIVERY_EVERY, self._deliver, now + DELIVERY_EVERY)
        self.scheduler.daily("digest", daemon.digest_at, daemon.zone, self._digest)

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        """Stop taking work, let running jobs finish (bounded), flush the outbox."""
        self.scheduler.pause()  # not shutdown yet: that would cancel the cycles in flight
        pending = [task for task in self._tasks if not task.done()]
        log.info("daemon_stopping", running=len(pending))
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_GRACE)
            if late:
                log.warning("stop_timeout", reason=f"{len(late)} cycles still running abandoned")
        self.scheduler.shutdown()
        if self.writes.error is not None:  # staged and queued alerts stay for the next start
            log.warning("flush_skipped", reason="the state database refuses writes")
            return
        if self.store is not None and self.engine is not None:
            # what cycles abandoned after the grace committed goes out now, not next start
            release(self.store, self.now(), self.engine.router.route_ids)
        if self.outbox is not None:
            try:
                await asyncio.wait_for(self.outbox.deliver_due(), timeout=FLUSH_GRACE)
            except TimeoutError:
                log.warning("flush_timeout", reason="undelivered alerts stay queued for later")

    # ---------------------------------------------------------------- jobs

    def _job_cycle(self, name: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            if self.runner is not None:
                self.runner.note_lag(name)
            await self._cycle(name)

        return job

    def _job_wake(self, name: str) -> Callable[[], Awaitable[None]]:
        return functools.partial(self._wake, name)

    def _job_settle(self, name: str) -> Callable[[], Awaitable[None]]:
        return functools.partial(self._settle, name)

    async def _cycle(self, name: str, *, extra: bool = False) -> None:
        """One full cycle of one account (`extra`: after a wake-up), then what follows."""
        if self._stopping.is_set() or self.runner is None:
            return
        task = asyncio.current_task()
        if task is not None:  # tracked, so SIGTERM can let it finish
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            result = await self.runner.cycle(name, extra=extra)
            if result is None:
                return  # the account left the config on a reload
            await self._pipeline(result)
        except StoreUnwritableError as err:
            await self.writes.refused(err, cycle=True)
            return
        self.writes.works()

    async def _wake(self, name: str) -> None:
        """Precise wake-up: re-read only the postings whose threshold is crossing now."""
        if self._stopping.is_set() or self.runner is None:
            return
        try:
            full_cycle = await self.runner.wake(name)
        except StoreUnwritableError as err:
            await self.writes.refused(err, cycle=False)
            return
        await self._deliver()
        if full_cycle:  # shares max_per_cycle with the regular cycle of this interval
            await self._cycle(name, extra=True)

    async def _settle(self, name: str) -> None:
        """Re-read the postings of the account's cancels whose outcome is unknown; deliver."""
        if self._stopping.is_set() or self.runner is None:
            return
        task = asyncio.current_task()
        if task is not None:  # tracked, so SIGTERM can let it finish
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await self.runner.settle(name)
        except StoreUnwritableError as err:
            await self.writes.refused(err, cycle=False)
            return
        await self._deliver()

    def _status_line(self) -> str:
        return "starting" if self.runner is None else self.runner.status_line()

    async def _deliver(self) -> None:
        if self.outbox is not None:
            try:
                await self.outbox.deliver_due()
            except StoreUnwritableError as err:
                await self.writes.refused(err, cycle=False)

    async def _digest(self) -> None:
        try:
            await self._pipeline()
        except StoreUnwritableError as err:
            await self.writes.refused(err, cycle=False)

    async def _pipeline(self, result: CycleResult | None = None) -> None:
        """The after-cycle pipeline of `once` (daemon.aftercycle); after a cycle (`result`)
        for that account alone (its digest and key expiry: with every account's after every
        cycle, hundreds of overlapping pipelines asked Ozon for the same keys again and again),
        with a heartbeat ping saying whether every account is fine; at digest_at for all."""
        if self.store is None or self.engine is None or self.outbox is None:
            return
        error = None if result is None or result.ok else str(result.error)
        heartbeat = self.heartbeat if result is not None else None
        jobs = self.engine.jobs
        if result is not None:
            jobs = [job for job in jobs if job.name == result.account]
        await after_cycle(
            self.store, jobs, self.config.daemon, self.outbox, self.now,
            heartbeat=heartbeat, ok=self.health.all_ok, error=error,
        )  # fmt: skip

    # ---------------------------------------------------------------- reload

    async def _reload(self) -> None:
        """SIGHUP: read, resolve and build the new configuration completely, then swap it in.
        Anything failing on the way (an invalid file, a missing secret, a build that breaks) is
        logged as `config_reload_failed` and leaves the running configuration untouched;
        systemd hears READY=1 after RELOADING=1 whatever happens."""
        self.notifier.reloading()
        try:
            await self._load_and_swap()
        except Exception as err:  # a failed reload must never end the daemon (it is logged)
            expected = isinstance(err, ConfigError)
            log.error(
                "config_reload_failed",
                reason=str(err) if expected else f"{type(err).__name__}: {err}",
                kept="the running config",
                exc_info=not expected,  # anything but a bad config is a bug: keep its traceback
            )
        finally:
            self.notifier.ready(self._status_line())

    async def _load_and_swap(self) -> None:
        config = load_config(self.config_path).shard_view(self.shard)
        secrets = resolve_secrets(config)
        register_secrets(secrets.all_values())  # before anything can log them
        engine, outbox = self._make(config, secrets)
        try:
            url = secrets.heartbeat_url
            heartbeat = Heartbeat(url.reveal()) if url is not None else None
        except BaseException:
            await engine.aclose()
            raise
        self._publish_rules(config)  # now, not after the cycles in flight: see AccountJob
        if config.database_path() != self.config.database_path():
            log.warning("database_change_ignored", reason="restart to use another database")
        if config.health.listen != self.config.health.listen:
            log.warning("health_listen_change_ignored", reason="restart to move /metrics")
        if config.board != self.config.board:
            log.warning("board_change_ignored", reason="restart to apply a changed [board]")
        assert self.runner is not None  # noqa: S101 - built by run()
        async with all_locks(self.runner.locks):  # no cycle runs while the wiring is swapped
            old_engine, old_heartbeat = self.engine, self.heartbeat
            self.config, self.secrets = config, secrets
            self.engine, self.outbox, self.heartbeat = engine, outbox, heartbeat
            self.runner.engine, self.runner.zone = engine, config.daemon.zone
            self.runner.add_accounts(account.name for account in config.accounts)
        if old_engine is not None:
            await old_engine.aclose()
        if old_heartbeat is not None:
            await old_heartbeat.aclose()
        names = [account.name for account in config.accounts]
        self.health.configure(config.daemon.poll_interval, names, self.now())
        self._schedule()
        log.info("config_reloaded", accounts=names)
