"""The daily digest: once per account and local day, at `digest_at` in the configured zone.

A digest is due when the local time has reached `digest_at` and today's digest of that account
is not in the ledger yet; `once` and the `run` service both call `queue_due_digests`, so a
systemd timer running `once` loses none. The counts come from the state cache; Ozon's ratings,
the error index and the per-warehouse figures from `daemon.ratingcheck`.

Imports the alerts path, the job, the store, `daemon.ratingcheck` and the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from daemon.alerts import Event
from daemon.alerts.batch import batch
from daemon.closed_days import closed_days
from daemon.job import AccountJob
from daemon.models import LedgerKey
from daemon.ratingcheck import digest_ratings
from daemon.store import Store

__all__ = ["digest_key", "queue_due_digests"]


def digest_key(local_day: str) -> LedgerKey:
    """The ledger key of one account's digest for a local day ("2026-11-26")."""
    return LedgerKey("", Event.DIGEST, local_day)


def queue_due_digests(
    store: Store, jobs: Sequence[AccountJob], zone: ZoneInfo, digest_at: time, now: datetime
) -> list[str]:
    """Queue today's digest for every account whose digest is due and not yet queued. With
    working calendars it also lists each calendar's non-working days in the next 7 days and the
    postings due in or right after them (`daemon.closed_days`).

    Returns the names of the accounts a digest was queued for.
    """
    local = now.astimezone(zone)
    if local.time().replace(tzinfo=None) < digest_at:
        return []
    queued = []
    key = digest_key(local.date().isoformat())
    for job in jobs:
        if key in store.fired_keys(job.name, [""]):
            continue  # today's is queued already
        with batch(store, job.name, now, routes=job.routes) as alerts:
            counts = store.digest_counts(job.name, now)
            digest: dict[str, Any] = {
                "watched": counts.watched,
                "due_24h": counts.due_within_24h,
                "overdue": counts.overdue,
                "cancelled_24h": counts.cancelled_last_24h,
                "shipped_late_24h": counts.shipped_late_last_24h,
                "late_share_14d": counts.late_share_14d,
            }
            digest.update(digest_ratings(store, job.name, now))  # Ozon's numbers, warehouses
            reason = (
                f"{counts.watched} watched, {counts.overdue} overdue, "
                f"{counts.due_within_24h} due within 24h"
            )
            closed = closed_days(store, job.name, job.calendars, job.warehouse_ids, now)
            if closed:  # working calendars: their non-working days ahead (daemon.closed_days)
                digest["closed_days"] = closed
            alerts.note(Event.DIGEST, reason, key=key, digest=digest)
        if alerts.counts:
            queued.append(job.name)
    return queued
