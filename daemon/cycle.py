"""One sync cycle for one account: fetch -> store -> policy -> alerts in the outbox.

    list unfulfilled postings (wide cutoff window, watched statuses), page by page:
        upsert the page (worker thread) -> decide reminders / overdue / deadline moves
    if the listing completed:
        list postings whose status changed since the last success (with overlap)
        re-read watched postings that vanished without explanation (bounded, `get`)
        mark the ones that left the watch as departed -> cancelled_elsewhere decisions
    else: nothing is inferred about absent postings and the cycle counts as failed
    would_cancel over the whole listing (share breaker and max_per_cycle use the full count),
        in a dry run only; otherwise the selections go to the executor (daemon.cancel)
    record ledger keys and queue one alert per event; sync state -> api_error / recovered

Never raises for Ozon trouble: the result says whether the account's cycle succeeded and why
not. Imports ozon, store, policy and models; never config, the CLI or the scheduler.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from daemon import policy
from daemon.models import Posting
from daemon.ozon.client import OzonClient
from daemon.ozon.errors import OzonAPIError, OzonAuthError, OzonError, OzonProtocolError
from daemon.ozon.parse import PostingProblem
from daemon.policy import Alert, CancelSelection, Departed, Rules, Watched
from daemon.policy_keys import LedgerKey, rfc3339
from daemon.store import Store

__all__ = [
    "URGENT_EVENTS",
    "AccountJob",
    "CycleResult",
    "enqueue_account_alert",
    "posting_payload",
    "queue_alert",
    "run_cycle",
    "run_focused",
]

log = structlog.get_logger(__name__)

LOOK_BACK = timedelta(days=90)  # overdue postings stay visible this long
LOOK_AHEAD = timedelta(days=180)  # Ozon caps the window at one year
CHANGED_OVERLAP = timedelta(minutes=10)  # re-list status changes this far before the last sync
MAX_GETS_PER_CYCLE = 50  # vanished postings re-read one by one per cycle, at most
PAYLOAD_POSTINGS = 50  # postings described in one alert's payload (the message lists 20)
RECORD_CHUNK = 10_000  # ledger keys per store call when recording many
# Listed postings are cached and decided this many at a time (up to ten pages): one store
# transaction, one ledger query and one policy pass per batch costs a third less than per page.
BATCH_POSTINGS = 1000
FOCUS_GETS = 10  # a wake-up re-reads up to this many postings one by one, more by one listing
FOCUS_MARGIN = timedelta(minutes=1)  # around the deadlines of a wake-up's narrow listing
URGENT_EVENTS = frozenset({"overdue", "cancelled", "cancel_failed", "api_error"})

RouteResolver = Callable[[str, str], Sequence[str]]


def _no_routes(_account: str, _event: str) -> Sequence[str]:
    return ()


@dataclass(frozen=True)
class AccountJob:
    """Everything one account's cycle needs. `routes(account, event)` names the route ids an
    alert goes to; `dry_run` forces dry run whatever the rules say."""

    name: str
    client: OzonClient
    rules: Rules
    warehouse_ids: tuple[int, ...] = ()
    routes: RouteResolver = _no_routes
    dry_run: bool = False
    wake_horizon: timedelta = timedelta(0)  # collect the agenda of events due this soon


@dataclass
class CycleResult:
    """What one account's cycle did. `error` is set when the cycle failed (the listing did not
    complete or Ozon refused); `selected` holds the cancel selections for the executor (empty
    unless the listing completed); `next_wakeup` is when the policy next has something to do;
    `agenda` lists (moment, posting number) of the postings with an event due within the job's
    `wake_horizon`, for precise wake-ups."""

    account: str
    started: datetime
    error: OzonError | None = None
    listing_complete: bool = False
    listed: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    departed: int = 0
    reread: int = 0
    unreadable: int = 0
    watched: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    selected: tuple[CancelSelection, ...] = ()
    next_wakeup: datetime | None = None
    agenda: list[tuple[datetime, str]] = field(default_factory=list)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the account's cycle succeeded."""
        return self.error is None


class _EventAlerts:
    """The alerts of one event in one cycle, kept small for big accounts: every alert's order
    and ledger key, but the alert itself (with its whole posting and reason) only for the first
    PAYLOAD_POSTINGS in order, the ones a message describes. A first sync of a big account
    alerts most of its postings; holding them all until the end would grow with the account."""

    def __init__(self) -> None:
        self.entries: list[tuple[datetime, str, str]] = []  # deadline, number, step
        self.kept: list[Alert] = []  # with their postings and reasons

    def add(self, alert: Alert) -> None:
        posting = alert.posting
        self.entries.append((posting.shipment_date, posting.posting_number, alert.step))
        self.kept.append(alert)
        if len(self.kept) >= 4 * PAYLOAD_POSTINGS:
            self.kept = heapq.nsmallest(PAYLOAD_POSTINGS, self.kept, key=_alert_order)


