"""The cancellation executor: re-read, guards, claim, send, record (issues 7, 15 and 20).

One `CancelExecutor` per account and cycle (the engine drives it around `run_cycle`); it
builds on `daemon.cancel_outcome.CancelOutcomes`, which records every outcome with its alert
and settles claims of unknown outcome (`resolve_unknown`, at the start of every cycle).

    execute(selected)   after a complete listing, on the policy's selections (soonest first),
                        less those a request of the shop may have reached already.
                        `sends` is THE dry-run decision, made here at the side effect: false
                        (cancel.enabled false or --dry-run) journals each selection once as
                        planned and reports it as `would_cancel`, sending nothing. Otherwise
                        `plan_cycle` (daemon.cancel_plan; `max_per_cycle` less what the
                        shop sent earlier in the poll interval; with respect_advice, the
                        postings the ship-or-cancel advice says to ship are held back), then
                        per posting: hold? -> `get` -> unchanged since the listing? -> still
                        selected? -> advice still not "ship"? -> the first configured reason
                        Ozon allows -> right before the request: live `enabled`, hold /
                        hold --all, clock -> claim (compare-and-set per Client-Id) ->
                        `cancel` -> record. Not sent: `cancel_skipped` in the journal (with a
                        `cancel_failed` alert once per deadline when the seller must act)
    finish()            logs the cycle's cancel summary

A cancel request is never sent twice. The claim is made right before the request, nothing
awaited in between, so a claim is a request that may have reached Ozon: one left open by a
killed process is an unknown outcome. Once a request may have reached Ozon (a claim done,
open, or of unknown outcome, even one settled since as not applied), the store refuses every
new claim on the posting by the shop (its Client-Id, under any account name); only a request
known not to have been applied (Ozon's clear refusal, a 429, never sent) may be followed by
another, in a later cycle after a new re-read. Alerts are deduplicated by ledger keys:
`would_cancel` once per posting and deadline (and once more when the advice holds it back), a
refusal once per posting and deadline (and no new attempt for it), an unknown outcome once
per attempt and its closing as not applied once.

The ship-or-cancel advice (`daemon.advice`) needs Ozon's error index and ratings: read once per
cycle, only when a cancel is about to be sent with respect_advice on (a 403 or a failed read is
no number: the advice then says "decide" unless the posting's own tariff says "ship").

Never raises for Ozon errors (a 403 on cancel is `cancel_failed`, not an account failure); store
errors propagate. Imports the advice, the alerts path, `daemon.cancel_plan`,
`daemon.cancel_outcome`, the job, ozon, store, policy and models; never the cycle, config, the
engine or the CLI.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

import structlog

from daemon.advice import advise, holds_back_cancel
from daemon.alerts import Event
from daemon.cancel_outcome import CANCEL, SETTLE, CancelOutcomes
from daemon.cancel_plan import (
    CancelPlan,
    CancelReport,
    ShopPeriod,
    advice_key,
    as_cancelled,
    changed_fields,
    choose_reason,
    clock_guard,
    dry_run_plan,
    error_key,
    not_cancellable_reason,
    plan_cycle,
    refused_key,
)
from daemon.job import AccountJob
from daemon.models import AccessDenied, ErrorIndex, LedgerKey, Posting, RatingSummary
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
from daemon.store import Store

__all__ = ["CANCEL", "SETTLE", "CancelExecutor"]

log = structlog.get_logger(__name__)

Ratings = tuple[ErrorIndex | AccessDenied | None, RatingSummary | AccessDenied | None]
T = TypeVar("T")


def _is_refusal(err: OzonError) -> bool:
    """True for Ozon's own "no" (not a busy signal): no new attempt for the same deadline."""
    return isinstance(err, OzonAPIError) and not isinstance(err, OzonRateLimited)


