"""The accounts of one config, wired up: Ozon clients, routes, and a cycle for every account.

`Engine` is what `once` runs one time and what the `run` service runs on a schedule. It owns
one OzonClient per account and turns the config into the pure policy's rules and the cycle's
jobs. One account's cycle (`run_account_cycle`): settle cancels of unknown outcome, the sync
cycle, the cancel executor on its selections, then release the alerts all three staged (one
message per event). Between cycles the `run` service asks `next_settle_read` and runs
`settle` then: the re-reads of claims whose outcome is unknown (`run_account_settle`). It
never exits the process or maps errors to exit codes (that is the CLI's job), and it changes
nothing process-wide: `tune_gc` is for the entry points.

Imports config, cycle, cancel, the alerts path, ozon, store and notify; nothing imports it but
the CLI, the service, the after-cycle pipeline and the demo.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from daemon.alerts.batch import release
from daemon.calendars import build_calendars, quiet_schedule
from daemon.cancel import CancelExecutor
from daemon.cancel_outcome import CancelOutcomes
from daemon.cancel_plan import ShopPeriod
from daemon.config import Account, Config, ResolvedSecrets
from daemon.cycle import CycleResult, run_cycle
from daemon.job import AccountJob
from daemon.notify.routes import Route, Router
from daemon.ozon.client import OzonClient, RequestEvent
from daemon.ozon.errors import OzonAuthError
from daemon.policy_rules import Rules
from daemon.store import Store
from daemon.wakeup import run_focused

__all__ = [
    "Engine",
    "OnceOutcome",
    "make_client",
    "run_account_cycle",
    "run_account_settle",
    "run_account_wakeup",
    "tune_gc",
    "utc_now",
]

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
                level=route.level,
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


# Collect the youngest generation after this many new container objects instead of
# Python's 700: a big cycle allocates millions of short-lived ones (decoded postings, keys,
# alerts) that reference counting frees anyway, and 700 made the collector run thousands
# of times per 100,000-posting cycle (about 3 us per posting). Garbage in reference cycles
# waits a little longer; memory stays the same within a few hundred kB.
GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Process tuning for syncing, called once by the `run`, `once` and `board` entry points after
    start-up (never by a constructor: tests, `check` and the demo keep the interpreter's
    defaults): move everything alive now (modules, classes, the config) out of the garbage
    collector's sight, and collect the young generation less often (GEN0_THRESHOLD). Each full
    collection of a big sync otherwise walks these ~50,000 objects again (about 2 us per
    posting of a 100,000-posting cycle); they live as long as the process anyway."""
    gc.freeze()
    youngest, older, oldest = gc.get_threshold()
    gc.set_threshold(max(GEN0_THRESHOLD, youngest), older, oldest)


async def run_account_cycle(
    store: Store, job: AccountJob, now: Callable[[], datetime], shop: ShopPeriod | None = None
) -> CycleResult:
    """One full cycle of one account: settle cancels of unknown outcome, run the sync cycle,
    then the cancel executor on its selections (only after a complete listing), and release
    the alerts they staged. Never raises for Ozon errors; store errors propagate (what was
    committed stays, and the next cycle of the account releases its staged alerts)."""
    executor = CancelExecutor(store, job, now())
    await executor.resolve_unknown()
    result = await run_cycle(store, job, now)
    if result.listing_complete:
        error = None if result.error is None else str(result.error)
        await executor.execute(
            result.selected, watched=result.watched, cycle_error=error, now=now(),
            shop=shop,
        )  # fmt: skip
    executor.finish()
    release(store, now(), job.routes, job.name)
    return result


async def run_account_settle(store: Store, job: AccountJob, now: Callable[[], datetime]) -> None:
    """The settling re-reads of one account's cancel claims whose outcome is unknown (no
    listing, no new request), their alerts released at the end. Never raises for Ozon errors."""
    outcomes = CancelOutcomes(store, job, now())
    await outcomes.resolve_unknown()
    outcomes.finish()
    release(store, now(), job.routes, job.name)