def _alert_order(alert: Alert) -> tuple[datetime, str]:
    return alert.posting.shipment_date, alert.posting.posting_number


def _record_keys(
    store: Store, account: str, keys: Sequence[tuple[str, str, str]], now: datetime
) -> set[tuple[str, str, str]]:
    """Record ledger `keys` in one transaction, a chunk at a time (a first sync records one or
    more per posting); returns those that were new."""
    new: set[tuple[str, str, str]] = set()
    keys = sorted(keys)  # in ledger order: in-order B-tree inserts cost a third of random ones
    with store.transaction():
        for start in range(0, len(keys), RECORD_CHUNK):
            new.update(store.record_alert_keys(account, keys[start : start + RECORD_CHUNK], now))
    return new


class _Cycle:
    """The state of one running cycle (one account, one `now`)."""

    def __init__(self, store: Store, job: AccountJob, now: datetime) -> None:
        self.store = store
        self.job = job
        self.now = now
        self.result = CycleResult(account=job.name, started=now)
        self.holds = store.holds(now)
        self.seen: set[str] = set()
        self.unreadable: set[str] = set()  # listed, but in a shape that cannot be used
        self.alerts: dict[str, _EventAlerts] = defaultdict(_EventAlerts)
        self.marks: list[tuple[str, str, str]] = []  # plain tuples: the collector skips them
        self.selected: list[CancelSelection] = []
        self.pending: list[Posting] = []  # listed, not yet cached and decided
        self.inflight: asyncio.Task[None] | None = None  # the batch being cached and decided
        self.moved: dict[str, tuple[datetime, datetime]] = {}  # see run()

    async def run(self) -> CycleResult:
        job, store = self.job, self.store
        state = store.get_sync_state(job.name)
        if state.last_success_at is not None:  # moves a cycle that did not finish cached
            self.moved = store.deadline_moves(job.name, state.last_success_at, self.now)
        watched_before = await asyncio.to_thread(store.watched_numbers, job.name)
        listing = job.client.list_unfulfilled(
            cutoff_from=self.now - LOOK_BACK,
            cutoff_to=self.now + LOOK_AHEAD,
            statuses=sorted(job.rules.watch_statuses),
            warehouse_ids=job.warehouse_ids,
        )
        try:
            try:
                async for page in listing:
                    self._take(page.postings)
                    if len(self.pending) >= BATCH_POSTINGS:
                        await self._flush()
                    await self._report_unreadable(page.problems)
            except OzonError as err:
                self.result.error = err
            await self._flush()  # what was listed before an error is cached and decided too
            await self._settle()
        finally:
            self._abandon()  # only left in flight by another error or a cancellation
        self.result.listing_complete = listing.completed
        if listing.completed:
            try:
                await self._departures(watched_before, state.last_success_at)
            except OzonError as err:
                self.result.error = err
            self._would_cancel()
        await self._record_alerts()
        await self._record_sync_state()
        return self.result

    async def _page(self, postings: Sequence[Posting]) -> None:
        """Cache some postings now and decide their deadline events."""
        self._take(postings)
        await self._flush()
        await self._settle()

    def _take(self, postings: Sequence[Posting]) -> None:
        """Queue listed postings (each posting once per cycle) for `_flush`."""
        postings = [p for p in postings if p.posting_number not in self.seen]
        self.seen.update(p.posting_number for p in postings)
        self.result.listed += len(postings)
        self.pending.extend(postings)

    async def _flush(self) -> None:
        """Hand the queued postings to `_cache_and_decide` in the background: the listing asks
        for its next page meanwhile, so the store's work does not add to a sync's wall time.
        One batch at a time, in listing order (this waits for the previous one)."""
        postings, self.pending = self.pending, []
        await self._settle()
        if postings:
            self.inflight = asyncio.create_task(self._cache_and_decide(postings))

    async def _settle(self) -> None:
        """Wait for the batch in flight, if any; its errors are raised here."""
        task, self.inflight = self.inflight, None
        if task is not None:
            await task

    def _abandon(self) -> None:
        """After an error or a cancellation: stop waiting for the batch in flight."""
        task, self.inflight = self.inflight, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled():
            task.exception()  # seen: the error that stopped the cycle is the one reported

    async def _cache_and_decide(self, postings: Sequence[Posting]) -> None:
        """Cache postings (one store transaction) and decide their events."""
        job, result = self.job, self.result
        upsert = await asyncio.to_thread(self.store.upsert_postings, job.name, postings, self.now)
        result.new += len(upsert.new)
        result.changed += len(upsert.changed)
        result.unchanged += upsert.unchanged
        previous = {c.posting.posting_number: c.previous_shipment_date for c in upsert.changed}
        fresh = {p.posting_number for p in upsert.new}
        watched = [self._watched(p, previous, fresh) for p in postings]
        self._decide(watched, ())
        await self._record_marks()

    async def _record_marks(self) -> None:
        """Record the silent ledger keys decided so far (steps a later alert covers) now, not
        at the end of the cycle: a first sync marks about one per posting. They make no alert,
        so they need no outbox row beside them; a crash after this loses nothing."""
        marks, self.marks = self.marks, []
        if marks:
            await asyncio.to_thread(_record_keys, self.store, self.job.name, marks, self.now)

    def _watched(self, posting: Posting, previous: dict[str, datetime], fresh: set[str]) -> Watched:
        number = posting.posting_number
        before = None if number in fresh else previous.get(number, posting.shipment_date)
        moved = self.moved.get(number)
        if moved is not None and before == moved[1] == posting.shipment_date:
            # cached as moved by a cycle that ended before its alerts were recorded: the
            # policy reports the move now, unless the ledger shows it was reported
            before = moved[0]
        return Watched(
            posting=posting,
            previous_shipment_date=before,
            held=number in self.holds,
            held_until=self.holds.get(number),
        )

    def _decide(self, watched: Sequence[Watched], departed: Sequence[Departed]) -> None:
        numbers = [w.posting.posting_number for w in watched] + [
            d.posting.posting_number for d in departed
        ]
        fired = self.store.fired_keys(self.job.name, numbers) if numbers else set()
        # Cancel selections are judged over the whole listing (share breaker), so this call
        # only collects them: would_cancel is decided once, at the end of the cycle.
        decisions = policy.decide(
            watched, self.now, self.job.rules, fired, departed, dry_run=False, collect_only=True
        )
        for alert in decisions.alerts:
            self.alerts[alert.event].add(alert)
        self.marks.extend((k.posting_number, k.event, k.step) for k in decisions.mark_done)
        self.selected.extend(decisions.selected)
        self.result.watched += decisions.watched
        known: set[tuple[str, str, str]] = set(fired)
        known.update(decisions.ledger_keys())
        wake = policy.next_wakeup(watched, self.now, self.job.rules, known)
        if wake is None:
            return
        if self.result.next_wakeup is None or wake < self.result.next_wakeup:
            self.result.next_wakeup = wake
        horizon = self.now + self.job.wake_horizon
        if wake <= horizon:  # only pages with something due soon pay for the per-posting look
            for item in watched:
                moment = policy.next_wakeup((item,), self.now, self.job.rules, known)
                if moment is not None and moment <= horizon:
                    self.result.agenda.append((moment, item.posting.posting_number))

    async def _report_unreadable(self, problems: Iterable[PostingProblem]) -> None:
        """Log each posting Ozon sent in a shape we cannot read, once per posting and field."""
        for problem in problems:
            self.result.unreadable += 1
            self.unreadable.add(problem.posting_number)
            key = LedgerKey(problem.posting_number or "?", "unreadable", problem.field)
            if self.store.record_alert_keys(self.job.name, [key], self.now):
                log.warning(
                    "posting_unreadable",
                    account=self.job.name,
                    posting_number=problem.posting_number,
                    field=problem.field,
                    reason=problem.message,
                )

    async def _departures(self, watched_before: set[str], last_success: datetime | None) -> None:
        """Find out why watched postings are no longer listed; mark those that left."""
        job = self.job
        missing = watched_before - self.seen - self.unreadable  # unreadable ones did not leave
        final: dict[str, Posting] = {}
        if last_success is not None and missing:
            listing = job.client.list_changed(
                last_success - CHANGED_OVERLAP, warehouse_ids=job.warehouse_ids
            )
            async for page in listing:
                for posting in page.postings:
                    if posting.posting_number in missing:
                        final[posting.posting_number] = posting
        unexplained = sorted(
            n for n in missing if n not in final or policy.is_watched(final[n], job.rules)
        )
        for number in unexplained[:MAX_GETS_PER_CYCLE]:
            try:
                final[number] = await job.client.get(number)
            except OzonProtocolError as err:  # this posting is unreadable: report, skip it
                await self._report_unreadable([PostingProblem(
                    posting_number=number, field=err.field, message=err.message)])  # fmt: skip
            except OzonAPIError as err:
                if err.status != 404 or isinstance(err, OzonAuthError):
                    raise
                log.warning("posting_not_found", account=job.name, posting_number=number)
            self.result.reread += 1
        still = [p for p in final.values() if policy.is_watched(p, job.rules)]
        if still:  # listed outside the window or between pages: keep watching
            await self._page(still)
        gone = [p for p in final.values() if not policy.is_watched(p, job.rules)]
        if not gone:
            return
        await asyncio.to_thread(self.store.mark_departed, job.name, gone, self.now)
        self.result.departed += len(gone)
        departed = [
            Departed(posting=p, cancelled_by_us=self._cancelled_by_us(p.posting_number))
            for p in gone
        ]
        self._decide((), departed)

    def _cancelled_by_us(self, number: str) -> bool:
        action = self.store.latest_action(self.job.name, number, "cancel", dry_run=False)
        return action is not None and action.outcome in {"done", "unknown"}

    def _would_cancel(self) -> None:
        """Hand the cycle's cancel selections to the executor (`result.selected`) and, in a dry
        run only, report them as would_cancel; when cancelling, the executor (daemon.cancel)
        reports the ones a safety limit holds back itself."""
        selected = sorted(
            self.selected, key=lambda s: (s.posting.shipment_date, s.posting.posting_number)
        )
        self.result.selected = tuple(selected)
        if not selected or (self.job.rules.cancel.enabled and not self.job.dry_run):
            return
        fired = self.store.fired_keys(self.job.name, [s.posting.posting_number for s in selected])
        for alert in policy.would_cancel_alerts(
            selected, self.result.watched, self.job.rules.cancel, fired
        ):
            self.alerts[alert.event].add(alert)

    async def _record_alerts(self) -> None:
        """Record ledger keys and queue one alert per event; only new keys make alerts."""
        job, store, now = self.job, self.store, self.now
        await self._record_marks()
        for event, alerts in self.alerts.items():
            entries = sorted(alerts.entries)  # soonest deadline first, then posting number
            kept = {a.posting.posting_number: a for a in alerts.kept}
            with store.transaction():  # ledger keys and outbox row: both or neither
                keys = [(number, event, step) for _, number, step in entries]
                new = _record_keys(store, job.name, keys, now)
                fresh = [number for (_, number, _), key in zip(entries, keys, strict=True)
                         if key in new]  # fmt: skip
                del keys  # a first sync has one per alerted posting: free them now
                if not fresh:
                    continue
                described = []
                for number in fresh[:PAYLOAD_POSTINGS]:
                    alert = kept.get(number)
                    if alert is not None:
                        described.append(posting_payload(alert.posting, alert.reason))
                    elif (posting := self._cached(number)) is not None:
                        described.append(posting_payload(posting))
                payload = {
                    "event": event,
                    "account": job.name,
                    "total": len(fresh),
                    "postings": described,
                }
                if len(fresh) > 1:
                    reason = f"{len(fresh)} postings"
                else:
                    reason = kept[fresh[0]].reason if fresh[0] in kept else "1 posting"
                queue_alert(store, job, event, fresh, payload, reason, now,
                            dry_run=event == "would_cancel")  # fmt: skip
            self.result.alerts[event] = len(fresh)

    def _cached(self, number: str) -> Posting | None:
        """A posting as this cycle cached it: for a message describing an alert that was not
        kept in memory (only when some of the first ones were already in the ledger; such a
        posting is described without its reason, which only kept alerts carry)."""
        cached = self.store.posting(number, self.now, account=self.job.name)
        return None if cached is None else cached.posting

    async def _record_sync_state(self) -> None:
        job, store, now, error = self.job, self.store, self.now, self.result.error
        if error is None:
            if store.record_sync_success(job.name, now):
                enqueue_account_alert(store, job, "recovered", "Ozon answers again", now)
            return
        store.record_sync_failure(job.name, str(error), now)
        if store.mark_api_error_alerted(job.name):
            enqueue_account_alert(store, job, "api_error", str(error), now)


