"""One measured job in a fresh process; prints one JSON line with its CPU time and peak RSS.

    python bench/worker.py sync '{"config": "/tmp/x/config.toml"}'
    python bench/worker.py floor_a '{"base_url": ..., "client_id": ..., "api_key": ...}'

Jobs:
- `sync`: ozon-sync's real code as `ozon-sync once` runs it (load the config, open the Store
  file as the writer, the entry point's GC tuning, `daemon.once.run_once`: Engine.cycle_all
  and the after-cycle pipeline, then close), timing each phase; the cycle phase is the sync.
- `floor_a`: fetch every page of the same unfulfilled listing with httpx and json.loads it.
- `floor_b`: fetch every page first (not measured), then json.loads them all (measured).
- `floor_c`: floor A plus a plain sqlite-utils `upsert_all` of every posting, one transaction
  per page, into a fresh database file.

CPU time and peak RSS come from `resource.getrusage(RUSAGE_SELF)` (all threads of the process;
imports and interpreter start are outside the measured span, peak RSS is the process's). The
modules httpx imports lazily (httpcore, h11, anyio's asyncio backend) are imported up front
too, so every job's span starts with the same modules loaded.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio._backends._asyncio  # noqa: F401 - imported lazily by httpx on its first request
import h11  # noqa: F401 - the same
import httpcore  # noqa: F401 - the same
import httpx
from sqlite_utils import Database

from daemon.config import load_config, resolve_secrets
from daemon.cycle import LOOK_AHEAD, LOOK_BACK
from daemon.engine import tune_gc, utc_now
from daemon.logs import configure_logging, register_secrets
from daemon.once import run_once
from daemon.policy import Rules
from daemon.store import Store

UNFULFILLED = "/v4/posting/fbs/unfulfilled/list"


class Meter:
    """CPU (user + system, all threads), wall time and peak RSS of measured spans."""

    def __init__(self) -> None:
        self.spans: dict[str, dict[str, float]] = {}

    def span(self, name: str, work: Callable[[], Any]) -> Any:
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        value = work()
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
        self.spans[name] = {
            "wall": wall,
            "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "user": after.ru_utime - before.ru_utime,
            "system": after.ru_stime - before.ru_stime,
        }
        return value

    def report(self, **extra: Any) -> dict[str, Any]:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"spans": self.spans, "peak_rss_mb": peak_kb / 1024, **extra}


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def listing_body(cursor: str) -> dict[str, Any]:
    """The request ozon-sync's cycle sends (same window, statuses and page size)."""
    now = datetime.now(UTC)
    return {
        "cursor": cursor,
        "limit": 100,
        "sort_dir": "ASC",
        "filter": {
            "cutoff_from": _rfc3339(now - LOOK_BACK),
            "cutoff_to": _rfc3339(now + LOOK_AHEAD),
            "statuses": sorted(Rules().watch_statuses),
        },
    }


def _headers(args: dict[str, Any]) -> dict[str, str]:
    return {
        "Client-Id": args["client_id"],
        "Api-Key": args["api_key"],
        "Content-Type": "application/json",
    }


# ----------------------------------------------------------------------------- ozon-sync


def job_sync(args: dict[str, Any]) -> dict[str, Any]:
    """ozon-sync once, phase by phase (the same calls as daemon.cli.once)."""
    config = load_config(Path(args["config"]))
    configure_logging(config.daemon.log_level, config.daemon.log_format)
    secrets = resolve_secrets(config)
    register_secrets(secrets.all_values())
    meter = Meter()
    store = meter.span("open", lambda: Store.open(config.database_path(), mode="writer"))
    started = utc_now()
    tune_gc()

    async def cycle_and_deliver() -> dict[str, Any]:
        outcome = await run_once(config, secrets, store)
        (result,) = outcome.results
        return {
            "ok": result.ok,
            "error": str(result.error) if result.error else None,
            "listed": result.listed,
            "new": result.new,
            "changed": result.changed,
            "unchanged": result.unchanged,
            "departed": result.departed,
            "reread": result.reread,
            "watched": result.watched,
            "alerts": result.alerts,
            "cycle_seconds": result.duration,
        }

    counts = meter.span("cycle", lambda: asyncio.run(cycle_and_deliver()))
    meter.span("close", store.close)
    with sqlite3.connect(config.database_path()) as db:
        since = started.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the store's timestamp format
        (written,) = db.execute(
            "SELECT count(*) FROM postings WHERE last_changed >= ? OR departed_at >= ?",
            (since, since),
        ).fetchone()
        (cached,) = db.execute("SELECT count(*) FROM postings").fetchone()
    return meter.report(rows_written=written, rows_cached=cached, **counts)