async def run_account_wakeup(
    store: Store, job: AccountJob, now: Callable[[], datetime], numbers: Sequence[str]
) -> CycleResult:
    """A precise wake-up of one account for the postings `numbers` (see `run_focused`), its
    alerts released at its end."""
    result = await run_focused(store, job, now, numbers)
    release(store, now(), job.routes, job.name)
    return result


def _live(live: Mapping[str, Rules], name: str, rules: Rules) -> Callable[[], Rules]:
    """The account's rules as `live` holds them now (a reload updates it in place); `rules`
    with cancelling off once the account has left the config."""
    gone = dataclasses.replace(rules, cancel=dataclasses.replace(rules.cancel, enabled=False))
    return lambda: live.get(name, gone)


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
        live_rules: Mapping[str, Rules] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.now = now
        self.router = build_router(config, secrets)
        _, self.calendars = build_calendars(config.calendars, config.daemon.timezone)
        self.jobs: list[AccountJob] = []
        self._shops: dict[str, asyncio.Lock] = {}  # per Client-Id: see _account_cycle
        self._budgets: dict[str, ShopPeriod] = {}  # per Client-Id: its poll interval
        shops: dict[str, tuple[str, ...]] = {}
        for account in config.accounts:
            shops[account.client_id] = (*shops.get(account.client_id, ()), account.name)
        for account in config.accounts:
            rules = config.rules_for(account)
            live = None if live_rules is None else _live(live_rules, account.name, rules)
            client = make_client(
                config, account, secrets, transport=transport, on_request=on_request
            )
            self.jobs.append(
                AccountJob(
                    name=account.name,
                    client=client,
                    rules=rules,
                    warehouse_ids=tuple(account.warehouse_ids),
                    routes=self.router.route_ids,
                    dry_run=dry_run,
                    wake_horizon=wake_horizon,
                    live_rules=live,
                    shop=shops[account.client_id],
                    calendars=self.calendars,
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

    async def cycle(self, name: str, *, extra: bool = False) -> CycleResult:
        """One cycle of one account; `extra` for the full cycle that follows a precise
        wake-up: it shares `max_per_cycle` with the regular cycle of its poll interval."""
        return await self._account_cycle(self.job(name), extra=extra)

    async def focused(self, name: str, numbers: Sequence[str]) -> CycleResult:
        """A precise wake-up of one account for the postings `numbers` (see run_focused)."""
        return await run_account_wakeup(self.store, self.job(name), self.now, numbers)

    def next_settle_read(self, name: str) -> datetime | None:
        """When the account's next settling re-read of an unknown cancel outcome is due."""
        return CancelOutcomes(self.store, self.job(name), self.now()).next_read()

    async def settle(self, name: str) -> None:
        """The account's settling re-reads (`run_account_settle`), one shop at a time."""
        job = self.job(name)
        async with self._shops.setdefault(job.client.client_id, asyncio.Lock()):
            await run_account_settle(self.store, job, self.now)

    async def cycle_all(self) -> OnceOutcome:
        """One cycle of every account, concurrently; a failing account never stops the others."""
        self._budgets.clear()  # one poll interval: every shop's max_per_cycle starts again
        results = await asyncio.gather(*(self._account_cycle(job) for job in self.jobs))
        return OnceOutcome(results=tuple(results))

    async def _account_cycle(self, job: AccountJob, *, extra: bool = False) -> CycleResult:
        # One shop (Client-Id) at a time: entries splitting a shop by warehouse share its
        # cancel claims, which one executor settles and claims while the other waits, and its
        # max_per_cycle and share breaker, over one poll interval: a regular cycle more than
        # half an interval after the shop's period began starts a new one; an extra never does.
        shop = job.client.client_id
        async with self._shops.setdefault(shop, asyncio.Lock()):
            now, half = self.now(), self.config.daemon.poll_interval / 2
            period = self._budgets.get(shop) or ShopPeriod(now)
            if not extra and now - period.since >= half:
                period = ShopPeriod(now)
            self._budgets[shop] = period
            return await run_account_cycle(self.store, job, self.now, period)
