"""What follows a cycle, written once for `once`, `run` and `demo`, so the three cannot drift:

    ratings     each account's ratings and error index, once per local day (daemon.ratingcheck)
    digest      today's digest of each account, once it is due (daemon.digest)
    key expiry  every account's key, asked once per local day (daemon.keycheck)
    pruning     records older than keep_history, once per local day (daemon.upkeep)
    delivery    the outbox to the notification routes (daemon.notify.outbox)
    heartbeat   the dead man's switch, when configured (daemon.health)

Each step is cheap when it is not due (a ledger look-up), so `run` calls this after every
cycle and at `digest_at`. Never raises for Ozon or route trouble; store errors propagate.

Imports config (the `[daemon]` section), ratingcheck, digest, keycheck, upkeep, notify,
health, job and store; nothing imports it but the CLI, the service and the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from daemon.config import DaemonSection
from daemon.digest import queue_due_digests
from daemon.health import Heartbeat
from daemon.job import AccountJob
from daemon.keycheck import check_key_expiry
from daemon.notify.outbox import Outbox
from daemon.ratingcheck import read_ratings_if_due
from daemon.store import Store
from daemon.upkeep import prune_if_due

__all__ = ["after_cycle"]


async def after_cycle(
    store: Store,
    jobs: Sequence[AccountJob],
    settings: DaemonSection,
    outbox: Outbox,
    now: Callable[[], datetime],
    *,
    heartbeat: Heartbeat | None = None,
    ok: bool = True,
    error: str | None = None,
) -> None:
    """Run the steps after a cycle for every account of `jobs`: ratings, digest, key expiry,
    pruning, delivery, then (when `heartbeat` is given) a ping saying `ok`, or failed with
    `error`."""
    await read_ratings_if_due(store, jobs, settings.zone, now())
    queue_due_digests(store, jobs, settings.zone, settings.digest_at, now())
    await check_key_expiry(store, jobs, settings.zone, now())
    await prune_if_due(store, settings.keep_history, settings.zone, now())
    await outbox.deliver_due()
    if heartbeat is not None:
        await heartbeat.ping(ok, error)