async def _focused(cycle: _Cycle, numbers: Sequence[str]) -> None:
    """Re-read only `numbers` (one `get` each, or one narrow listing when many) and decide."""
    job, store = cycle.job, cycle.store
    wanted = set(numbers)
    fresh: list[Posting] = []
    if len(wanted) <= FOCUS_GETS:
        for number in sorted(wanted):
            fresh.append(await job.client.get(number))
            cycle.result.reread += 1
    else:
        cached = [store.posting(n, cycle.now, account=job.name) for n in sorted(wanted)]
        deadlines = [c.posting.shipment_date for c in cached if c is not None]
        if not deadlines:
            return
        listing = job.client.list_unfulfilled(
            cutoff_from=min(deadlines) - FOCUS_MARGIN,
            cutoff_to=max(deadlines) + FOCUS_MARGIN,
            statuses=sorted(job.rules.watch_statuses),
            warehouse_ids=job.warehouse_ids,
        )
        async for page in listing:
            fresh.extend(p for p in page.postings if p.posting_number in wanted)
    # Postings that left the watch are the next full cycle's business (it explains departures).
    await cycle._page([p for p in fresh if policy.is_watched(p, job.rules)])


async def run_focused(
    store: Store, job: AccountJob, now: Callable[[], datetime], numbers: Sequence[str]
) -> CycleResult:
    """A precise wake-up: decide only for the postings `numbers` whose threshold is crossing.

    Re-reads just them (one `get` each, or one narrow listing when many cross together), caches
    them and queues their alerts; departures, cancellation and the sync state stay with the
    full cycle. `selected` tells the caller that a full cycle should follow (cancel rules).
    Never raises for Ozon errors (they end up in `error`).
    """
    started = time.monotonic()
    cycle = _Cycle(store, job, now())
    try:
        await _focused(cycle, numbers)
    except OzonError as err:
        cycle.result.error = err
    cycle.result.selected = tuple(cycle.selected)
    await cycle._record_alerts()
    result = cycle.result
    result.duration = time.monotonic() - started
    log.info(
        "wakeup_finished",
        account=job.name,
        postings=len(numbers),
        reread=result.reread,
        alerts=result.alerts,
        duration=round(result.duration, 3),
        error=str(result.error) if result.error else None,
    )
    return result


