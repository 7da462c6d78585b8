"""What became of cancel requests: each outcome recorded with the alert it causes, and claims
whose outcome is unknown settled by re-reading their posting (issues 7 and 15).

`CancelOutcomes` is one account at one moment; the executor (`daemon.cancel`) builds on it,
and the `run` service's settling re-reads use it alone:

    resolve_unknown()   each open cancel claim of the shop that this account settles (its own;
                        one of an entry no longer in the config, by the entry watching the
                        posting's warehouse) is re-read with `get` (a claim the process left
                        without an outcome is first marked unknown: the claim is made right
                        before the request, so it may have reached Ozon): cancelled by the
                        seller -> done + `cancelled` (the cached posting too); still open
                        within SETTLE (10 min) of the claim, or an unclear read (a 404 too) ->
                        stays unknown; not cancelled after SETTLE -> failed, "not applied",
                        told once (urgent `cancel_failed`: the outcome is unknown, the status
                        Ozon shows, it is never sent again, cancel it by hand or ship it)
    next_read()         when the next settling re-read is due: SETTLE_READS after each open
                        claim (about +10 s, +1 min, +5 min); the cycles re-read it after that

A request that may have reached Ozon is never followed by another: the store refuses a new
claim after a claim whose outcome was ever unknown. Every outcome is one commit with its alert
(`daemon.alerts.batch`); a confirmed cancel also marks the cached posting cancelled and no
longer watched in that commit, so `status` and the board agree with `history` at once. The
seller is told once per finding (the alert's ledger key), and the log says it as a warning
once, then at debug level: a finding that repeats every re-read or cycle is no news.

Never raises for Ozon errors; store errors propagate. Imports the alerts path,
`daemon.cancel_plan`, the job, ozon errors, store, policy and models; never the cycle, config,
the engine or the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Literal

import structlog

from daemon.alerts import Event
from daemon.alerts.batch import AlertBatch, batch
from daemon.cancel_plan import CancelReport, is_cancelled
from daemon.job import AccountJob
from daemon.models import LedgerKey, Posting
from daemon.ozon.errors import OzonError, OzonTransportError
from daemon.policy import CancelSelection
from daemon.policy_keys import rfc3339
from daemon.store import Action, Store

__all__ = ["CANCEL", "SETTLE", "SETTLE_READS", "CancelOutcomes"]

log = structlog.get_logger(__name__)

CANCEL = "cancel"  # the action journal's kind
NOT_AGAIN = "will not send it again"  # said when a request of unknown outcome was not applied
# How long after the claim an unknown outcome stays open while the posting still looks open:
# Ozon may apply a cancel late. Only then is it "did not take effect" (issue 15).
SETTLE = timedelta(minutes=10)
# When the `run` service re-reads an open claim, counted from the claim; then the cycles do.
SETTLE_READS = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5))


def _window() -> str:
    """SETTLE as words ("10-minute")."""
    return f"{int(SETTLE.total_seconds() // 60)}-minute"


class CancelOutcomes:
    """Recording and settling the cancel outcomes of one account at `now`."""

    def __init__(self, store: Store, job: AccountJob, now: datetime) -> None:
        self.store = store
        self.job = job
        self.now = now
        self.report = CancelReport(account=job.name)
        # Set when Ozon gave no answer after retries: the rest waits for the next cycle instead
        # of costing one `retry_for` each.
        self._unreachable = False

    @contextmanager
    def _commit(self) -> Iterator[AlertBatch]:
        """One transaction: the outcome written in the block and the alerts it adds."""
        with batch(self.store, self.job.name, self.now) as alerts:
            yield alerts

    def _is_new(self, key: LedgerKey, also: str = "") -> bool:
        """True when `key` is not in the ledger of this account (nor of account `also`, the
        claim's own account when another entry settles it): a finding not told yet."""
        number = key.posting_number
        for account in dict.fromkeys((self.job.name, also or self.job.name)):
            if tuple(key) in self.store.fired_keys(account, [number]):
                return False
        return True

    def _log(self, new: bool, event: str, number: str, reason: str, *, warn: bool = True) -> None:
        """A finding about a posting: a warning (or info) the first time, debug after that."""
        emit = (log.warning if warn else log.info) if new else log.debug
        emit(event, account=self.job.name, posting_number=number, reason=reason, dry_run=False)

    # -- unknown outcomes ---------------------------------------------------------------------

    def open_claims(self) -> list[Action]:
        """The shop's open (unknown-outcome) cancel claims this account settles: its own, and
        those of an entry no longer in the config (renamed or removed) when this account
        watches the posting's warehouse (any, without warehouse_ids or a cached posting); a
        claim of another entry in the config is that entry's."""
        job, claims = self.job, []
        for action in self.store.open_actions(job.name, client_id=job.client.client_id):
            if action.kind != CANCEL:
                continue
            if action.account != job.name:
                if action.account in job.shop:
                    continue  # that entry settles it
                cached = self.store.posting(action.posting_number, self.now, account=action.account)
                warehouse = None if cached is None else cached.posting.warehouse_id
                if job.warehouse_ids and warehouse not in (None, *job.warehouse_ids):
                    continue  # another entry watches its warehouse
            claims.append(action)
        return claims

    def next_read(self) -> datetime | None:
        """When the next settling re-read of this account's open claims is due (one of
        SETTLE_READS after a claim, later than now), or None when none is."""
        due = [
            action.claimed_at + after
            for action in self.open_claims()
            if not action.dry_run
            for after in SETTLE_READS
            if action.claimed_at + after > self.now
        ]
        return min(due, default=None)

    async def resolve_unknown(self) -> None:
        """Settle every open cancel claim this account settles by re-reading its posting."""
        for action in self.open_claims():
            if self._unreachable:
                return
            if action.dry_run:  # a dry-run claim never sent anything
                self.store.finish_action(action.id, "done", self.now)
                continue
            if action.outcome is None:  # the process stopped between the claim and the answer
                # The claim is made right before the request: it may have reached Ozon.
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
            self._cancelled(action.id, key, fresh, reason, claimed_by=action.account)
            return
        if self.now < action.claimed_at + SETTLE:  # Ozon may still apply it: stays unknown
            self.report.unknown.append(number)
            reason = (
                f"outcome unknown; still {fresh.status}: Ozon may still apply it, re-reading "
                f"until {rfc3339(action.claimed_at + SETTLE)}"
            )
            key = LedgerKey(number, Event.CANCEL_FAILED, f"unknown#{action.id}")
            new = self._is_new(key, action.account)
            self._log(new, "cancel_settling", number, reason, warn=False)
            if new:
                with self._commit() as alerts:  # told once per attempt
                    alerts.add(Event.CANCEL_FAILED, key, fresh, reason)
            return
        # The window is over and Ozon does not show it cancelled: not applied. The request may
        # still have reached Ozon, so it is never sent again (the store refuses a new claim):
        # the seller decides, told once.
        state = fresh.status + (f" ({fresh.substatus})" if fresh.substatus else "")
        if fresh.can_cancel and fresh.status in job.current_rules().cancel.statuses:
            reason = (
                f"not applied: the outcome of the cancel request sent at "
                f"{rfc3339(action.claimed_at)} is unknown ({action.outcome_reason}), and after "
                f"the {_window()} settling window Ozon still shows it {state}; ozon-sync "
                f"{NOT_AGAIN}: cancel it in the seller portal or ship it"
            )
        else:
            reason = (
                f"outcome unknown; a re-read shows it {state}: not cancelled; ozon-sync {NOT_AGAIN}"
            )
        key = LedgerKey(number, Event.CANCEL_FAILED, f"not-applied#{action.id}")
        self._failed(action.id, key, fresh, reason, claimed_by=action.account)

    def _unresolved(self, action: Action, known: Posting | None, err: OzonError) -> None:
        """The re-read of an unknown outcome failed too: report it (once per attempt) and
        re-read later."""
        number = action.posting_number
        reason = (
            f"outcome unknown ({action.outcome_reason}); the re-read failed too ({err}), "
            "re-reading later"
        )
        self.report.unknown.append(number)
        key = LedgerKey(number, Event.CANCEL_FAILED, f"unknown#{action.id}")
        new = self._is_new(key, action.account)
        self._log(new, "cancel_failed", number, reason)
        if known is None:
            cached = self.store.posting(number, self.now, account=self.job.name)
            cached = cached or self.store.posting(number, self.now, account=action.account)
            known = None if cached is None else cached.posting
        if new:  # told once (without a posting to show, only marked: logged once)
            with self._commit() as alerts:
                if known is not None:
                    alerts.add(Event.CANCEL_FAILED, key, known, reason)
                else:
                    alerts.mark([key])

    # -- recording: each outcome in one commit with its alert ----------------------------------

    def _finish(self, claim: int, outcome: Literal["done", "failed"], reason: str) -> None:
        self.store.finish_action(claim, outcome, self.now, reason=reason)

    def _cancelled(
        self,
        claim: int,
        key: LedgerKey,
        posting: Posting,
        reason: str,
        *,
        sent_now: bool = False,
        claimed_by: str = "",
    ) -> None:
        """The claim is done: record it, its `cancelled` alert and the cached posting as Ozon
        now shows it (cancelled, no longer watched; of this account and of the claim's own,
        `claimed_by`) together, so `status`, the board and `history` agree at once."""
        with self._commit() as alerts:
            self._finish(claim, "done", "" if sent_now else reason)
            for account in dict.fromkeys((self.job.name, claimed_by or self.job.name)):
                self.store.mark_departed(account, [posting], self.now)
            alerts.add(Event.CANCELLED, key, posting, reason)
        self.report.cancelled.append(posting.posting_number)
        log.info(
            "posting_cancelled", account=self.job.name, posting_number=posting.posting_number,
            reason=reason, dry_run=False,
        )  # fmt: skip

    def _failed(
        self, claim: int, key: LedgerKey, posting: Posting, reason: str, *, claimed_by: str = ""
    ) -> None:
        """Finish the claim (of account `claimed_by`, default this one) as failed with its
        `cancel_failed` alert (`key`: a refusal is reported once per deadline and not tried
        again for it), in one commit. A warning in the log the first time the key is seen."""
        new = self._is_new(key, claimed_by)
        with self._commit() as alerts:
            self._finish(claim, "failed", reason)
            alerts.add(Event.CANCEL_FAILED, key, posting, reason)
        self.report.failed.append(posting.posting_number)
        self._log(new, "cancel_failed", posting.posting_number, reason)

    def _left_alone(self, selection: CancelSelection, reason: str, *, journal: str = "") -> None:
        """Not sent this cycle: report `would_cancel` with `reason` and, when `journal` is
        given, journal it (history: `cancel_skipped` with `journal`), in one commit."""
        with self._commit() as alerts:
            if journal:
                self.store.record_skipped(
                    self.job.name, selection.posting.posting_number, CANCEL, self.now,
                    reason=journal,
                )  # fmt: skip
            self._hold_back(alerts, selection, reason)

    def _skipped(self, claim: int | None, number: str, reason: str) -> None:
        """Decided not to send (or sent nothing: a 429, no connection), nothing the seller
        must act on: `cancel_skipped` (the claim, if any, ends skipped), no alert."""
        if claim is None:
            self.store.record_skipped(self.job.name, number, CANCEL, self.now, reason=reason)
        else:
            self.store.finish_action(claim, "skipped", self.now, reason=reason)
        log.info(
            "cancel_skipped", account=self.job.name, posting_number=number, reason=reason,
            dry_run=False,
        )  # fmt: skip

    def _not_sent(self, claim: int | None, key: LedgerKey, posting: Posting, reason: str) -> None:
        """No request was sent, and the seller must act (a cancel reason Ozon does not allow,
        a key without the role, a bad setting): `cancel_skipped` with `reason` in the journal
        (the claim, if any, ends skipped) and one `cancel_failed` alert per `key`, in one
        commit. A warning in the log the first time the key is seen."""
        new = self._is_new(key)
        number = posting.posting_number
        with self._commit() as alerts:
            if claim is None:
                self.store.record_skipped(self.job.name, number, CANCEL, self.now, reason=reason)
            else:
                self.store.finish_action(claim, "skipped", self.now, reason=reason)
            alerts.add(Event.CANCEL_FAILED, key, posting, reason)
        self.report.failed.append(number)
        self._log(new, "cancel_skipped", number, reason)

    def _hold_back(self, alerts: AlertBatch, selection: CancelSelection, reason: str) -> None:
        self.report.held_back[selection.posting.posting_number] = reason
        alerts.add(Event.WOULD_CANCEL, selection.key, selection.posting,
                   f"{selection.reason}; {reason}")  # fmt: skip

    def finish(self) -> None:
        """Log the cancel summary when anything happened."""
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
