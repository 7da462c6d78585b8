"""The daily digest: once per account and local day, at `digest_at` in the configured zone.

A digest is due when the local time has reached `digest_at` and today's digest of that account
is not in the ledger yet; `once` and the `run` service both call `queue_due_digests`, so a
systemd timer running `once` loses none. The counts come from the state cache.

Imports cycle (queue_alert), store and the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from daemon.cycle import AccountJob, queue_alert
from daemon.store import AlertKey, Store

__all__ = ["digest_key", "queue_due_digests"]


def digest_key(local_day: str) -> AlertKey:
    """The ledger key of one account's digest for a local day ("2026-11-26")."""
    return AlertKey("", "digest", local_day)


def queue_due_digests(
    store: Store, jobs: Sequence[AccountJob], zone: ZoneInfo, digest_at: time, now: datetime
) -> list[str]:
    """Queue today's digest for every account whose digest is due and not yet queued.

    Returns the names of the accounts a digest was queued for.
    """
    local = now.astimezone(zone)
    if local.time().replace(tzinfo=None) < digest_at:
        return []
    queued = []
    for job in jobs:
        key = digest_key(local.date().isoformat())
        with store.transaction():
            if not store.record_alert_keys(job.name, [key], now):
                continue
            counts = store.digest_counts(job.name, now)
            payload = {
                "event": "digest",
                "account": job.name,
                "total": 0,
                "postings": [],
                "digest": {
                    "watched": counts.watched,
                    "due_24h": counts.due_within_24h,
                    "overdue": counts.overdue,
                    "cancelled_24h": counts.cancelled_last_24h,
                    "shipped_late_24h": counts.shipped_late_last_24h,
                    "late_share_14d": counts.late_share_14d,
                },
            }
            reason = (
                f"{counts.watched} watched, {counts.overdue} overdue, "
                f"{counts.due_within_24h} due within 24h"
            )
            queue_alert(store, job, "digest", (), payload, reason, now)
        queued.append(job.name)
    return queued
