"""The cancellation executor: claim, re-read, guards, send, record (issue 7).

One `CancelExecutor` per account and cycle (the engine drives it around `run_cycle`):

    resolve_unknown()   at the start: each cancel claim of the account without a final outcome
                        (the answer was lost, or the process died between claim and answer) is
                        re-read with `get`: cancelled -> done + `cancelled`; not cancelled
                        within SETTLE (10 min) of the claim, or an unclear read (a 404 too)
                        -> stays unknown, re-read next cycle (Ozon may apply it late); not
                        cancelled after SETTLE and still open -> failed, one more try
                        allowed (once per deadline); else failed
    execute(selected)   after a complete listing, on the policy's selections (soonest first).
                        `sends` is THE dry-run decision, made here at the side effect: false
                        (cancel.enabled false or --dry-run) journals each selection once as
                        planned and reports it as `would_cancel`, sending nothing. Otherwise
                        `plan_cycle` (daemon.cancel_plan; `max_per_cycle` less what the
                        shop sent earlier in the poll interval), then per posting: hold? ->
                        claim (compare-and-set, per Client-Id) -> `get` -> unchanged since
                        the listing? -> still selected? -> reason allowed? -> right before
                        the request: live `enabled`, hold / hold --all, clock -> `cancel` ->
                        record. Not sent by decision: `cancel_skipped`, no alert
    finish()            logs the cycle's cancel summary

Every outcome is one commit with the alert it causes (`daemon.alerts.batch`): a cancel's
`done` and its `cancelled` alert are written together, so a process killed at any moment never
leaves a cancelled posting untold. A posting never gets a second cancel request unless the
first is known to have failed. Alerts are deduplicated by ledger keys: `would_cancel` once per
posting and deadline, a refusal once per posting and deadline (and no new attempt for it), an
unknown outcome once per attempt.

Never raises for Ozon errors (a 403 on cancel is `cancel_failed`, not an account failure); store
errors propagate. Imports the alerts path, `daemon.cancel_plan`, the job, ozon, store, policy
and models; never the cycle, config, the engine or the CLI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Literal

import structlog

from daemon.alerts import Event
from daemon.alerts.batch import AlertBatch, batch
from daemon.cancel_plan import (
    CancelPlan,
    CancelReport,
    ShopPeriod,
    as_cancelled,
    changed_fields,
    clock_guard,
    dry_run_plan,
    error_key,
    is_cancelled,
    not_cancellable_reason,
    plan_cycle,
    reason_refusal,
    refused_key,
    retried_key,
)
from daemon.job import AccountJob
from daemon.models import LedgerKey, Posting
from daemon.ozon.errors import (
    OzonAPIError,
    OzonAuthError,
    OzonCancelOutcomeUnknown,
    OzonError,
    OzonNotSent,
    OzonRateLimited,
    OzonTransportError,
)
from daemon.policy import CancelSelection
from daemon.policy_keys import rfc3339
from daemon.store import Action, Store

__all__ = ["CANCEL", "CancelExecutor"]

log = structlog.get_logger(__name__)

CANCEL = "cancel"  # the action journal's kind
# How long after the claim an unknown outcome stays open while the posting still looks open:
# Ozon may apply a cancel late. Only then is it "did not take effect" (issue 15).
SETTLE = timedelta(minutes=10)


def _is_refusal(err: OzonError) -> bool:
    """True for Ozon's own "no" (not a busy signal): no new attempt for the same deadline."""
    return isinstance(err, OzonAPIError) and not isinstance(err, OzonRateLimited)


