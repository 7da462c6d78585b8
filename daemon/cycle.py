"""One sync cycle for one account: fetch -> store -> policy -> alerts in the outbox.

    list unfulfilled postings (wide cutoff window, watched statuses), page by page:
        upsert the page (worker thread) -> decide reminders / overdue / deadline moves /
            escalations of what nobody acknowledged
    if the listing completed:
        list postings whose status changed since the last success (with overlap)
        re-read watched postings that vanished without explanation (bounded, `get`)
        mark the ones that left the watch as departed -> cancelled_elsewhere decisions
    else: nothing is inferred about absent postings and the cycle counts as failed
    the cancel selections of the whole listing go to the executor (daemon.cancel), which alone
        decides between sending and reporting (dry run)
    sync state -> api_error / recovered

Each batch of postings is cached, decided and alerted in ONE store transaction (cached
postings, ledger keys and outbox rows: daemon.alerts.batch; what an alert shows besides the
deadline, such as the advice: daemon.alert_facts), and so are the departures with
their cancelled_elsewhere alerts and the sync state with api_error / recovered. Alerts are
staged: the engine releases them at the end of the account's cycle (one message per event).

Never raises for Ozon trouble: the result says whether the account's cycle succeeded and why
not. Escalations (daemon.escalation: a posting whose ladder alert nobody acknowledged) are
decided with the other alerts of their batch. Imports the alerts path, the job, ozon, store,
policy, escalation and models; never config, the cancel executor, the CLI or the scheduler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import structlog

from daemon import escalation, policy
from daemon.alert_facts import alert_facts
from daemon.alerts import Event, Mark
from daemon.alerts.batch import AlertBatch, batch, mark
from daemon.job import AccountJob
from daemon.models import LedgerKey, Posting
from daemon.ozon.errors import OzonAPIError, OzonAuthError, OzonError, OzonProtocolError
from daemon.ozon.parse import PostingProblem
from daemon.policy import CancelSelection, Departed, Watched
from daemon.policy_keys import rfc3339
from daemon.store import Store

__all__ = ["Cycle", "CycleResult", "run_cycle"]

log = structlog.get_logger(__name__)

LATE_CANCEL = (
    "cancelled after ozon-sync reported its request not applied: Ozon applied that request "
    "late, or it was cancelled by hand in the seller portal"
)

LOOK_BACK = timedelta(days=90)  # overdue postings stay visible this long
LOOK_AHEAD = timedelta(days=180)  # Ozon caps the window at one year
CHANGED_OVERLAP = timedelta(minutes=10)  # re-list status changes this far before the last sync
MAX_GETS_PER_CYCLE = 50  # vanished postings re-read one by one per cycle, at most
# Listed postings are cached, decided and alerted this many at a time (up to thirty pages), in
# one store transaction. Each commit writes every page it touched to the WAL, and a first
# sync's ledger keys land on pages all over the ledger: 3,000 per commit write about a third
# fewer pages than 1,000 (measured at 100,000 postings), for a few MB more peak memory.
BATCH_POSTINGS = 3000


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


class Cycle:
    """The state of one running cycle (one account, one `now`)."""

    def __init__(self, store: Store, job: AccountJob, now: datetime) -> None:
        self.store = store
        self.job = job
        self.now = now
        self.result = CycleResult(account=job.name, started=now)
        self.holds = store.holds(now)
        # who took which posting in hand: escalation stops there (read only when it is on)
        rules = job.rules
        self.acked = store.acknowledged_numbers(job.name) if rules.escalate_after else set()
        self.ratings = store.account_ratings(job.name)  # for the advice in overdue alerts
        self.seen: set[str] = set()
        self.unreadable: set[str] = set()  # listed, but in a shape that cannot be used
        self.selected: list[CancelSelection] = []
        self.pending: list[Posting] = []  # listed, not yet cached and decided
        self.inflight: asyncio.Task[None] | None = None  # the batch being cached and decided

    async def run(self) -> CycleResult:
        job, store = self.job, self.store
        state = store.get_sync_state(job.name)
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
            self.result.selected = tuple(sorted(self.selected, key=_selection_order))
        self._record_sync_state()
        return self.result

    async def page(self, postings: Sequence[Posting]) -> None:
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
        """Cache postings and decide their events, in a worker thread."""
        await asyncio.to_thread(self._commit_batch, postings)

    def _commit_batch(self, postings: Sequence[Posting]) -> None:
        """Cache postings, decide their events and record the decisions (ledger keys and
        staged alerts): one store transaction, so a crash keeps all of it or none."""
        job, result = self.job, self.result
        with batch(self.store, job.name, self.now) as alerts:
            upsert = self.store.upsert_postings(job.name, postings, self.now)
            previous = {c.posting.posting_number: c.previous_shipment_date for c in upsert.changed}
            fresh = {p.posting_number for p in upsert.new}
            watched = [self._watched(p, previous, fresh) for p in postings]
            self._decide(watched, (), alerts)
        result.new += len(upsert.new)
        result.changed += len(upsert.changed)
        result.unchanged += upsert.unchanged
        self._count(alerts)

    def _count(self, alerts: AlertBatch) -> None:
        for event, count in alerts.counts.items():
            self.result.alerts[event] = self.result.alerts.get(event, 0) + count

    def _watched(self, posting: Posting, previous: dict[str, datetime], fresh: set[str]) -> Watched:
        number = posting.posting_number
        # the shipment_date cached before, in the transaction that records the move's alert
        before = None if number in fresh else previous.get(number, posting.shipment_date)
        return Watched(
            posting=posting,
            previous_shipment_date=before,
            held=number in self.holds,
            held_until=self.holds.get(number),
            calendar=self.job.calendars.for_warehouse(posting.warehouse_id),
        )

    def _decide(
        self, watched: Sequence[Watched], departed: Sequence[Departed], alerts: AlertBatch
    ) -> None:
        """Run the policy over some postings and put its decisions in `alerts`; the cancel
        selections are kept for the executor (judged over the whole listing)."""
        numbers = [w.posting.posting_number for w in watched] + [
            d.posting.posting_number for d in departed
        ]
        fired = self.store.fired_keys(self.job.name, numbers) if numbers else set()
        rules, now = self.job.rules, self.now
        decisions = policy.decide(watched, now, rules, fired, departed)
        for alert in decisions.alerts:
            facts = partial(alert_facts, alert.event, alert.posting, self.now, self.ratings)
            alerts.add(alert.event, alert.key, alert.posting, alert.reason, details=facts)
        alerts.mark(decisions.mark_done)
        # nobody acknowledged a posting's ladder alert: the next level hears of it
        times = self.store.fired_times(self.job.name, escalation.ladder_keys(watched, now, rules))
        ladder = escalation.Ladder(rules, self.acked, times)
        steps = ladder.due(watched, now, fired)
        for step in steps:
            alerts.escalate(step.event, step.key, step.posting, step.reason, level=step.level,
                            after=step.after)  # fmt: skip
        self.selected.extend(decisions.selected)
        self.result.watched += decisions.watched
        known: set[tuple[str, str, str]] = set(fired)
        known.update(decisions.ledger_keys())
        known.update(step.key for step in steps)
        wake = _earliest(
            policy.next_wakeup(watched, now, rules, known), ladder.next_moment(watched, now, known)
        )
        if wake is None:
            return
        if self.result.next_wakeup is None or wake < self.result.next_wakeup:
            self.result.next_wakeup = wake
        horizon = now + self.job.wake_horizon
        if wake <= horizon:  # only pages with something due soon pay for the per-posting look
            for item in watched:
                moment = _earliest(
                    policy.next_wakeup((item,), now, rules, known),
                    ladder.next_moment((item,), now, known),
                )
                if moment is not None and moment <= horizon:
                    self.result.agenda.append((moment, item.posting.posting_number))

    async def _report_unreadable(self, problems: Iterable[PostingProblem]) -> None:
        """Log each posting Ozon sent in a shape we cannot read, once per posting and field."""
        for problem in problems:
            self.result.unreadable += 1
            self.unreadable.add(problem.posting_number)
            key = LedgerKey(problem.posting_number or "?", Mark.UNREADABLE, problem.field)
            fields = {"account": self.job.name, "posting_number": problem.posting_number,
                      "field": problem.field, "reason": problem.message}  # fmt: skip
            if mark(self.store, self.job.name, [key], self.now):  # once, across restarts too
                log.warning("posting_unreadable", **fields)
            else:
                log.debug("posting_unreadable", repeated=True, **fields)

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
                job.findings.report(
                    log, "posting_not_found", ("posting_not_found", number), account=job.name,
                    posting_number=number, reason="Ozon answered 404 to reading it",
                )  # fmt: skip
            self.result.reread += 1
        still = [p for p in final.values() if policy.is_watched(p, job.rules)]
        if still:  # listed outside the window or between pages: keep watching
            await self.page(still)
        gone = [p for p in final.values() if not policy.is_watched(p, job.rules)]
        if gone:
            await asyncio.to_thread(self._commit_departures, gone)

    def _commit_departures(self, gone: Sequence[Posting]) -> None:
        """Mark postings that left the watch as departed and decide what that tells people
        (cancelled_elsewhere), in one store transaction."""
        with batch(self.store, self.job.name, self.now) as alerts:
            self.store.mark_departed(self.job.name, gone, self.now)
            departed = [Departed(posting=p, cancelled_by_us=self._cancelled_by_us(p)) for p in gone]
            self._decide((), departed, alerts)
            for item in departed:
                posting, number = item.posting, item.posting.posting_number
                cancelled = posting.status == "cancelled" or posting.substatus == "posting_canceled"
                if item.cancelled_by_us and cancelled and self._settled_as_failed(number):
                    # Ozon applied, after the settling window, a request whose outcome was
                    # unknown: the seller still hears it was ozon-sync's cancel
                    key = LedgerKey(number, Event.CANCELLED, "late")
                    alerts.add(Event.CANCELLED, key, posting, LATE_CANCEL)
        self.result.departed += len(gone)
        self._count(alerts)

    def _cancelled_by_us(self, posting: Posting) -> bool:
        """Cancelled by the seller (or by whom unknown) after a request of ours that may have
        reached Ozon, even one whose claim was later settled as failed."""
        client_id, number = self.job.client.client_id, posting.posting_number
        if not self.store.may_have_acted(self.job.name, number, "cancel", client_id=client_id):
            return False
        if not self._settled_as_failed(number):  # done, or still open: the executor reports it
            return True
        who = posting.cancellation.cancellation_type if posting.cancellation else ""
        return who in ("", "seller")  # the buyer or Ozon cancelled it: not ours

    def _settled_as_failed(self, number: str) -> bool:
        action = self.store.latest_action(self.job.name, number, "cancel", dry_run=False)
        return action is not None and action.outcome == "failed"

    def _record_sync_state(self) -> None:
        """The sync state, and api_error / recovered on a change, in one transaction."""
        job, store, now, error = self.job, self.store, self.now, self.result.error
        with batch(store, job.name, now) as alerts:
            if error is None:
                if store.record_sync_success(job.name, now):
                    alerts.note(Event.RECOVERED, "Ozon answers again")
            else:
                store.record_sync_failure(job.name, str(error), now)
                if store.mark_api_error_alerted(job.name):
                    alerts.note(Event.API_ERROR, str(error))
        self._count(alerts)


def _earliest(*moments: datetime | None) -> datetime | None:
    """The earliest of the moments given (None when none is)."""
    return min((moment for moment in moments if moment is not None), default=None)


def _selection_order(selection: CancelSelection) -> tuple[datetime, str]:
    return selection.posting.shipment_date, selection.posting.posting_number


async def run_cycle(store: Store, job: AccountJob, now: Callable[[], datetime]) -> CycleResult:
    """Run one cycle for `job`'s account against `store`, deciding at `now()`.

    Never raises for Ozon errors: they end up in `CycleResult.error`, the sync state and an
    `api_error` alert (once per failure streak). Store errors propagate. The alerts it writes
    are staged: `daemon.alerts.batch.release` sends them (the engine does, after the cancel
    executor).
    """
    started = time.monotonic()
    cycle = Cycle(store, job, now())
    log.info("cycle_started", account=job.name)
    result = await cycle.run()
    result.duration = time.monotonic() - started
    log.info(
        "cycle_finished", account=job.name, result="ok" if result.ok else "failed",
        listing_complete=result.listing_complete, listed=result.listed, new=result.new,
        changed=result.changed, unchanged=result.unchanged, departed=result.departed,
        reread=result.reread, unreadable=result.unreadable, watched=result.watched,
        selected=len(result.selected), alerts=result.alerts,
        next_wakeup=rfc3339(result.next_wakeup) if result.next_wakeup else None,
        duration=round(result.duration, 3), error=str(result.error) if result.error else None,
    )  # fmt: skip
    return result
