"""The cancellation executor: claim, re-read, guards, send, record (issue 7).

One `CancelExecutor` per account and cycle (the engine drives it around `run_cycle`):

    resolve_unknown()   at the start: each cancel claim of the account without a final outcome
                        (Ozon's answer was lost, or the process died between claim and answer)
                        is re-read with `get`: cancelled -> done + `cancelled`; still open ->
                        failed, so one more try is allowed (once per deadline); anything else
                        -> failed, naming the state
    execute(result)     after the cycle, on the policy's selections (soonest deadline first):
                        dry run (cancel.enabled false or --dry-run): one dry-run journal entry per
                        posting, no call. Otherwise `plan_cycle` (the cycle failed, the clock
                        differs from Ozon's Date by over 2 minutes, the share breaker: cancel
                        none; refused before for this deadline: skip; max_per_cycle: the rest
                        wait), then for each posting: hold? -> claim (compare-and-set) -> `get`
                        -> unchanged since the listing? -> still selected by the policy? ->
                        hold? -> reason allowed (`cancel_reasons`)? -> `cancel` -> record
    flush()             one alert per event (would_cancel, cancelled, cancel_failed) per cycle

A posting never gets a second cancel request unless the first is known to have failed: the
claim is kept until a re-read settles an unknown outcome. Alerts are deduplicated by ledger keys:
`would_cancel` once per posting and deadline (the policy's key), a refusal once per posting and
deadline (and no new attempt for that deadline), an unknown outcome once per attempt.

Never raises for Ozon errors (a 403 on cancel is `cancel_failed`, not an account failure); store
errors propagate. Imports cycle (AccountJob, CycleResult, queue_alert), ozon, store, policy and
models; never config, the engine or the CLI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
import structlog

from daemon import policy
from daemon.cycle import PAYLOAD_POSTINGS, AccountJob, CycleResult, posting_payload, queue_alert
from daemon.models import Posting, PostingCancelReasons
from daemon.ozon.errors import (
    OzonAPIError,
    OzonAuthError,
    OzonCancelOutcomeUnknown,
    OzonError,
    OzonNotSent,
    OzonRateLimited,
    OzonTransportError,
)
from daemon.policy import CancelRules, CancelSelection, Rules, Watched
from daemon.policy_keys import LedgerKey, rfc3339
from daemon.store import Action, Store

__all__ = [
    "MAX_CLOCK_SKEW",
    "CancelExecutor",
    "CancelPlan",
    "CancelReport",
    "changed_fields",
    "clock_guard",
    "execute",
    "not_cancellable_reason",
    "plan_cycle",
    "reason_refusal",
    "refused_key",
    "resolve_unknown",
]

log = structlog.get_logger(__name__)

MAX_CLOCK_SKEW = 120.0  # seconds between the local clock and Ozon's Date header
CANCEL = "cancel"  # the action journal's kind
_EVENTS = ("would_cancel", "cancel_failed", "cancelled")


@dataclass
class CancelReport:
    """What the executor did in one cycle of one account (posting numbers)."""

    account: str
    dry_run: bool = False
    cancelled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    held_back: dict[str, str] = field(default_factory=dict)
    planned: list[str] = field(default_factory=list)
    requests: int = 0


@dataclass(frozen=True)
class CancelPlan:
    """The cycle-level guards' verdict: `send` in order; `held` with the reason for each."""

    send: tuple[CancelSelection, ...]
    held: tuple[tuple[CancelSelection, str], ...]


@dataclass(frozen=True)
class _Pending:
    """An alert to queue at `flush`, unless its ledger key was recorded before."""

    key: LedgerKey
    posting: Posting
    reason: str


# -- pure guards ------------------------------------------------------------------------------