class CancelExecutor:
    """The cancellation work of one account in one cycle; see the module docstring."""

    def __init__(self, store: Store, job: AccountJob, now: datetime) -> None:
        self.store = store
        self.job = job
        self.now = now
        self.report = CancelReport(account=job.name)
        self._unknown: list[tuple[str, Posting]] = []
        # Set when Ozon gave no answer after retries: the rest waits for the next cycle instead
        # of costing one `retry_for` each.
        self._unreachable = False

    @property
    def sends(self) -> bool:
        """True when cancel requests are sent; False is a dry run. Decided here only."""
        return self.job.current_rules().cancel.enabled and not self.job.dry_run

    def _still_sends(self) -> bool:
        """`sends` asked again now (a method: the live setting may change between calls)."""
        return self.sends

    @contextmanager
    def _commit(self) -> Iterator[AlertBatch]:
        """One transaction: the outcome written in the block and the alerts it adds."""
        with batch(self.store, self.job.name, self.now) as alerts:
            yield alerts

    # -- unknown outcomes ---------------------------------------------------------------------

    async def resolve_unknown(self) -> None:
        """Settle every open cancel claim of the account by re-reading its posting."""
        for action in self.store.open_actions(self.job.name, client_id=self.job.client.client_id):
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
        except OzonError as err:  # a 404 too: as unclear as any failed read, the claim stays
            self._unreachable = isinstance(err, OzonTransportError)
            self._unresolved(action, known, err)
            return
        if is_cancelled(fresh):
            who = fresh.cancellation.cancellation_type if fresh.cancellation else ""
            if who and who != "seller":
                reason = f"outcome unknown; meanwhile cancelled by {who}, not by ozon-sync"
                self._finish(action.id, "failed", reason)
                return
            reason = f"{action.reason}; confirmed by a re-read after the outcome was unknown"
            key = LedgerKey(number, Event.CANCELLED, f"#{action.id}")
            self._cancelled(action.id, key, fresh, reason)
            return
        if self.now < action.claimed_at + SETTLE:  # Ozon may still apply it: stays unknown
            self.report.unknown.append(number)
            reason = (
                f"outcome unknown; still {fresh.status}: Ozon may still apply it, re-reading "
                f"until {rfc3339(action.claimed_at + SETTLE)}"
            )
            log.info(
                "cancel_settling", account=job.name, posting_number=number, reason=reason,
                dry_run=False,
            )  # fmt: skip
            with self._commit() as alerts:  # told once per attempt (the ledger key)
                key = LedgerKey(number, Event.CANCEL_FAILED, f"unknown#{action.id}")
                alerts.add(Event.CANCEL_FAILED, key, fresh, reason)
            return
        if fresh.can_cancel and fresh.status in job.current_rules().cancel.statuses:
            if tuple(retried_key(fresh)) not in self.store.fired_keys(job.name, [number]):
                reason = f"outcome unknown; a re-read shows it still {fresh.status}: one more try"
                with self._commit() as alerts:
                    alerts.mark([retried_key(fresh)])
                    self._finish(action.id, "failed", reason)
                return
            reason = (
                f"outcome unknown twice and still {fresh.status}: not trying again for this "
                "deadline; cancel it by hand in Ozon if it should go"
            )
            self._failed(action.id, refused_key(fresh), fresh, reason)
            return
        reason = f"outcome unknown; a re-read shows it {fresh.status} {fresh.substatus}"
        reason = reason.strip() + ": not cancelled"
        key = LedgerKey(number, Event.CANCEL_FAILED, f"resolved#{action.id}")
        self._failed(action.id, key, fresh, reason)

    def _unresolved(self, action: Action, known: Posting | None, err: OzonError) -> None:
        """The re-read of an unknown outcome failed too: report it (once per attempt) and
        re-read next cycle."""
        number = action.posting_number
        reason = (
            f"outcome unknown ({action.outcome_reason}); the re-read failed too ({err}), "
            "re-reading next cycle"
        )
        log.warning(
            "cancel_failed", account=self.job.name, posting_number=number, reason=reason,
            dry_run=False,
        )  # fmt: skip
        self.report.unknown.append(number)
        if known is None:
            cached = self.store.posting(number, self.now, account=self.job.name)
            known = None if cached is None else cached.posting
        if known is not None:
            with self._commit() as alerts:
                key = LedgerKey(number, Event.CANCEL_FAILED, f"unknown#{action.id}")
                alerts.add(Event.CANCEL_FAILED, key, known, reason)

    # -- the cycle's selections ---------------------------------------------------------------

    async def execute(
        self,
        selected: Sequence[CancelSelection],
        *,
        watched: int,
        cycle_error: str | None = None,
        now: datetime | None = None,
        shop: ShopPeriod | None = None,
    ) -> CancelReport:
        """Act on a complete listing's `selected` (soonest deadline first; `watched` postings
        were on watch, `cycle_error` says why the cycle failed) at `now` (default: the
        executor's time); see the module docstring. `shop`: the Client-Id's poll interval,
        whose `max_per_cycle` and share breaker this cycle shares (updated here). Never raises
        for Ozon errors."""
        if now is not None:
            self.now = now
        shop = shop or ShopPeriod(self.now)
        # A posting whose claim is still open (its outcome settling) is no candidate: it is
        # never sent again, so it must not take a place of max_per_cycle from the others.
        settling = {
            action.posting_number
            for action in self.store.open_actions(
                self.job.name, client_id=self.job.client.client_id
            )
            if action.kind == CANCEL and not action.dry_run
        }
        if settling:
            selected = [s for s in selected if s.posting.posting_number not in settling]
        others_selected, others_watched = shop.others(self.job.name)
        shop.seen[self.job.name] = (len(selected), watched)
        if not selected:
            return self.report
        if not self.sends:
            self._report_dry_run(selected, watched)
            return self.report
        job, cancel = self.job, self.job.current_rules().cancel
        left = max(0, cancel.max_per_cycle - shop.sent)  # the shop's requests this interval
        cancel = dataclasses.replace(cancel, max_per_cycle=left) if shop.sent else cancel
        numbers = [s.posting.posting_number for s in selected]
        plan = plan_cycle(
            selected,
            watched=watched + others_watched,
            cancel=cancel,
            skew=job.client.clock_skew(),
            cycle_error=cycle_error,
            fired=self.store.fired_keys(job.name, numbers),
            shop_selected=others_selected,
        )
        requests = self.report.requests
        try:
            await self._send_planned(plan)
        finally:
            shop.sent += self.report.requests - requests
        return self.report

    async def _send_planned(self, plan: CancelPlan) -> None:
        job = self.job
        if plan.held:
            with self._commit() as alerts:
                for selection, reason in plan.held:
                    self._hold_back(alerts, selection, reason)
        for selection in plan.send:
            if not self._still_sends():  # a reload turned cancelling off: nothing more
                log.info(
                    "cancel_postponed", account=job.name,
                    posting_number=selection.posting.posting_number,
                    reason="cancel.enabled is now false", dry_run=False,
                )  # fmt: skip
                continue
            if self._unreachable:
                log.info(
                    "cancel_postponed", account=job.name,
                    posting_number=selection.posting.posting_number,
                    reason="Ozon is not answering; tried again next cycle", dry_run=False,
                )  # fmt: skip
                continue
            await self._attempt(selection)
        await self._resolve_new_unknowns()

    def _report_dry_run(self, selected: Sequence[CancelSelection], watched: int) -> None:
        """A dry run: journal each selection once as a planned cancellation and report it as
        `would_cancel` (once per deadline), in one commit; nothing is sent."""
        self.report.dry_run = True
        plan = dry_run_plan(selected, watched, self.job.current_rules().cancel)
        reasons = {selection.posting.posting_number: reason for selection, reason in plan}
        with self._commit() as alerts:
            planned = self.store.record_planned(self.job.name, CANCEL, reasons.items(), self.now)
            for selection, reason in plan:
                alerts.add(Event.WOULD_CANCEL, selection.key, selection.posting, reason,
                           dry_run=True)  # fmt: skip
        for number in planned:
            self.report.planned.append(number)
            log.info(
                "cancel_planned", account=self.job.name, posting_number=number,
                reason=reasons[number], dry_run=True,
            )  # fmt: skip

    async def _attempt(self, selection: CancelSelection) -> None:
        """Claim, re-read, check and cancel one selected posting."""
        job, store, listed = self.job, self.store, selection.posting
        number, cancel = listed.posting_number, job.current_rules().cancel
        if store.is_held(number, self.now):
            self._left_alone(None, selection, "held by the seller")
            return
        claim = store.claim_action(
            job.name, number, CANCEL, self.now, dry_run=False, reason=selection.reason,
            client_id=job.client.client_id,
        )  # fmt: skip
        if claim is None:  # another claim is open, unknown or done: never a second request
            log.info(
                "cancel_skipped", account=job.name, posting_number=number,
                reason="already claimed", dry_run=False,
            )  # fmt: skip
            return
        try:
            fresh = await job.client.get(number)
        except OzonError as err:  # nothing sent, nothing for the seller to do: next cycle
            self._unreachable = isinstance(err, OzonTransportError)
            self._skipped(claim, number, f"not sent: the re-read failed, tried next cycle: {err}")
            return
        changed = changed_fields(listed, fresh)
        why_not = not_cancellable_reason(fresh, self.now, job.current_rules())
        if changed or why_not:
            reason = (
                f"not sent: {changed} between listing and re-reading; left alone this cycle"
                if changed
                else f"not sent: {why_not}"
            )
            self._left_alone(claim, selection, reason)
            return
        try:
            reasons = await job.client.cancel_reasons([number])
        except OzonError as err:
            what = "the key lacks the role for" if isinstance(err, OzonAuthError) else "failed:"
            reason = f"not sent: {what} /v1/posting/fbs/cancel-reason ({err})"
            key = refused_key(fresh) if _is_refusal(err) else error_key(fresh)
            self._failed(claim, key, fresh, reason)
            return
        refusal = reason_refusal(reasons, number, cancel.reason_id)
        if refusal is not None:
            self._failed(claim, refused_key(fresh), fresh, refusal)
            return
        stop = self._stop_before_send(number)  # right before the request: live settings
        if stop is not None:
            self._left_alone(claim, selection, stop, f"not sent: {stop}")
            return
        await self._send(claim, selection, fresh)

    def _stop_before_send(self, number: str) -> str | None:
        """Why `number` must not be sent now, asked right before every single request: the
        live `cancel.enabled` (a reload may have turned it off during the cycle), a hold
        (`hold`, `hold --all`) placed meanwhile, and the clock against Ozon's latest Date."""
        if not self._still_sends():
            return "cancel.enabled is now false (the configuration was reloaded)"
        if self.store.is_held(number, self.now):
            return "held by the seller"
        return clock_guard(self.job.client.clock_skew())

    async def _send(self, claim: int, selection: CancelSelection, fresh: Posting) -> None:
        job, number, cancel = self.job, fresh.posting_number, self.job.current_rules().cancel
        self.report.requests += 1
        try:
            await job.client.cancel(number, cancel.reason_id, cancel.reason_message)
        except OzonCancelOutcomeUnknown as err:
            # Journaled as unknown (history: cancel_failed "outcome unknown"); re-read later in
            # this cycle, and alerted only if that does not settle it.
            self.store.finish_action(claim, "unknown", self.now, reason=err.detail)
            self._unknown.append((number, fresh))
            log.warning(
                "cancel_failed", account=job.name, posting_number=number,
                reason=f"outcome unknown: {err.detail}", dry_run=False,
            )  # fmt: skip
            return
        except (OzonRateLimited, OzonNotSent) as err:  # not applied: a later cycle re-reads
            # Not a refusal and nothing to tell the seller: the claim ends `skipped` (history:
            # cancel_skipped), so a later cycle re-reads and re-checks before any new request.
            self._skipped(claim, number, f"not sent, tried again after a re-read: {err}")
            return
        except OzonAuthError as err:
            reason = f"Ozon refused the cancel ({err.status}): the API key lacks the role ({err})"
            self._failed(claim, refused_key(fresh), fresh, reason)
            return
        except OzonAPIError as err:
            key = refused_key(fresh) if _is_refusal(err) else error_key(fresh)
            self._failed(claim, key, fresh, f"Ozon refused the cancel: {err}")
            return
        except (OzonError, ValueError) as err:  # surely never reached Ozon
            self._failed(claim, error_key(fresh), fresh, f"not sent: {err}")
            return
        key = LedgerKey(number, Event.CANCELLED, f"#{claim}")
        self._cancelled(claim, key, as_cancelled(fresh), selection.reason, sent_now=True)

    async def _resolve_new_unknowns(self) -> None:
        """Re-read, later in the same cycle, the postings whose cancel outcome became unknown."""
        known = dict(self._unknown)
        self._unknown.clear()
        if not known:
            return
        for action in self.store.open_actions(self.job.name, client_id=self.job.client.client_id):
            if action.kind == CANCEL and not action.dry_run and action.posting_number in known:
                await self._resolve(action, known[action.posting_number])

    # -- recording: each outcome in one commit with its alert ----------------------------------

    def _finish(self, claim: int, outcome: Literal["done", "failed"], reason: str) -> None:
        self.store.finish_action(claim, outcome, self.now, reason=reason)

    def _cancelled(
        self, claim: int, key: LedgerKey, posting: Posting, reason: str, *, sent_now: bool = False
    ) -> None:
        """The claim is done: record it and its `cancelled` alert together."""
        with self._commit() as alerts:
            self._finish(claim, "done", "" if sent_now else reason)
            alerts.add(Event.CANCELLED, key, posting, reason)
        self.report.cancelled.append(posting.posting_number)
        log.info(
            "posting_cancelled", account=self.job.name, posting_number=posting.posting_number,
            reason=reason, dry_run=False,
        )  # fmt: skip

    def _failed(self, claim: int, key: LedgerKey, posting: Posting, reason: str) -> None:
        """Finish the claim as failed with its `cancel_failed` alert (`key`: a refusal is
        reported once per deadline and not tried again for it; an error once per deadline,
        retried), in one commit."""
        with self._commit() as alerts:
            self._finish(claim, "failed", reason)
            alerts.add(Event.CANCEL_FAILED, key, posting, reason)
        self.report.failed.append(posting.posting_number)
        log.warning(
            "cancel_failed", account=self.job.name, posting_number=posting.posting_number,
            reason=reason, dry_run=False,
        )  # fmt: skip

    def _left_alone(
        self, claim: int | None, selection: CancelSelection, reason: str, journal: str = ""
    ) -> None:
        """Not sent this cycle: finish the claim (if any) as skipped (history:
        `cancel_skipped`, with `journal`, default `reason`) and report `would_cancel` with
        `reason`, in one commit."""
        with self._commit() as alerts:
            if claim is not None:
                self.store.finish_action(claim, "skipped", self.now, reason=journal or reason)
            self._hold_back(alerts, selection, reason)

    def _skipped(self, claim: int, number: str, reason: str) -> None:
        """Decided not to send, nothing the seller must act on: `cancel_skipped`, no alert."""
        self.store.finish_action(claim, "skipped", self.now, reason=reason)
        log.info(
            "cancel_skipped", account=self.job.name, posting_number=number, reason=reason,
            dry_run=False,
        )  # fmt: skip

    def _hold_back(self, alerts: AlertBatch, selection: CancelSelection, reason: str) -> None:
        self.report.held_back[selection.posting.posting_number] = reason
        alerts.add(Event.WOULD_CANCEL, selection.key, selection.posting,
                   f"{selection.reason}; {reason}")  # fmt: skip

    def finish(self) -> None:
        """Log the cycle's cancel summary when anything happened."""
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
                "cancel_finished", account=self.job.name, dry_run=report.dry_run,
                requests=report.requests, **counts,
            )  # fmt: skip
