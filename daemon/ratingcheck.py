"""Ozon's numbers about the seller, once per account and local day: the ratings
(`/v1/rating/summary`) and the FBS error index (`/v1/rating/index/fbs/info`), kept in the store
for the ship-or-cancel advice (`daemon.alert_facts`, `status --json`) and the daily digest.

A key without the rating role gets 403: that is kept as the answer (the advice says "no rating
role"), said once in the digest and never an `api_error`. Any other failure only warns and is
retried on a later cycle (the day is recorded as read only when both methods answered). Like
the key check, `once` on a timer and the `run` service ask Ozon at most once a day.

`digest_ratings(store, account, now)` is the digest's part: the ratings, the error index with
its zone, a denial not said yet, and per warehouse over `FIGURES_WINDOW` the postings shipped,
shipped late, cancelled by ozon-sync and cancelled elsewhere (local history).

Imports the alerts path, the job, the advice's fee bands, the Ozon client's errors, the models
and the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from daemon.advice import fee_band, index_percent
from daemon.alerts import Mark
from daemon.alerts.batch import mark
from daemon.job import AccountJob
from daemon.models import AccessDenied, ErrorIndex, LedgerKey, RatingSummary
from daemon.ozon.errors import OzonError, OzonUnavailable
from daemon.policy_keys import rfc3339
from daemon.store import Store

__all__ = ["DIGEST_RATINGS", "FIGURES_WINDOW", "digest_ratings", "read_ratings_if_due"]

log = structlog.get_logger(__name__)

FIGURES_WINDOW = timedelta(days=14)
# The ratings the digest shows: cancellations and shipment delays (FBS, 7 days).
DIGEST_RATINGS = ("rating_order_cancellation", "rating_shipment_delay")


async def read_ratings_if_due(
    store: Store, jobs: Sequence[AccountJob], zone: ZoneInfo, now: datetime
) -> list[str]:
    """Read every account's ratings and error index once per local day (a 403 is an answer:
    the key lacks the role) and keep them. Returns the accounts read in full this time."""
    done = []
    day = now.astimezone(zone).date().isoformat()
    for job in jobs:
        key = LedgerKey("", Mark.RATINGS_READ, day)
        if key in store.fired_keys(job.name, [""]):
            continue
        summary: RatingSummary | AccessDenied | None = None
        index: ErrorIndex | AccessDenied | None = None
        try:
            summary = await job.client.rating_summary()
            index = await job.client.error_index()
        except OzonUnavailable as err:  # an outage: its own lines say so; ask on a later cycle
            log.debug("ratings_unavailable", account=job.name, reason=str(err))
        except OzonError as err:  # not a 403 and not an outage: said once, asked again later
            job.findings.report(
                log, "ratings_unavailable", "ratings_unavailable", account=job.name,
                reason=str(err),
            )  # fmt: skip
        store.record_ratings(job.name, summary, index, now)
        if summary is None or index is None:
            continue
        mark(store, job.name, [key], now)
        log.info(
            "ratings_read",
            account=job.name,
            summary="403" if isinstance(summary, AccessDenied) else "ok",
            error_index="403" if isinstance(index, AccessDenied) else index.index,
        )
        done.append(job.name)
    return done


def digest_ratings(store: Store, account: str, now: datetime) -> dict[str, Any]:
    """The digest's view of Ozon's numbers for `account` (see the module docstring), as
    payload data; marks a denial it reports as said (call it inside the digest's batch)."""
    kept = store.account_ratings(account)
    part: dict[str, Any] = {}
    if isinstance(kept.summary, RatingSummary):
        part["ratings"] = [
            {
                "rating": item.rating,
                "value": item.value,
                "past_value": item.past_value,
                "status": item.status,
                "value_type": item.value_type,
                "change_meaning": item.change_meaning,
            }
            for name in DIGEST_RATINGS
            if (item := kept.summary.get(name)) is not None
        ]
    if isinstance(kept.index, ErrorIndex):
        percent = index_percent(kept.index.index)
        part["error_index"] = {
            "percent": round(percent, 2),
            "zone": fee_band(percent).zone,
            "fee_percent": float(fee_band(percent).fee_percent),
            "period_from": _day(kept.index.period_from),
            "period_to": _day(kept.index.period_to),
            "fees": kept.index.processing_costs_sum,
            "currency": kept.index.currency,
        }
    denied = store.unnoted_denials(account)
    if denied:
        part["denied"] = [item.path for item in denied]
        store.mark_denials_noted(account)
    if kept.read_at is not None:
        part["read_at"] = rfc3339(kept.read_at)
    figures = store.warehouse_figures(account, now - FIGURES_WINDOW, now)
    return {"ozon": part, "warehouses": [item.as_json() for item in figures]}


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
