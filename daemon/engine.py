"""The accounts of one config, wired up: Ozon clients, routes, and a cycle for every account.

`Engine` is what `once` runs one time and what the `run` service runs on a schedule. It owns
one OzonClient per account and turns the config into the pure policy's rules and the cycle's
jobs. It never exits the process or maps errors to exit codes (that is the CLI's job).

Imports config, cycle, cancel, ozon, store and notify; nothing imports it but the CLI and the
service.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from daemon.calendars import build_calendars, quiet_schedule
from daemon.cancel import CancelExecutor
from daemon.config import Account, Config, ResolvedSecrets
from daemon.cycle import AccountJob, CycleResult, run_cycle, run_focused
from daemon.notify.routes import Route, Router
from daemon.ozon.client import OzonClient, RequestEvent
from daemon.ozon.errors import OzonAuthError
from daemon.store import Store

__all__ = ["Engine", "OnceOutcome", "make_client", "utc_now"]

log = structlog.get_logger(__name__)


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def build_router(config: Config, secrets: ResolvedSecrets) -> Router:
    """The notification routes of `config`, with their resolved URLs."""
    calendars, _ = build_calendars(config.calendars, config.daemon.timezone)
    return Router(
        [
            Route(
                index=index,
                url=secrets.route_urls[index].reveal(),
                events=frozenset(route.events),
                accounts=frozenset(route.accounts),
                quiet_hours=quiet_schedule(route.quiet_hours, calendars),
            )
            for index, route in enumerate(config.notify)
        ]
    )


def make_client(
    config: Config,
    account: Account,
    secrets: ResolvedSecrets,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on_request: Callable[[RequestEvent], object] | None = None,
) -> OzonClient:
    """The Ozon client of `account`, with the `[ozon]` settings of `config`."""
    return OzonClient(
        account.client_id,
        secrets.api_keys[account.name].reveal(),
        base_url=config.ozon.base_url,
        timeout=config.ozon.timeout.total_seconds(),
        retry_for=config.ozon.retry_for.total_seconds(),
        max_requests_per_second=config.ozon.max_requests_per_second,
        transport=transport,
        on_request=on_request,
    )


@dataclass(frozen=True)
class OnceOutcome:
    """The results of one cycle for every account, in config order."""

    results: tuple[CycleResult, ...]

    @property
    def ok(self) -> bool:
        """True when every account's cycle succeeded."""
        return all(result.ok for result in self.results)

    def first_auth_failure(self) -> CycleResult | None:
        """The first account whose key Ozon rejected, if any."""
        return next((r for r in self.results if isinstance(r.error, OzonAuthError)), None)

    def first_failure(self) -> CycleResult | None:
        """The first account whose cycle failed, if any."""
        return next((r for r in self.results if not r.ok), None)


_frozen = False
# Collect the youngest generation after this many new container objects instead of
# Python's 700: a big cycle allocates millions of short-lived ones (decoded postings, keys,
# alerts) that reference counting frees anyway, and 700 made the collector run thousands
# of times per 100,000-posting cycle (about 3 us per posting). Garbage in reference cycles
# waits a little longer; memory stays the same within a few hundred kB.
GEN0_THRESHOLD = 20_000


def _freeze_startup_objects() -> None:
    """Once per process, before the first engine: move everything alive now (modules, classes,
    the config) out of the garbage collector's sight, and collect the young generation less
    often (GEN0_THRESHOLD). Each full collection of a big sync otherwise walks these ~50,000
    objects again (about 2 us per posting of a 100,000-posting cycle); they live as long as
    the process anyway."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
        youngest, older, oldest = gc.get_threshold()
        gc.set_threshold(max(GEN0_THRESHOLD, youngest), older, oldest)


class Engine:
    """One config's accounts against one open store. Use `async with Engine(...) as engine`."""

    def __init__(
        self,
        config: Config,
        secrets: ResolvedSecrets,
        store: Store,
        *,
        dry_run: bool = False,
        now: Callable[[], datetime] = utc_now,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        wake_horizon: timedelta = timedelta(0),
    ) -> None:
        _freeze_startup_objects()
        self.config = config
        self.store = store
        self.now = now
        self.router = build_router(config, secrets)
        self.jobs: list[AccountJob] = []
        for account in config.accounts:
            client = make_client(
                config, account, secrets, transport=transport, on_request=on_request
            )
            self.jobs.append(
                AccountJob(
                    name=account.name,
                    client=client,
                    rules=config.rules_for(account),
                    warehouse_ids=tuple(account.warehouse_ids),
                    routes=self.router.route_ids,
                    dry_run=dry_run,
                    wake_horizon=wake_horizon,
                )
            )

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every account's HTTP connections."""
        await asyncio.gather(*(job.client.aclose() for job in self.jobs))

    def job(self, name: str) -> AccountJob:
        """The job of the account named `name`."""
        return next(job for job in self.jobs if job.name == name)

    async def cycle(self, name: str) -> CycleResult:
        """One cycle of one account."""
        return await self._account_cycle(self.job(name))

    async def focused(self, name: str, numbers: Sequence[str]) -> CycleResult:
        """A precise wake-up of one account for the postings `numbers` (see run_focused)."""
        return await run_focused(self.store, self.job(name), self.now, numbers)

    async def cycle_all(self) -> OnceOutcome:
        """One cycle of every account, concurrently; a failing account never stops the others."""
        results = await asyncio.gather(*(self._account_cycle(job) for job in self.jobs))
        return OnceOutcome(results=tuple(results))

    async def _account_cycle(self, job: AccountJob) -> CycleResult:
        """Settle cancels of unknown outcome, run the sync cycle, then the cancellation
        executor on its selections (only after a complete listing); the executor's alerts are
        queued once at the end (one message per event per cycle)."""
        executor = CancelExecutor(self.store, job, self.now())
        await executor.resolve_unknown()
        result = await run_cycle(self.store, job, self.now)
        if result.listing_complete:
            await executor.execute(result, self.now())
        executor.flush()
        return result
