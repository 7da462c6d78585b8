"""`ozon-sync run`: the long-running daemon under systemd.

    start: open the store (writer lock), build the engine, start the scheduler,
           READY=1, watchdog; a first cycle for every account, 2 s apart (closer with so many
           accounts that they would not all start within one poll interval)
    every poll_interval per account after its first: a full cycle (accounts stay spread over
           the interval, never in lockstep; one starting over 10 s late logs `cycle_late`)
    after each cycle: STATUS=, metrics, a one-shot wake-up at the next moment a posting crosses
           a threshold, then the after-cycle pipeline `once` runs too (daemon.aftercycle:
           digest, key expiry, pruning, delivery, heartbeat)
    at digest_at: the pipeline again (without a heartbeat), so the digest is on time
    every 30 s: delivery (retries, quiet hours ending)
    SIGHUP: reload the config (an invalid one is logged and the old one kept)
    a write refused by the database (disk full, read-only): one `database_unwritable` message
           straight to the routes (the outbox cannot be written), one error line per failed
           cycle, no watchdog pings while it lasts (systemd restarts a daemon that stays so);
           after UNWRITABLE_CYCLES failed cycles in a row, a clean stop and exit 74
    SIGTERM/SIGINT: stop taking work, let cycles in flight finish (bounded), release the
           alerts of cycles abandoned after the grace, flush the outbox, close the store, exit 0
    [board] listen: the packer's board (daemon.web) served by uvicorn as a task of this loop

Ozon errors never end the process: cycles record them and alert `api_error`. Imports the
engine, the after-cycle pipeline, the alerts path, cycle, notify, schedule, sdnotify, health,
metrics, config, store and web.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from daemon.aftercycle import after_cycle
from daemon.alerts import Event
from daemon.alerts.batch import release
from daemon.config import Config, ConfigError, ResolvedSecrets, load_config, resolve_secrets
from daemon.cycle import CycleResult
from daemon.engine import Engine, utc_now
from daemon.health import (
    NOT_LOOPBACK,
    Health,
    HealthServer,
    Heartbeat,
    ListenError,
    is_loopback,
    split_listen,
)
from daemon.logs import register_secrets
from daemon.metrics import Metrics
from daemon.notify.outbox import Outbox
from daemon.notify.render import render_database_unwritable
from daemon.policy_rules import Rules
from daemon.schedule import Scheduler
from daemon.sdnotify import CycleGuard, SdNotifier, Watchdog
from daemon.shards import Shard
from daemon.store import Store, StoreUnwritableError
from daemon.web.server import BoardServer, board_server, board_token

__all__ = ["Service"]

log = structlog.get_logger(__name__)

CYCLE_BOUND = timedelta(minutes=30)  # a cycle running longer than this is wedged
STOP_GRACE = 25.0  # seconds to let cycles in flight finish on SIGTERM
FLUSH_GRACE = 10.0  # seconds to deliver what is queued on SIGTERM
DELIVERY_EVERY = timedelta(seconds=30)  # retries and quiet-hours releases
FIRST_CYCLE_SPREAD = timedelta(seconds=2)  # between the first cycles of two accounts, at most
LATE_AFTER = timedelta(seconds=10)  # a scheduled cycle starting later than this is logged
MIN_WAKE_DELAY = timedelta(milliseconds=10)
WAKE_HORIZON_INTERVALS = 2  # a cycle lists the events due within two poll intervals
STATUS_ACCOUNTS = 5  # more accounts than this: STATUS= sums them up
UNWRITABLE_CYCLES = 3  # failed cycles in a row on a database refusing writes, then exit 74


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
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._last: dict[str, CycleResult] = {}
        self._overdue: dict[str, int] = {}
        self._agenda: dict[str, list[tuple[datetime, str]]] = {}
        self._phase: dict[str, datetime] = {}  # each account's first cycle: its schedule
        self._live_rules: dict[str, Rules] = {}  # each account's rules, as configured now
        self._publish_rules(config)
        names = [account.name for account in config.accounts]
        self.metrics = Metrics(names)
        self.health = Health(config.daemon.poll_interval, names, metrics=self.metrics,
                             started_at=now())  # fmt: skip
        self.health_server: HealthServer | None = None
        self.heartbeat: Heartbeat | None = None
        self.board: BoardServer | None = None
        self._unwritable: StoreUnwritableError | None = None  # the streak's latest error
        self._failed_cycles = 0  # cycles in a row that the database refused to record

    # ---------------------------------------------------------------- lifecycle

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns 0. Store errors at start propagate (73/74)."""
        self.store = Store.open(self.config.database_path(), mode="writer")
        try:
            self._build()
            self._start_health()
            await self._start_board()
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
            if self.board is not None:
                await self.board.stop()
            if self.health_server is not None:
                self.health_server.stop()
            if self.heartbeat is not None:
                await self.heartbeat.aclose()
            if self.engine is not None:
                await self.engine.aclose()
            self.store.close()
            self.notifier.close()
        log.info("daemon_stopped")
        if self._failed_cycles >= UNWRITABLE_CYCLES and self._unwritable is not None:
            raise self._unwritable  # the CLI's one line and exit 74
        return 0

    def _healthy(self) -> bool:
        """What the watchdog asks: no cycle overran, and the database takes writes."""
        return self._unwritable is None and self.guard.healthy()

    def _unhealthy_reason(self) -> str:
        if self._unwritable is not None:
            return "the state database refuses writes; systemd will restart the daemon"
        return "a cycle has run past its bound; systemd will restart the daemon"

    def _build(self) -> None:
        self.engine, self.outbox = self._make(self.config, self.secrets)
        for account in self.config.accounts:
            self._locks.setdefault(account.name, asyncio.Lock())

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
            now=self.now, on_result=self.metrics.alert,
        )  # fmt: skip
        return engine, outbox

    def _start_health(self) -> None:
        """Serve /metrics and /healthz when `[health] listen` is set; prepare the heartbeat."""
        listen = self.config.health.listen
        if listen and self.health_server is None:
            host, port = split_listen(listen)
            if not is_loopback(host):
                log.warning("health_listen_not_loopback", listen=listen, reason=NOT_LOOPBACK)
            try:
                server = HealthServer(host, port, self.health, self.metrics).start()
            except ListenError as err:  # a config the machine cannot serve: 78, no restart loop
                raise ConfigError(self.config.path, [f"health.listen: {err}"]) from err
            self.health_server = server
            log.info("health_listening", url=server.url)
        url = self.secrets.heartbeat_url
        self.heartbeat = Heartbeat(url.reveal()) if url is not None else None

    async def _start_board(self) -> None:
        """Serve the packer's board when `[board] listen` is set (restart to change it)."""
        if self.config.board.listen is None:
            return
        assert self.store is not None  # noqa: S101 - set by run()
        token = board_token(self.config)
        if token is not None:
            register_secrets([token.reveal()])
        self.board = board_server(self.config, self.store, token, now=self.now)
        await self.board.start()

    def _schedule(self) -> None:
        daemon, now = self.config.daemon, self.now()
        for name in self.scheduler.names():
            self.scheduler.remove(name)
        interval = daemon.poll_interval
        spacing = first_cycle_spacing(interval, len(self.config.accounts))
        self._phase.clear()
        for index, account in enumerate(self.config.accounts):
            # Each account's first cycle comes `spacing` after the previous one's, and its
            # later cycles every interval after its first: the accounts stay spread over the
            # interval (never in lockstep), and hundreds of them all sync in the first one.
            first = now + index * spacing
            self._phase[account.name] = first
            self.scheduler.every(
                f"sync:{account.name}", interval, self._job_cycle(account.name), first_at=first
            )
        self.scheduler.every("deliver", DELIVERY_EVERY, self._deliver, now + DELIVERY_EVERY)
        self.scheduler.daily("digest", daemon.digest_at, daemon.zone, self._digest)

    def _note_lag(self, name: str) -> None:
        """Warn when a scheduled cycle starts more than LATE_AFTER behind its time (a loop
        too busy for its accounts: time to shard, docs/scale.md)."""
        phase = self._phase.get(name)
        if phase is None:
            return
        now, interval = self.now(), self.config.daemon.poll_interval
        due = phase + ((now - phase) // interval) * interval if now >= phase else phase
        lag = (now - due).total_seconds()
        late = lag > LATE_AFTER.total_seconds()
        (log.warning if late else log.debug)(
            "cycle_late" if late else "cycle_due", account=name, lag=round(lag, 3)
        )

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
        if self._unwritable is not None:  # staged and queued alerts stay for the next start
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
            self._note_lag(name)
            await self._cycle(name)

        return job

    async def _cycle(self, name: str, *, extra: bool = False) -> None:
        """One full cycle of one account (`extra`: after a wake-up), then what follows."""
        if self._stopping.is_set() or self.engine is None:
            return
        task = asyncio.current_task()
        if task is not None:  # tracked, so SIGTERM can let it finish
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            result = await self._locked_cycle(name, extra=extra)
            if result is None:
                return  # the account left the config on a reload
            await self._pipeline(result)
        except StoreUnwritableError as err:
            await self._store_refused(err, cycle=True)
            return
        self._store_works()

    async def _locked_cycle(self, name: str, *, extra: bool = False) -> CycleResult | None:
        assert self.engine is not None  # noqa: S101 - checked by _cycle
        async with self._locks.setdefault(name, asyncio.Lock()):
            engine = self.engine
            if name not in {job.name for job in engine.jobs}:
                return None
            with self.guard.running(name):
                result = await engine.cycle(name, extra=extra)
            self._last[name] = result
            self._after_cycle(result)
        return result

    async def _store_refused(self, err: StoreUnwritableError, *, cycle: bool) -> None:
        """A job's write was refused. The first time in a streak: alert every route directly
        and stop the watchdog pings; each failed cycle: one error line; the last: stop."""
        first = self._unwritable is None
        self._unwritable = err
        self._failed_cycles += 1 if cycle else 0
        if cycle or first:
            log.error(
                "database_unwritable",
                reason=str(err),
                failed_cycles=self._failed_cycles,
                exit_after=UNWRITABLE_CYCLES,
                job="cycle" if cycle else "other",
            )
        else:
            log.debug("database_unwritable", reason=str(err))
        self.notifier.status(f"database not writable: {err}")
        if first and self.outbox is not None:
            message = render_database_unwritable(
                str(err), UNWRITABLE_CYCLES, self.config.daemon.language
            )
            await self.outbox.send_now(Event.DATABASE_UNWRITABLE, message)
        if self._failed_cycles >= UNWRITABLE_CYCLES:
            log.error("database_unwritable_exit", failed_cycles=self._failed_cycles, exit_code=74)
            self._stopping.set()

    def _store_works(self) -> None:
        """A cycle was recorded: a streak of refused writes, if any, is over."""
        if self._unwritable is not None:
            log.info("database_writable_again", failed_cycles=self._failed_cycles)
            self._unwritable, self._failed_cycles = None, 0

    def _after_cycle(self, result: CycleResult) -> None:
        name = result.account
        if result.listing_complete:  # a complete listing knows every posting's next event
            self._agenda[name] = sorted(result.agenda)
        else:  # keep what we knew, add what this partial listing saw
            self._agenda[name] = sorted(set(self._agenda.get(name, [])) | set(result.agenda))
        self._schedule_wake(name)
        assert self.store is not None  # noqa: S101 - set by run()
        now = self.now()
        self.health.cycle_finished(name, result.ok, now, result.duration)
        counts = self.store.digest_counts(name, now)
        self.metrics.set_postings(name, counts.watched, counts.overdue)
        self._overdue[name] = counts.overdue
        self.notifier.status(self._status_line())

    def _schedule_wake(self, name: str) -> None:
        """A one-shot evaluation at the account's next threshold crossing (none if none)."""
        agenda = self._agenda.get(name)
        if not agenda or self._stopping.is_set():
            self.scheduler.remove(f"wake:{name}")
            return
        when = max(agenda[0][0], self.now() + MIN_WAKE_DELAY)
        self.scheduler.once_at(f"wake:{name}", when, self._job_wake(name))

    def _job_wake(self, name: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await self._wake(name)

        return job

    async def _wake(self, name: str) -> None:
        """Precise wake-up: re-read only the postings whose threshold is crossing now."""
        if self._stopping.is_set() or self.engine is None:
            return
        try:
            full_cycle = await self._locked_wake(name)
        except StoreUnwritableError as err:
            await self._store_refused(err, cycle=False)
            return
        await self._deliver()
        if full_cycle:  # shares max_per_cycle with the regular cycle of this interval
            await self._cycle(name, extra=True)

    async def _locked_wake(self, name: str) -> bool:
        """Re-read the due postings; True when a full cycle should follow."""
        assert self.engine is not None  # noqa: S101 - checked by _wake
        full_cycle = False
        async with self._locks.setdefault(name, asyncio.Lock()):
            engine = self.engine
            if name not in {job.name for job in engine.jobs}:
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
            self._schedule_wake(name)
        return full_cycle

    def _status_line(self) -> str:
        return status_line(self._last, self._overdue, self.config.daemon.zone)

    async def _deliver(self) -> None:
        if self.outbox is not None:
            try:
                await self.outbox.deliver_due()
            except StoreUnwritableError as err:
                await self._store_refused(err, cycle=False)

    async def _digest(self) -> None:
        try:
            await self._pipeline()
        except StoreUnwritableError as err:
            await self._store_refused(err, cycle=False)

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
        async with _all_locks(self._locks):  # no cycle runs while the wiring is swapped
            old_engine, old_heartbeat = self.engine, self.heartbeat
            self.config, self.secrets = config, secrets
            self.engine, self.outbox, self.heartbeat = engine, outbox, heartbeat
            for account in config.accounts:
                self._locks.setdefault(account.name, asyncio.Lock())
        if old_engine is not None:
            await old_engine.aclose()
        if old_heartbeat is not None:
            await old_heartbeat.aclose()
        names = [account.name for account in config.accounts]
        self.health.configure(config.daemon.poll_interval, names, self.now())
        self._schedule()
        log.info("config_reloaded", accounts=names)


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


def first_cycle_spacing(interval: timedelta, accounts: int) -> timedelta:
    """Time between the first cycles of two accounts: FIRST_CYCLE_SPREAD, or less with so many
    accounts that they would not all start within one poll interval."""
    return min(FIRST_CYCLE_SPREAD, interval / max(accounts, 1))


class _all_locks:
    """Hold every account lock: no cycle runs while the engine is swapped."""

    def __init__(self, locks: dict[str, asyncio.Lock]) -> None:
        self.locks = list(locks.values())

    async def __aenter__(self) -> None:
        for lock in self.locks:
            await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        for lock in self.locks:
            lock.release()
