"""Database upkeep: records older than `keep_history` are pruned, at most once per local day.

`once` (on a timer) and the `run` service's daily job both call `prune_if_due`; the ledger
remembers the day, so a 5-minute timer prunes once a day, not every run.

Imports the store, the alerts path (the ledger) and the standard library.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from daemon.alerts import Mark
from daemon.alerts.batch import mark
from daemon.models import LedgerKey
from daemon.store import PruneResult, Store

__all__ = ["prune_if_due"]

log = structlog.get_logger(__name__)
UPKEEP_ACCOUNT = ""  # ledger rows of the daemon itself, not of an account


async def prune_if_due(
    store: Store, keep_history: timedelta, zone: ZoneInfo, now: datetime
) -> PruneResult | None:
    """Prune records older than `now - keep_history` unless already done this local day.

    Returns what was pruned, or None when it was not due.
    """
    key = LedgerKey("", Mark.PRUNED, now.astimezone(zone).date().isoformat())
    if key in store.fired_keys(UPKEEP_ACCOUNT, [""]):
        return None
    result = await asyncio.to_thread(store.prune, now - keep_history)
    mark(store, UPKEEP_ACCOUNT, [key], now)
    log.info("pruned", rows=result.total, counts=result.counts)
    return result