def posting_payload(posting: Posting, reason: str = "") -> dict[str, Any]:
    """What the renderer needs to show one posting."""
    return {
        "posting_number": posting.posting_number,
        "status": posting.status,
        "substatus": posting.substatus,
        "warehouse": posting.warehouse_name,
        "shipment_date": rfc3339(posting.shipment_date),
        "reason": reason,
    }


def queue_alert(
    store: Store,
    job: AccountJob,
    event: str,
    numbers: Sequence[str],
    payload: dict[str, Any],
    reason: str,
    now: datetime,
    *,
    dry_run: bool = False,
) -> int:
    """Put one alert of `job`'s account in the outbox for the routes that take `event` and log
    it; with no such route the log line is its delivery (recorded as sent). Returns its id."""
    routes = list(job.routes(job.name, event))
    alert_id = store.enqueue_alert(
        job.name,
        event,
        numbers,
        now,
        urgent=event in URGENT_EVENTS,
        payload=payload,
        routes=routes,
        reason=reason,
        dry_run=dry_run,
    )
    log.info(
        "alert_queued",
        account=job.name,
        alert=event,
        postings=len(numbers),
        posting_numbers=list(numbers[:20]),
        routes=len(routes),
        reason=reason,
        dry_run=dry_run,
    )
    if not routes:  # no route takes it: the log line above is its delivery
        store.record_sent(alert_id, now)
    return alert_id


