"""A precise wake-up of one account: decide only for the postings whose threshold is crossing
now (a reminder step, a deadline, an escalation, a tariff step...), between two full cycles.

Re-reads just them (one `get` each, or one narrow listing when many cross together), caches
them and stages their alerts through the cycle's own batch path (`daemon.cycle.Cycle`), so a
wake-up decides exactly as a cycle would. Departures, cancellation and the sync state stay with
the full cycle. Imports the cycle, the job, ozon errors, policy and the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog

from daemon import policy
from daemon.cycle import Cycle, CycleResult
from daemon.job import AccountJob
from daemon.models import Posting
from daemon.ozon.errors import OzonError
from daemon.store import Store

__all__ = ["run_focused"]

log = structlog.get_logger("daemon.cycle")

FOCUS_GETS = 10  # a wake-up re-reads up to this many postings one by one, more by one listing
FOCUS_MARGIN = timedelta(minutes=1)  # around the deadlines of a wake-up's narrow listing


async def _focused(cycle: Cycle, numbers: Sequence[str]) -> None:
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
    await cycle.page([p for p in fresh if policy.is_watched(p, job.rules)])


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
    cycle = Cycle(store, job, now())
    try:
        await _focused(cycle, numbers)
    except OzonError as err:
        cycle.result.error = err
    cycle.result.selected = tuple(cycle.selected)
    result = cycle.result
    result.duration = time.monotonic() - started
    log.info(
        "wakeup_finished", account=job.name, postings=len(numbers), reread=result.reread,
        alerts=result.alerts, duration=round(result.duration, 3),
        error=str(result.error) if result.error else None,
    )  # fmt: skip
    return result
