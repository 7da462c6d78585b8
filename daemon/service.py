"""`ozon-sync run`: the long-running daemon under systemd.

    start: open the store (writer lock), build the engine, start the scheduler,
           READY=1, watchdog; a first cycle for every account at once (spread by a few seconds)
    every poll_interval per account: a full cycle (accounts offset, never in lockstep)
    after each cycle: deliver the outbox, queue a due digest, STATUS=, heartbeat, metrics,
           and a one-shot wake-up at the next moment a posting crosses a threshold
    daily: digest at digest_at, key-expiry check (/v1/roles), pruning
    SIGHUP: reload the config (an invalid one is logged and the old one kept)
    SIGTERM/SIGINT: stop taking work, let cycles in flight finish (bounded), flush the outbox,
           close the store, exit 0
    [board] listen: the packer's board (daemon.web) served by uvicorn as a task of this loop

Ozon errors never end the process: cycles record them and alert `api_error`. Imports the
engine, cycle, digest, notify, schedule, sdnotify, health, metrics, config, store and web.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from daemon.config import Config, ConfigError, ResolvedSecrets, load_config, resolve_secrets
from daemon.cycle import CycleResult
from daemon.digest import queue_due_digests
from daemon.engine import Engine, utc_now
from daemon.health import Health, HealthServer, Heartbeat, split_listen
from daemon.keycheck import check_key_expiry
from daemon.logs import register_secrets
from daemon.metrics import Metrics
from daemon.notify.outbox import Outbox
from daemon.schedule import Scheduler
from daemon.sdnotify import CycleGuard, SdNotifier, Watchdog
from daemon.store import Store
from daemon.upkeep import prune_if_due
from daemon.web.server import BoardServer, board_server, board_token

__all__ = ["Service"]

log = structlog.get_logger(__name__)

CYCLE_BOUND = timedelta(minutes=30)  # a cycle running longer than this is wedged
STOP_GRACE = 25.0  # seconds to let cycles in flight finish on SIGTERM
FLUSH_GRACE = 10.0  # seconds to deliver what is queued on SIGTERM
DELIVERY_EVERY = timedelta(seconds=30)  # retries and quiet-hours releases
FIRST_CYCLE_SPREAD = 2.0  # seconds between the first cycles of two accounts
MIN_WAKE_DELAY = timedelta(milliseconds=10)
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
    ) -> None:
        self.config_path = config_path
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
        names = [account.name for account in config.accounts]
        self.metrics = Metrics(names)
        self.health = Health(config.daemon.poll_interval, names, metrics=self.metrics,
                             started_at=now())  # fmt: skip
        self.health_server: HealthServer | None = None
        self.heartbeat: Heartbeat | None = None
        self.board: BoardServer | None = None

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
            watchdog = Watchdog(self.notifier, healthy=self.guard.healthy)
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
        return 0

    def _build(self) -> None:
        assert self.store is not None  # noqa: S101 - set by run()
        self.engine = Engine(
            self.config, self.secrets, self.store, dry_run=self.dry_run,
            on_request=self.metrics.on_request,
            wake_horizon=WAKE_HORIZON_INTERVALS * self.config.daemon.poll_interval,
        )  # fmt: skip
        daemon = self.config.daemon
        self.outbox = Outbox(
            self.store, self.engine.router, zone=daemon.zone, language=daemon.language,
            now=self.now, on_result=self.metrics.alert,
        )  # fmt: skip
        for account in self.config.accounts:
            self._locks.setdefault(account.name, asyncio.Lock())

    def _start_health(self) -> None:
        """Serve /metrics and /healthz when `[health] listen` is set; prepare the heartbeat."""
        listen = self.config.health.listen
        if listen and self.health_server is None:
            host, port = split_listen(listen)
            self.health_server = HealthServer(host, port, self.health, self.metrics).start()
            log.info("health_listening", url=self.health_server.url)
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
        count = len(self.config.accounts)
        interval = daemon.poll_interval
        for index, account in enumerate(self.config.accounts):
            # The first cycles run at once (a few seconds apart); later ones are spread over the
            # interval so accounts never poll in lockstep.
            first = now + timedelta(seconds=index * FIRST_CYCLE_SPREAD)
            self.scheduler.once_at(f"first:{account.name}", first, self._job_cycle(account.name))
            offset = interval * index / count
            self.scheduler.every(
                f"sync:{account.name}", interval, self._job_cycle(account.name),
                first_at=now + interval + offset,
            )  # fmt: skip
        self.scheduler.every("deliver", DELIVERY_EVERY, self._deliver, now + DELIVERY_EVERY)
        self.scheduler.daily("digest", daemon.digest_at, daemon.zone, self._digest)
        self.scheduler.daily("key-expiry", daemon.digest_at, daemon.zone, self._key_expiry)
        self.scheduler.once_at("key-expiry-at-start", now + timedelta(minutes=1), self._key_expiry)
        self.scheduler.every("prune", timedelta(hours=1), self._prune, now + timedelta(minutes=10))

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
        if self.outbox is not None:
            try:
                await asyncio.wait_for(self.outbox.deliver_due(), timeout=FLUSH_GRACE)
            except TimeoutError:
                log.warning("flush_timeout", reason="undelivered alerts stay queued for later")

    # ---------------------------------------------------------------- jobs

    def _job_cycle(self, name: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await self._cycle(name)

        return job

    async def _cycle(self, name: str) -> None:
        """One full cycle of one account, then everything that follows a cycle."""
        if self._stopping.is_set() or self.engine is None:
            return
        task = asyncio.current_task()
        if task is not None:  # tracked, so SIGTERM can let it finish
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            engine = self.engine
            if name not in {job.name for job in engine.jobs}:
                return  # the account left the config on a reload
            with self.guard.running(name):
                result = await engine.cycle(name)
            self._last[name] = result
            self._after_cycle(result)
        await self._deliver()
        if self.heartbeat is not None:
            await self.heartbeat.ping(self.health.all_ok, None if result.ok else str(result.error))

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
        daemon = self.config.daemon
        if self.engine is not None:
            queue_due_digests(self.store, self.engine.jobs, daemon.zone, daemon.digest_at, now)
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
        full_cycle = False
        async with self._locks.setdefault(name, asyncio.Lock()):
            engine = self.engine
            if name not in {job.name for job in engine.jobs}:
                return
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
        await self._deliver()
        if full_cycle:
            await self._cycle(name)

    def _status_line(self) -> str:
        parts = []
        for name, result in sorted(self._last.items()):
            state = "ok" if result.ok else "FAILING"
            at = result.started.astimezone(self.config.daemon.zone)
            overdue = self._overdue.get(name, 0)
            parts.append(
                f"{name}: {state}, last sync {at:%H:%M:%S}, {result.watched} watched, "
                f"{overdue} overdue"
            )
        return "; ".join(parts) or "starting"

    async def _deliver(self) -> None:
        if self.outbox is not None:
            await self.outbox.deliver_due()

    async def _digest(self) -> None:
        assert self.store is not None  # noqa: S101 - set by run()
        if self.engine is not None:
            daemon = self.config.daemon
            queue_due_digests(self.store, self.engine.jobs, daemon.zone, daemon.digest_at,
                              self.now())  # fmt: skip
            await self._deliver()

    async def _key_expiry(self) -> None:
        """Daily: `key_expiring` when a key expires within 7 days (see daemon.keycheck)."""
        assert self.store is not None  # noqa: S101 - set by run()
        if self.engine is not None:
            await check_key_expiry(self.store, self.engine.jobs, self.config.daemon.zone,
                                   self.now())  # fmt: skip
            await self._deliver()

    async def _prune(self) -> None:
        assert self.store is not None  # noqa: S101 - set by run()
        daemon = self.config.daemon
        await prune_if_due(self.store, daemon.keep_history, daemon.zone, self.now())

    # ---------------------------------------------------------------- reload

    async def _reload(self) -> None:
        """SIGHUP: load the config again; keep the old one when the new one is invalid."""
        self.notifier.reloading()
        try:
            config = load_config(self.config_path)
            secrets = resolve_secrets(config)
        except ConfigError as err:
            log.error("config_reload_failed", reason=str(err), kept="the running config")
            self.notifier.ready(self._status_line())
            return
        if config.database_path() != self.config.database_path():
            log.warning("database_change_ignored", reason="restart to use another database")
        register_secrets(secrets.all_values())
        if config.health.listen != self.config.health.listen:
            log.warning("health_listen_change_ignored", reason="restart to move /metrics")
        if config.board != self.config.board:
            log.warning("board_change_ignored", reason="restart to apply a changed [board]")
        async with _all_locks(self._locks):
            old = self.engine
            self.config, self.secrets = config, secrets
            self._build()
            if old is not None:
                await old.aclose()
        names = [account.name for account in config.accounts]
        self.health.configure(config.daemon.poll_interval, names, self.now())
        if self.heartbeat is not None:
            await self.heartbeat.aclose()
        url = secrets.heartbeat_url
        self.heartbeat = Heartbeat(url.reveal()) if url is not None else None
        self._schedule()
        self.notifier.ready(self._status_line())
        log.info("config_reloaded", accounts=[account.name for account in config.accounts])


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