def clock_guard(skew: float | None, limit: float = MAX_CLOCK_SKEW) -> str | None:
    """Why no posting may be cancelled given the local-minus-Ozon clock `skew` (seconds, None
    when no Date header was seen), or None when the clocks agree within `limit`."""
    if skew is None:
        return "Ozon's time is unknown (no Date header), so the deadline cannot be trusted"
    if abs(skew) > limit:
        way = "ahead of" if skew > 0 else "behind"
        return (
            f"the local clock is {abs(skew):.0f}s {way} Ozon's (over {limit:.0f}s): "
            "a sign of a bad clock, nothing is cancelled"
        )
    return None


def refused_key(posting: Posting) -> LedgerKey:
    """The ledger key recording that Ozon refused (or we gave up) cancelling `posting` for its
    current deadline: no new attempt is made for that deadline."""
    return LedgerKey(posting.posting_number, "cancel_failed", f"refused@{_at(posting)}")


def _retried_key(posting: Posting) -> LedgerKey:
    return LedgerKey(posting.posting_number, "cancel_failed", f"retried@{_at(posting)}")


def _at(posting: Posting) -> str:
    return rfc3339(posting.shipment_date)


def plan_cycle(
    selected: Sequence[CancelSelection],
    *,
    watched: int,
    cancel: CancelRules,
    skew: float | None,
    cycle_error: str | None = None,
    fired: Set[tuple[str, str, str]] = frozenset(),
) -> CancelPlan:
    """Apply the cycle-level guards to the policy's `selected` (soonest deadline first).

    In order: a failed cycle (`cycle_error`), `clock_guard(skew)`, and the share breaker over
    all of `selected` against `watched` hold back every posting; postings whose refusal key is
    in `fired` are dropped silently (already reported); `max_per_cycle` holds back the rest.
    """
    reason: str | None = None
    if cycle_error is not None:
        reason = f"this cycle failed ({cycle_error}), nothing is cancelled"
    else:
        reason = clock_guard(skew)
    if reason is None and policy.share_breaker_trips(len(selected), watched, cancel.max_share):
        reason = (
            f"the share breaker holds back all {len(selected)}: more than max_share "
            f"{cancel.max_share:g} of {watched} watched postings (bad data or a bad clock?)"
        )
    if reason is not None:
        return CancelPlan((), tuple((s, reason) for s in selected))
    open_ = [s for s in selected if tuple(refused_key(s.posting)) not in fired]
    send, rest = policy.limit_per_cycle(open_, cancel.max_per_cycle)
    waiting = f"over max_per_cycle {cancel.max_per_cycle} this cycle; waits for the next cycle"
    return CancelPlan(send, tuple((s, waiting) for s in rest))


def changed_fields(listed: Posting, fresh: Posting) -> str:
    """What changed between the listing and the re-read that forbids cancelling this cycle
    (status, shipment_date, the cancel action), as text; "" when nothing did."""
    changes = []
    if listed.status != fresh.status:
        changes.append(f"status {listed.status} -> {fresh.status}")
    if listed.shipment_date != fresh.shipment_date:
        changes.append(
            f"shipment_date {rfc3339(listed.shipment_date)} -> {rfc3339(fresh.shipment_date)}"
        )
    if listed.can_cancel != fresh.can_cancel:
        changes.append("the cancel action " + ("appeared" if fresh.can_cancel else "disappeared"))
    return ", ".join(changes)


def not_cancellable_reason(
    posting: Posting, now: datetime, rules: Rules, *, held: bool = False
) -> str | None:
    """None when the policy still selects `posting` at `now` (its own guard, one place for the
    rules: statuses, overdue_for, the cancel action, hand-over substatuses, delivering_date,
    holds); otherwise a description of the posting's state that explains why not."""
    item = Watched(posting=posting, held=held)
    if policy.decide([item], now, rules, collect_only=True).selected:
        return None
    state = [f"status {posting.status}"]
    if posting.substatus:
        state.append(f"substatus {posting.substatus}")
    if posting.delivering_date is not None:
        state.append("delivering_date set")
    state.append("cancel " + ("available" if posting.can_cancel else "not available"))
    if not posting.has_deadline:
        state.append("no shipment deadline")
    elif now < posting.shipment_date + rules.cancel.overdue_for:
        state.append(f"not overdue by {rules.cancel.overdue_for} yet")
    if held:
        state.append("held")
    return "the cancel rules no longer select it (" + ", ".join(state) + ")"