# ----------------------------------------------------------------------------- floors


def job_floor_a(args: dict[str, Any]) -> dict[str, Any]:
    """Fetch every page with httpx and json.loads it, nothing more."""

    async def run() -> tuple[int, int]:
        pages, postings = 0, 0
        cursor = ""
        async with httpx.AsyncClient(base_url=args["base_url"], timeout=60) as http:
            while True:
                body = json.dumps(listing_body(cursor)).encode()
                response = await http.post(UNFULFILLED, content=body, headers=_headers(args))
                response.raise_for_status()
                page = json.loads(response.content)
                pages += 1
                postings += len(page.get("postings") or ())
                if not page.get("has_next"):
                    return pages, postings
                cursor = page["cursor"]

    meter = Meter()
    pages, postings = meter.span("cycle", lambda: asyncio.run(run()))
    return meter.report(pages=pages, listed=postings)


def job_floor_b(args: dict[str, Any]) -> dict[str, Any]:
    """json.loads alone over every page body (fetched first, outside the measured span)."""
    bodies: list[bytes] = []
    with httpx.Client(base_url=args["base_url"], timeout=60) as http:
        cursor = ""
        while True:
            body = json.dumps(listing_body(cursor)).encode()
            response = http.post(UNFULFILLED, content=body, headers=_headers(args))
            response.raise_for_status()
            bodies.append(response.content)
            page = json.loads(response.content)
            if not page.get("has_next"):
                break
            cursor = page["cursor"]

    def loads_all() -> int:
        return sum(len(json.loads(content).get("postings") or ()) for content in bodies)

    meter = Meter()
    postings = meter.span("cycle", loads_all)
    size = sum(len(content) for content in bodies)
    return meter.report(pages=len(bodies), listed=postings, bytes=size)


def job_floor_c(args: dict[str, Any]) -> dict[str, Any]:
    """Floor A plus sqlite-utils upsert_all of every posting, one transaction per page."""
    path = Path(args["database"])
    path.unlink(missing_ok=True)

    async def run() -> tuple[int, int]:
        db = Database(path)
        db.conn.execute("PRAGMA journal_mode=WAL")
        table = db["postings"]
        pages, postings = 0, 0
        cursor = ""
        async with httpx.AsyncClient(base_url=args["base_url"], timeout=60) as http:
            while True:
                body = json.dumps(listing_body(cursor)).encode()
                response = await http.post(UNFULFILLED, content=body, headers=_headers(args))
                response.raise_for_status()
                page = json.loads(response.content)
                rows = page.get("postings") or []
                with db.conn:  # one transaction per page
                    table.upsert_all(rows, pk="posting_number", alter=True)
                pages += 1
                postings += len(rows)
                if not page.get("has_next"):
                    db.close()
                    return pages, postings
                cursor = page["cursor"]

    meter = Meter()
    pages, postings = meter.span("cycle", lambda: asyncio.run(run()))
    return meter.report(pages=pages, listed=postings, rows_written=postings)


JOBS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "sync": job_sync,
    "floor_a": job_floor_a,
    "floor_b": job_floor_b,
    "floor_c": job_floor_c,
}


def main() -> None:
    """python bench/worker.py KIND 'JSON ARGS'"""
    kind, raw = sys.argv[1], sys.argv[2]
    report = JOBS[kind](json.loads(raw))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
