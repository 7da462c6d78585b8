"""`ozon-sync once`: exactly one full cycle for every account, then what follows a cycle.

    open the engine -> one cycle of every account (concurrently; see daemon.engine)
    -> the after-cycle pipeline (daemon.aftercycle): digest, key expiry of every account,
       pruning, delivery, and a heartbeat ping saying whether every account succeeded

The process tuning (`engine.tune_gc`) and the exit code are the CLI's. Imports the engine,
the after-cycle pipeline, config, health, notify and store.
"""

from __future__ import annotations

from daemon.aftercycle import after_cycle
from daemon.config import Config, ResolvedSecrets
from daemon.engine import Engine, OnceOutcome, utc_now
from daemon.health import Heartbeat
from daemon.notify.outbox import Outbox
from daemon.store import Store

__all__ = ["run_once"]


async def run_once(
    config: Config, secrets: ResolvedSecrets, store: Store, *, dry_run: bool = False
) -> OnceOutcome:
    """One cycle of every account of `config` against the open `store`, then the after-cycle
    pipeline; returns every account's result. Never raises for Ozon or route trouble."""
    daemon = config.daemon
    url = secrets.heartbeat_url  # timer users get the dead man's switch too
    heartbeat = Heartbeat(url.reveal()) if url is not None else None
    try:
        async with Engine(config, secrets, store, dry_run=dry_run) as engine:
            outcome = await engine.cycle_all()
            outbox = Outbox(
                store, engine.router, zone=daemon.zone, language=daemon.language, now=utc_now,
                calendars=engine.calendars,
            )  # fmt: skip
            failed = outcome.first_failure()
            await after_cycle(
                store, engine.jobs, daemon, outbox, utc_now, heartbeat=heartbeat,
                ok=outcome.ok, error=None if failed is None else str(failed.error),
            )  # fmt: skip
    finally:
        if heartbeat is not None:
            await heartbeat.aclose()
    return outcome