def reason_refusal(
    reasons: Iterable[PostingCancelReasons], posting_number: str, reason_id: int
) -> str | None:
    """None when Ozon allows `reason_id` for the posting; else why not, naming what it allows."""
    entry = next((r for r in reasons if r.posting_number == posting_number), None)
    if entry is not None and entry.allows(reason_id):
        return None
    offered = entry.reasons if entry is not None else ()
    allowed = ", ".join(f"{r.id} ({r.title})" if r.title else str(r.id) for r in offered)
    return (
        f"cancel reason {reason_id} is not allowed for this posting; Ozon allows: "
        f"{allowed or 'none'}; nothing was sent"
    )


def _is_refusal(err: OzonError) -> bool:
    """True for Ozon's own "no" (not a busy signal): no new attempt for the same deadline."""
    return isinstance(err, OzonAPIError) and not isinstance(err, OzonRateLimited)


def _is_cancelled(posting: Posting) -> bool:
    return posting.status == "cancelled" or posting.substatus == "posting_canceled"


def _as_cancelled(posting: Posting) -> Posting:
    return msgspec.structs.replace(posting, status="cancelled", substatus="posting_canceled")


# -- the executor -----------------------------------------------------------------------------


class CancelExecutor:
    """The cancellation work of one account in one cycle; see the module docstring."""

    def __init__(self, store: Store, job: AccountJob, now: datetime) -> None:
        self.store = store
        self.job = job
        self.now = now
        self.report = CancelReport(account=job.name)
        self._alerts: dict[str, list[_Pending]] = defaultdict(list)
        self._unknown: list[tuple[str, Posting]] = []
        # Set when Ozon gave no answer after retries: the rest waits for the next cycle instead
        # of costing one `retry_for` each.
        self._unreachable = False

    # -- unknown outcomes ---------------------------------------------------------------------

    async def resolve_unknown(self) -> None:
        """Settle every open cancel claim of the account by re-reading its posting."""
        for action in self.store.open_actions(self.job.name):
            if action.kind != CANCEL or self._unreachable:
                continue
            if action.dry_run:  # a dry-run claim never sent anything
                self.store.finish_action(action.id, "done", self.now)
                continue
            if action.outcome is None:  # the process stopped between the claim and the answer
                self.store.finish_action(
                    action.id,
                    "unknown",
                    self.now,
                    reason="the process stopped before Ozon's answer was recorded",
                )
            await self._resolve(action)

    async def _resolve(self, action: Action, known: Posting | None = None) -> None:
        """Re-read the posting of `action` (outcome unknown) and settle it; `known` is the
        posting as last seen, for the alert when the re-read fails too."""
        number, job = action.posting_number, self.job
        try:
            fresh = await job.client.get(number)
        except OzonError as err:
            self._unreachable = isinstance(err, OzonTransportError)
            if isinstance(err, OzonAPIError) and err.status == 404:
                self._finish(action.id, "failed", f"outcome unknown; Ozon does not know it: {err}")
                return
            reason = (
                f"outcome unknown ({action.outcome_reason}); the re-read failed too ({err}), "
                "re-reading next cycle"
            )
            log.warning(
                "cancel_failed",
                account=job.name,
                posting_number=number,
                reason=reason,
                dry_run=False,
            )
            self.report.unknown.append(number)
            if known is None:
                cached = self.store.posting(number, self.now, account=job.name)
                known = None if cached is None else cached.posting
            if known is not None:
                key = LedgerKey(number, "cancel_failed", f"unknown#{action.id}")
                self._alert("cancel_failed", key, known, reason)
            return
        if _is_cancelled(fresh):
            who = fresh.cancellation.cancellation_type if fresh.cancellation else ""
            if who and who != "seller":
                reason = f"outcome unknown; meanwhile cancelled by {who}, not by ozon-sync"
                self._finish(action.id, "failed", reason)
                return
            reason = f"{action.reason}; confirmed by a re-read after the outcome was unknown"
            self._finish(action.id, "done", reason)
            self.report.cancelled.append(number)
            key = LedgerKey(number, "cancelled", f"#{action.id}")
            self._alert("cancelled", key, fresh, reason)
            log.info(
                "posting_cancelled",
                account=job.name,
                posting_number=number,
                reason=reason,
                dry_run=False,
            )
            return
        if fresh.can_cancel and fresh.status in job.rules.cancel.statuses:
            retried = self.store.fired_keys(job.name, [number])
            if tuple(_retried_key(fresh)) not in retried:
                self._mark(_retried_key(fresh))
                reason = f"outcome unknown; a re-read shows it still {fresh.status}: one more try"
                self._finish(action.id, "failed", reason)
                return
            reason = (
                f"outcome unknown twice and still {fresh.status}: not trying again for this "
                "deadline; cancel it by hand in Ozon if it should go"
            )
            self._finish(action.id, "failed", reason)
            self._fail_alert(refused_key(fresh), fresh, reason)
            return
        reason = (
            f"outcome unknown; a re-read shows it {fresh.status} {fresh.substatus}: not cancelled"
        )
        self._finish(action.id, "failed", reason.replace("  ", " "))
        key = LedgerKey(number, "cancel_failed", f"resolved#{action.id}")
        self._fail_alert(key, fresh, reason)

    # -- the cycle's selections ---------------------------------------------------------------

    async def execute(self, result: CycleResult, now: datetime | None = None) -> CancelReport:
        """Act on `result.selected` at `now` (default: the executor's time; see the module
        docstring); returns the report so far. Never raises for Ozon errors."""
        if now is not None:
            self.now = now
        job, cancel = self.job, self.job.rules.cancel
        selected = list(result.selected)
        if not selected or not result.listing_complete:
            return self.report
        if job.dry_run or not cancel.enabled:
            self._plan_dry_run(selected, result.watched)
            return self.report
        numbers = [s.posting.posting_number for s in selected]
        plan = plan_cycle(
            selected,
            watched=result.watched,
            cancel=cancel,
            skew=job.client.clock_skew(),
            cycle_error=None if result.error is None else str(result.error),
            fired=self.store.fired_keys(job.name, numbers),
        )
        for selection, reason in plan.held:
            self._hold_back(selection, reason)
        for selection in plan.send:
            if self._unreachable:
                log.info(
                    "cancel_postponed",
                    account=job.name,
                    posting_number=selection.posting.posting_number,
                    reason="Ozon is not answering; tried again next cycle",
                    dry_run=False,
                )
                continue
            await self._attempt(selection)
        await self._resolve_new_unknowns()
        return self.report

    def _plan_dry_run(self, selected: Sequence[CancelSelection], watched: int) -> None:
        """Journal each selection once as a planned (dry-run) cancellation."""
        self.report.dry_run = True
        alerts = policy.would_cancel_alerts(selected, watched, self.job.rules.cancel)
        reasons = {alert.posting.posting_number: alert.reason for alert in alerts}
        planned = self.store.record_planned(self.job.name, CANCEL, reasons.items(), self.now)
        for number in planned:
            self.report.planned.append(number)
            log.info(
                "cancel_planned",
                account=self.job.name,
                posting_number=number,
                reason=reasons[number],
                dry_run=True,
            )

    async def _attempt(self, selection: CancelSelection) -> None:
        """Claim, re-read, check and cancel one selected posting."""
        job, store, listed = self.job, self.store, selection.posting
        number, cancel = listed.posting_number, job.rules.cancel
        if number in store.holds(self.now):
            self._hold_back(selection, "held by the seller")
            return
        claim = store.claim_action(
            job.name, number, CANCEL, self.now, dry_run=False, reason=selection.reason
        )
        if claim is None:  # another claim is open, unknown or done: never a second request
            log.info(
                "cancel_skipped",
                account=job.name,
                posting_number=number,
                reason="already claimed",
                dry_run=False,
            )
            return
        try:
            fresh = await job.client.get(number)
        except OzonError as err:
            self._unreachable = isinstance(err, OzonTransportError)
            self._failed(claim, listed, f"not sent: the re-read failed: {err}", refused=False)
            return
        changed = changed_fields(listed, fresh)
        why_not = not_cancellable_reason(fresh, self.now, job.rules)
        if changed or why_not:
            reason = (
                f"not sent: {changed} between listing and re-reading; left alone this cycle"
                if changed
                else f"not sent: {why_not}"
            )
            self._finish(claim, "failed", reason)
            self._hold_back(selection, reason)
            return
        try:
            reasons = await job.client.cancel_reasons([number])
        except OzonError as err:
            what = "the key lacks the role for" if isinstance(err, OzonAuthError) else "failed:"
            reason = f"not sent: {what} /v1/posting/fbs/cancel-reason ({err})"
            self._failed(claim, fresh, reason, refused=_is_refusal(err))
            return
        refusal = reason_refusal(reasons, number, cancel.reason_id)
        if refusal is not None:
            self._failed(claim, fresh, refusal, refused=True)
            return
        if number in store.holds(self.now):  # a hold placed while we were reading
            self._finish(claim, "failed", "not sent: held by the seller")
            self._hold_back(selection, "held by the seller")
            return
        await self._send(claim, selection, fresh)

    async def _send(self, claim: int, selection: CancelSelection, fresh: Posting) -> None:
        job, number, cancel = self.job, fresh.posting_number, self.job.rules.cancel
        self.report.requests += 1
        try:
            await job.client.cancel(number, cancel.reason_id, cancel.reason_message)
        except OzonCancelOutcomeUnknown as err:
            # Journaled as unknown (history: cancel_failed "outcome unknown"); re-read later in
            # this cycle, and alerted only if that does not settle it.
            self.store.finish_action(claim, "unknown", self.now, reason=err.detail)
            self._unknown.append((number, fresh))
            log.warning(
                "cancel_failed",
                account=job.name,
                posting_number=number,
                reason=f"outcome unknown: {err.detail}",
                dry_run=False,
            )
            return
        except (OzonRateLimited, OzonNotSent) as err:  # not applied: a later cycle re-reads
            self._failed(claim, fresh, f"not sent, tried again later: {err}", refused=False)
            return
        except OzonAuthError as err:
            reason = f"Ozon refused the cancel ({err.status}): the API key lacks the role ({err})"
            self._failed(claim, fresh, reason, refused=True)
            return
        except OzonAPIError as err:
            reason = f"Ozon refused the cancel: {err}"
            self._failed(claim, fresh, reason, refused=_is_refusal(err))
            return
        except (OzonError, ValueError) as err:  # surely never reached Ozon
            self._failed(claim, fresh, f"not sent: {err}", refused=False)
            return
        self._finish(claim, "done", "")
        self.report.cancelled.append(number)
        log.info(
            "posting_cancelled",
            account=job.name,
            posting_number=number,
            reason=selection.reason,
            dry_run=False,
        )
        key = LedgerKey(number, "cancelled", f"#{claim}")
        self._alert("cancelled", key, _as_cancelled(fresh), selection.reason)

    async def _resolve_new_unknowns(self) -> None:
        """Re-read, later in the same cycle, the postings whose cancel outcome became unknown."""
        known = dict(self._unknown)
        self._unknown.clear()
        if not known:
            return
        for action in self.store.open_actions(self.job.name):
            if action.kind == CANCEL and not action.dry_run and action.posting_number in known:
                await self._resolve(action, known[action.posting_number])

    # -- recording ----------------------------------------------------------------------------

    def _finish(self, claim: int, outcome: str, reason: str) -> None:
        if outcome == "done":
            self.store.finish_action(claim, "done", self.now, reason=reason)
        else:
            self.store.finish_action(claim, "failed", self.now, reason=reason)

    def _failed(self, claim: int, posting: Posting, reason: str, *, refused: bool) -> None:
        """Finish the claim as failed and alert cancel_failed (a refusal: once per deadline,
        and no new attempt for that deadline; an error: once per deadline, retried)."""
        self._finish(claim, "failed", reason)
        key = (
            refused_key(posting)
            if refused
            else LedgerKey(posting.posting_number, "cancel_failed", f"error@{_at(posting)}")
        )
        self._fail_alert(key, posting, reason)

    def _fail_alert(self, key: LedgerKey, posting: Posting, reason: str) -> None:
        self.report.failed.append(posting.posting_number)
        log.warning(
            "cancel_failed",
            account=self.job.name,
            posting_number=posting.posting_number,
            reason=reason,
            dry_run=False,
        )
        self._alert("cancel_failed", key, posting, reason)

    def _hold_back(self, selection: CancelSelection, reason: str) -> None:
        self.report.held_back[selection.posting.posting_number] = reason
        self._alert(
            "would_cancel", selection.key, selection.posting, f"{selection.reason}; {reason}"
        )

    def _alert(self, event: str, key: LedgerKey, posting: Posting, reason: str) -> None:
        self._alerts[event].append(_Pending(key, posting, reason))

    def _mark(self, key: LedgerKey) -> None:
        self.store.record_alert_keys(self.job.name, [key], self.now)

    def flush(self) -> None:
        """Queue one alert per event for the postings whose ledger key is new, and log the
        cycle's cancel summary when anything happened."""
        job, store, now = self.job, self.store, self.now
        for event in _EVENTS:
            pending = self._alerts.pop(event, [])
            if not pending:
                continue
            pending.sort(key=lambda p: (p.posting.shipment_date, p.posting.posting_number))
            with store.transaction():  # ledger keys and outbox row: both or neither
                keys = store.record_alert_keys(job.name, [p.key for p in pending], now)
                new = {tuple(key) for key in keys}
                fresh = [p for p in pending if tuple(p.key) in new]
                if not fresh:
                    continue
                payload = {
                    "event": event,
                    "account": job.name,
                    "total": len(fresh),
                    "postings": [
                        posting_payload(p.posting, p.reason) for p in fresh[:PAYLOAD_POSTINGS]
                    ],
                }
                reason = fresh[0].reason if len(fresh) == 1 else f"{len(fresh)} postings"
                queue_alert(
                    store,
                    job,
                    event,
                    [p.posting.posting_number for p in fresh],
                    payload,
                    reason,
                    now,
                    dry_run=False,
                )
        report = self.report
        counts = {
            "cancelled": len(report.cancelled),
            "failed": len(report.failed),
            "unknown": len(report.unknown),
            "held_back": len(report.held_back),
            "planned": len(report.planned),
        }
        if any(counts.values()):
            log.info(
                "cancel_finished",
                account=job.name,
                dry_run=report.dry_run,
                requests=report.requests,
                **counts,
            )


async def resolve_unknown(store: Store, job: AccountJob, now: datetime) -> CancelReport:
    """Settle the account's cancel claims of unknown outcome (re-read with `get`), queue the
    alerts, and return the report. Never raises for Ozon errors."""
    executor = CancelExecutor(store, job, now)
    await executor.resolve_unknown()
    executor.flush()
    return executor.report


async def execute(
    store: Store, job: AccountJob, result: CycleResult, now: datetime
) -> CancelReport:
    """Act on one cycle's cancel selections, queue the alerts, and return the report.
    Never raises for Ozon errors; store errors propagate."""
    executor = CancelExecutor(store, job, now)
    await executor.execute(result)
    executor.flush()
    return executor.report