class CancelExecutor(CancelOutcomes):
    """The cancellation work of one account in one cycle; see the module docstring."""

    def __init__(self, store: Store, job: AccountJob, now: datetime) -> None:
        super().__init__(store, job, now)
        self._unknown: list[tuple[str, Posting]] = []
        self._ratings: Ratings | None = None  # read once per cycle, when the advice needs it

    @property
    def sends(self) -> bool:
        """True when cancel requests are sent; False is a dry run. Decided here only."""
        return self.job.current_rules().cancel.enabled and not self.job.dry_run

    def _still_sends(self) -> bool:
        """`sends` asked again now (a method: the live setting may change between calls)."""
        return self.sends

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
        # A posting a cancel request of ours may have reached (done, open, or of unknown
        # outcome, even settled since as not applied) is no candidate: it is never sent
        # again, so it must not take a place of max_per_cycle from the others.
        reached = self.store.acted_among(
            self.job.name, [s.posting.posting_number for s in selected], CANCEL,
            client_id=self.job.client.client_id,
        )  # fmt: skip
        if reached:
            selected = [s for s in selected if s.posting.posting_number not in reached]
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
        guarded = functools.partial(
            plan_cycle, selected, watched=watched + others_watched, cancel=cancel,
            skew=job.client.clock_skew(), cycle_error=cycle_error,
            fired=self.store.fired_keys(job.name, numbers), shop_selected=others_selected,
        )  # fmt: skip
        plan = guarded()
        if plan.send and cancel.respect_advice:  # Ozon's numbers are read only when needed
            advised = {}
            for selection in selected:
                why = await self._advice_says_ship(selection.posting)
                if why is not None:
                    advised[selection.posting.posting_number] = why
            if advised:
                plan = guarded(advised=advised)
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
        for selection, reason in plan.advised:
            self._advised(selection, reason)
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

    # -- the ship-or-cancel advice ------------------------------------------------------------

    async def _advice_says_ship(self, posting: Posting) -> str | None:
        """Why the ship-or-cancel advice holds `posting` back (it says "ship"), or None."""
        if self._ratings is None:
            self._ratings = (await self._read(self.job.client.error_index),
                             await self._read(self.job.client.rating_summary))  # fmt: skip
        advice = advise(posting, self.now, *self._ratings)
        if not holds_back_cancel(advice):
            return None
        return f"the ship-or-cancel advice says ship ({advice.reason}); respect_advice is on"

    async def _read(self, method: Callable[[], Awaitable[T]]) -> T | None:
        """One of Ozon's rating reads for the advice; None when it failed (no number)."""
        try:
            return await method()
        except OzonError as err:  # the postings' own re-reads find out whether Ozon answers
            log.debug("advice_facts_unread", account=self.job.name, reason=str(err))
            return None

    def _advised(self, selection: CancelSelection, reason: str) -> None:
        """Held back by the advice: `cancel_skipped` with `reason` in the journal and one
        `would_cancel` saying so, once per posting and deadline."""
        posting = selection.posting
        key = advice_key(posting)
        new = self._is_new(key)
        self.report.held_back[posting.posting_number] = reason
        with self._commit() as alerts:
            if new:
                self.store.record_skipped(
                    self.job.name, posting.posting_number, CANCEL, self.now,
                    reason=f"not sent: {reason}",
                )  # fmt: skip
            alerts.add(
                Event.WOULD_CANCEL, key, posting, f"{selection.reason}; not cancelled: {reason}"
            )
        self._log(new, "cancel_skipped", posting.posting_number, reason, warn=False)

    # -- one posting --------------------------------------------------------------------------

    async def _attempt(self, selection: CancelSelection) -> None:
        """Re-read, check and cancel one selected posting; claimed right before the request."""
        job, store, listed = self.job, self.store, selection.posting
        number, cancel = listed.posting_number, job.current_rules().cancel
        if store.is_held(number, self.now):
            self._left_alone(selection, "held by the seller")
            return
        try:
            fresh = await job.client.get(number)
        except OzonError as err:  # nothing sent, nothing for the seller to do: next cycle
            self._unreachable = isinstance(err, OzonTransportError)
            self._skipped(None, number, f"not sent: the re-read failed, tried next cycle: {err}")
            return
        changed = changed_fields(listed, fresh)
        why_not = not_cancellable_reason(fresh, self.now, job.current_rules())
        if changed or why_not:
            reason = (
                f"not sent: {changed} between listing and re-reading; left alone this cycle"
                if changed
                else f"not sent: {why_not}"
            )
            self._left_alone(selection, reason, journal=reason)
            return
        if job.current_rules().cancel.respect_advice:  # live: a reload may have turned it on
            ship = await self._advice_says_ship(fresh)
            if ship is not None:
                self._advised(selection, ship)
                return
        try:
            reasons = await job.client.cancel_reasons([number])
        except OzonError as err:
            what = "the key lacks the role for" if isinstance(err, OzonAuthError) else "failed:"
            reason = f"not sent: {what} /v1/posting/fbs/cancel-reason ({err})"
            key = refused_key(fresh) if _is_refusal(err) else error_key(fresh)
            self._not_sent(None, key, fresh, reason)
            return
        reason_id, refusal = choose_reason(reasons, number, cancel.reasons)
        if reason_id is None:  # decided against: nothing sent; told once per deadline
            self._not_sent(None, refused_key(fresh), fresh, refusal)
            return
        stop = self._stop_before_send(number)  # right before the request: live settings
        if stop is not None:
            self._left_alone(selection, stop, journal=f"not sent: {stop}")
            return
        # The claim is made right before the request, nothing awaited in between: an open
        # claim found later (the process was killed) is a request that may have reached Ozon.
        claim = store.claim_action(
            job.name, number, CANCEL, self.now, dry_run=False, reason=selection.reason,
            client_id=job.client.client_id,
        )  # fmt: skip
        if claim is None:  # another request may have reached Ozon: never a second one
            log.info(
                "cancel_skipped", account=job.name, posting_number=number,
                reason="already claimed", dry_run=False,
            )  # fmt: skip
            return
        await self._send(claim, selection, fresh, reason_id)

    def _stop_before_send(self, number: str) -> str | None:
        """Why `number` must not be sent now, asked right before every single request: the
        live `cancel.enabled` (a reload may have turned it off during the cycle), a hold
        (`hold`, `hold --all`) placed meanwhile, and the clock against Ozon's latest Date."""
        if not self._still_sends():
            return "cancel.enabled is now false (the configuration was reloaded)"
        if self.store.is_held(number, self.now):
            return "held by the seller"
        return clock_guard(self.job.client.clock_skew())

    async def _send(
        self, claim: int, selection: CancelSelection, fresh: Posting, reason_id: int
    ) -> None:
        job, number, cancel = self.job, fresh.posting_number, self.job.current_rules().cancel
        self.report.requests += 1
        try:
            await job.client.cancel(number, reason_id, cancel.reason_message)
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
        except OzonAPIError as err:  # Ozon's clear "no": not applied
            self._failed(claim, refused_key(fresh), fresh, f"Ozon refused the cancel: {err}")
            return
        except (OzonError, ValueError) as err:  # surely never reached Ozon
            self._not_sent(claim, error_key(fresh), fresh, f"not sent: {err}")
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