def enqueue_account_alert(
    store: Store, job: AccountJob, event: str, reason: str, now: datetime
) -> int:
    """Queue an account-level alert (api_error, recovered, key_expiring) with `reason`."""
    payload = {"event": event, "account": job.name, "total": 0, "postings": [], "reason": reason}
    return queue_alert(store, job, event, (), payload, reason, now)


async def run_cycle(store: Store, job: AccountJob, now: Callable[[], datetime]) -> CycleResult:
    """Run one cycle for `job`'s account against `store`, deciding at `now()`.

    Never raises for Ozon errors: they end up in `CycleResult.error`, the sync state and an
    `api_error` alert (once per failure streak). Store errors propagate.
    """
    started = time.monotonic()
    cycle = _Cycle(store, job, now())
    log.info("cycle_started", account=job.name)
    result = await cycle.run()
    result.duration = time.monotonic() - started
    log.info(
        "cycle_finished",
        account=job.name,
        result="ok" if result.ok else "failed",
        listing_complete=result.listing_complete,
        listed=result.listed,
        new=result.new,
        changed=result.changed,
        unchanged=result.unchanged,
        departed=result.departed,
        reread=result.reread,
        unreadable=result.unreadable,
        watched=result.watched,
        selected=len(result.selected),
        alerts=result.alerts,
        next_wakeup=rfc3339(result.next_wakeup) if result.next_wakeup else None,
        duration=round(result.duration, 3),
        error=str(result.error) if result.error else None,
    )
    return result
