"""The API keys' expiry: `key_expiring` alerts 7 days ahead, from `/v1/roles`.

Checked once per account and local day (the ledger remembers the day and, per expiry date,
the alert), so `once` on a 5-minute timer and the `run` service's daily job both ask Ozon at
most once a day and alert at most once per key. A key whose role list cannot be read only
warns, once until it can be read again (`key_info_unavailable`, then `key_info_available`):
`run` asks after every cycle, so an outage must not repeat the warning every cycle.

Imports the alerts path, the job, the Ozon client and the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from daemon.alerts import Event, Mark
from daemon.alerts.batch import batch
from daemon.job import AccountJob
from daemon.models import LedgerKey
from daemon.ozon.client import key_expires_soon
from daemon.ozon.errors import OzonError
from daemon.store import Store

__all__ = ["check_key_expiry"]

log = structlog.get_logger(__name__)

_UNAVAILABLE = "key_info_unavailable"  # the finding's key in the job's findings


async def check_key_expiry(
    store: Store, jobs: Sequence[AccountJob], zone: ZoneInfo, now: datetime
) -> list[str]:
    """Ask Ozon when each account's key expires (once per local day) and queue a
    `key_expiring` alert once per expiry date within 7 days. Returns the accounts alerted."""
    alerted = []
    day = now.astimezone(zone).date().isoformat()
    for job in jobs:
        checked = LedgerKey("", Mark.KEY_CHECKED, day)
        if checked in store.fired_keys(job.name, [""]):
            continue  # already asked today
        try:
            info = await job.client.key_info()
        except OzonError as err:
            job.findings.report(
                log, "key_info_unavailable", _UNAVAILABLE, account=job.name, reason=str(err)
            )
            continue
        job.findings.resolved(log, "key_info_available", _UNAVAILABLE, account=job.name)
        with batch(store, job.name, now, routes=job.routes) as alerts:
            alerts.mark([checked])
            if info.expires_at is not None and key_expires_soon(info, now):
                reason = (
                    f"the API key of account {job.name} expires "
                    f"{info.expires_at:%Y-%m-%d %H:%M} UTC; create a new one in the seller "
                    "account (Settings > Seller API) and put it in the config"
                )
                key = LedgerKey("", Event.KEY_EXPIRING, info.expires_at.isoformat())
                alerts.note(Event.KEY_EXPIRING, reason, key=key)
        if alerts.counts:
            alerted.append(job.name)
    return alerted
