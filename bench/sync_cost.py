"""Sync cost: what one ozon-sync cycle costs for 1,000 / 10,000 / 100,000 watched postings,
against floors and peers measured in the same run against the same sandbox.

    python bench/sync_cost.py                      # 1k, 10k, 100k; best of 3; with peers
    python bench/sync_cost.py --sizes 1000,10000   # some sizes
    python bench/sync_cost.py --quick              # 1k and 10k, one round (about a minute)

Per size, one sandbox process (bulk scenario sized so that about N postings are watched, no
scheduled events, no rate limit), warmed up by one unmeasured listing. Then, in each round,
every job in its own fresh process (see bench/worker.py and bench/peer_worker.py):
  floor A (httpx + json.loads), floor B (json.loads alone), floor C (A + sqlite-utils
  upsert_all, one transaction per page), ozon-sync first sync (empty database), ozon-sync
  unchanged repeat (same database; max_requests_per_second 50, the most the config allows), and
  the peers ozon-sdk and ozonapi-async listing the same postings.
Changes: for the smallest and the largest size, a sandbox of its own is started first and
synced once; at the end (once it is 630 s old, see ChangesTest) one sync as a baseline, then 60
changes through the sandbox's admin actions (a third cancelled by the buyer, a third shipped, a
third with a moved deadline), then one measured sync: its changed-list pages should follow the
changes, not N.

CPU figures are the best of the rounds (least disturbed by other load on the machine); the
JSON keeps every round. Writes bench/results/sync_cost.json (or peers.json with --peers-only).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import harness as h

SIZES = (1_000, 10_000, 100_000)
CHANGES = 60
SETTLE = 630.0  # seconds: the sandbox's start-up burst is then outside the overlap window


def per_posting(report: dict[str, Any]) -> float:
    """CPU microseconds per listed posting of a job report."""
    listed = report.get("listed") or 0
    return report["spans"]["cycle"]["cpu"] / listed * 1e6 if listed else math.nan


class Rounds:
    """Reports of one job over the rounds."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def add(self, report: dict[str, Any]) -> dict[str, Any]:
        self.reports.append(report)
        return report

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.reports if "failed" not in r]

    def best(self) -> dict[str, Any] | None:
        """The round with the least CPU per posting."""
        ok = self.ok
        return min(ok, key=per_posting) if ok else None

    def summary(self) -> dict[str, Any]:
        ok = self.ok
        if not ok:
            return {"failed": [r.get("failed") for r in self.reports], "rounds": self.reports}
        best = self.best()
        assert best is not None
        us = [per_posting(r) for r in ok]
        return {
            "listed": best["listed"],
            "cpu_us_per_posting": h.spread(us),
            "cpu_seconds": h.spread([r["spans"]["cycle"]["cpu"] for r in ok]),
            "wall_seconds": h.spread([r["spans"]["cycle"]["wall"] for r in ok]),
            "peak_rss_mb": h.spread([r["peak_rss_mb"] for r in ok]),
            "requests": best.get("requests"),
            "rows_written": best.get("rows_written"),
            "rounds": self.reports,
        }


def _job(sb: h.Sandbox, kind: str, args: dict[str, Any], python: str | None = None) -> dict:
    mark = sb.mark()
    report = h.run_worker(kind, args, python=python)
    report["requests"] = sb.counts(mark).as_dict()
    return report


def _watched_numbers(database: Path, limit: int) -> list[str]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT posting_number FROM postings WHERE watched = 1 AND status = "
            "'awaiting_packaging' AND data NOT LIKE '%ship_async_in_process%' "
            "ORDER BY posting_number LIMIT ?",
            (limit,),
        ).fetchall()
    return [row[0] for row in rows]


def _make_changes(sb: h.Sandbox, database: Path, count: int) -> dict[str, int]:
    """`count` changes through the admin actions: cancel_by_buyer, ship, move_deadline."""
    done = {"cancel_by_buyer": 0, "ship": 0, "move_deadline": 0}
    numbers = _watched_numbers(database, count)
    with sqlite3.connect(database) as db:
        deadlines = dict(db.execute("SELECT posting_number, shipment_date FROM postings"))
    for index, number in enumerate(numbers):
        kind = ("cancel_by_buyer", "ship", "move_deadline")[index % 3]
        if kind == "move_deadline":
            old = deadlines[number]  # 2026-11-26T10:00:00.000000Z: one day later
            moved = datetime.fromisoformat(old.replace("Z", "+00:00")) + timedelta(days=1)
            sb.action(kind, posting_number=number, shipment_date=moved.strftime(
                "%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
        else:
            sb.action(kind, posting_number=number)
        done[kind] += 1
    return done


class ChangesTest:
    """Changed-list pages after a known number of changes, for one size.

    Its own sandbox, started first: the bulk scenario dates many postings' last status change
    a minute before the sandbox starts, and a sync lists status changes from 10 minutes before
    the previous sync (CHANGED_OVERLAP). So the baseline sync waits until the sandbox is
    `settle` seconds old; with less, the changed list also carries that start-up burst.
    """

    def __init__(self, size: int, workdir: Path) -> None:
        self.size = size
        self.sandbox = h.Sandbox(h.scenario_size(size)).__enter__()
        self.started = time.monotonic()
        self.config = h.write_config(workdir / f"changes-{size}", self.sandbox, rps=50)
        h.run_worker("sync", {"config": str(self.config)})  # first sync, not measured

    def finish(self, settle: float) -> dict[str, Any]:
        """Wait until the sandbox is `settle` s old, sync, change, sync; the last sync's report."""
        sb = self.sandbox
        try:
            wait = settle - (time.monotonic() - self.started)
            if wait > 0:
                h.log(f"changes at {self.size}: waiting {wait:.0f} s (overlap window)")
                time.sleep(wait)
            h.run_worker("sync", {"config": str(self.config)})  # baseline: last success now
            changes = _make_changes(sb, self.config.parent / "state.db", CHANGES)
            report = _job(sb, "sync", {"config": str(self.config)})
        finally:
            sb.__exit__()
        report["changes"] = changes
        report["settled"] = settle >= SETTLE
        report["sandbox_age_seconds"] = time.monotonic() - self.started
        return report


def measure_size(
    size: int, rounds: int, *, ozon_sync: bool, floors: bool, peers: str | None, workdir: Path
) -> dict[str, Any]:
    """Every job for one size; see the module docstring."""
    jobs: dict[str, Rounds] = {}
    result: dict[str, Any] = {"size": size, "scenario_postings": h.scenario_size(size)}
    with h.Sandbox(h.scenario_size(size)) as sb:
        credentials = sb.credentials()
        _job(sb, "floor_a", credentials)  # warm-up, not measured
        for round_no in range(1, rounds + 1):
            h.log(f"size {size}: round {round_no}/{rounds}")
            if floors:
                for kind in ("floor_a", "floor_b", "floor_c"):
                    args = dict(credentials, database=str(workdir / "floor_c.db"))
                    jobs.setdefault(kind, Rounds()).add(_job(sb, kind, args))
            if ozon_sync:
                folder = workdir / f"ozon-sync-{size}-{round_no}"
                config = h.write_config(folder, sb, rps=50)
                for kind in ("first", "repeat"):
                    report = _job(sb, "sync", {"config": str(config)})
                    jobs.setdefault(kind, Rounds()).add(report)
            if peers:
                for kind in ("ozon_sdk", "ozonapi_async"):
                    args = dict(credentials, patch=True)
                    jobs.setdefault(kind, Rounds()).add(_job(sb, kind, args, python=peers))
        if peers:  # how each fails without help (see bench/peer_worker.py)
            for kind in ("ozon_sdk", "ozonapi_async"):
                report = _job(sb, kind, dict(credentials, patch=False), python=peers)
                result.setdefault("peers_unpatched", {})[kind] = report
    result["jobs"] = {kind: rounds.summary() for kind, rounds in jobs.items()}
    return result


def _rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {
        "floor_b": "floor B json.loads",
        "floor_a": "floor A httpx+json",
        "floor_c": "floor C A+upsert_all",
        "first": "ozon-sync first sync",
        "repeat": "ozon-sync repeat",
        "ozon_sdk": "ozon-sdk (list only)",
        "ozonapi_async": "ozonapi-async (list only)",
    }
    rows = []
    for result in results:
        for kind, name in names.items():
            job = result["jobs"].get(kind)
            if job is None:
                continue
            if "failed" in job:
                rows.append({"size": result["size"], "job": name, "listed": "failed"})
                continue
            requests = job.get("requests") or {}
            minimum = math.ceil(job["listed"] / h.PAGE)
            rows.append(
                {
                    "size": result["size"],
                    "job": name,
                    "listed": job["listed"],
                    "wall": job["wall_seconds"]["min"],
                    "cpu": job["cpu_seconds"]["min"],
                    "us": job["cpu_us_per_posting"]["min"],
                    "us_med": job["cpu_us_per_posting"]["median"],
                    "rss": job["peak_rss_mb"]["max"],
                    "pages": f"{requests.get('unfulfilled', '')}/{minimum}",
                    "other": requests.get("changed", 0) + requests.get("gets", 0),
                    "written": job.get("rows_written"),
                }
            )
        after = result.get("changes")
        if after:
            requests = after["requests"]
            rows.append(
                {
                    "size": result["size"],
                    "job": f"ozon-sync after {sum(after['changes'].values())} changes",
                    "listed": after["listed"],
                    "wall": after["spans"]["cycle"]["wall"],
                    "cpu": after["spans"]["cycle"]["cpu"],
                    "us": per_posting(after),
                    "rss": after["peak_rss_mb"],
                    "pages": f"{requests['unfulfilled']}/{math.ceil(after['listed'] / h.PAGE)}",
                    "other": f"{requests['changed']} changed + {requests['gets']} gets",
                    "written": after["rows_written"],
                }
            )
    return rows


COLUMNS = [
    ("size", "N"),
    ("job", "job"),
    ("listed", "listed"),
    ("wall", "wall s"),
    ("cpu", "CPU s"),
    ("us", "CPU us/posting"),
    ("us_med", "(median)"),
    ("rss", "peak RSS MB"),
    ("pages", "list pages/min"),
    ("other", "other requests"),
    ("written", "rows written"),
]


def _us(result: dict[str, Any], kind: str) -> float | None:
    job = result["jobs"].get(kind)
    if not job or "failed" in job:
        return None
    value: float = job["cpu_us_per_posting"]["min"]
    return value


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 9 that these results can judge, with the numbers and a verdict."""
    out: list[dict[str, Any]] = []
    by_size = {r["size"]: r for r in results}
    for result in results:
        size = result["size"]
        a, c = _us(result, "floor_a"), _us(result, "floor_c")
        first, repeat = _us(result, "first"), _us(result, "repeat")
        jobs = result["jobs"]
        if repeat is not None and a is not None:
            written = jobs["repeat"]["rows_written"]
            out.append({"size": size, "target": "repeat CPU/posting <= 1.5 x floor A, 0 rows",
                        "value": f"{repeat:.1f} us vs {1.5 * a:.1f} us; {written} rows",
                        "met": repeat <= 1.5 * a and written == 0})  # fmt: skip
        if first is not None and c is not None:
            out.append({"size": size, "target": "first sync CPU/posting <= floor C",
                        "value": f"{first:.1f} us vs {c:.1f} us", "met": first <= c})  # fmt: skip
        for peer in ("ozon_sdk", "ozonapi_async"):
            theirs = _us(result, peer)
            if theirs is None:
                continue
            for kind, ours in (("first sync", first), ("repeat", repeat)):
                if ours is not None:
                    out.append({"size": size, "target": f"{kind} <= half of {peer}",
                                "value": f"{ours:.1f} us vs {theirs / 2:.1f} us",
                                "met": ours <= theirs / 2})  # fmt: skip
        for kind in ("first", "repeat"):
            job = jobs.get(kind)
            if job and "failed" not in job:
                pages = job["requests"]["unfulfilled"]
                minimum = math.ceil(job["listed"] / h.PAGE)
                out.append({"size": size, "target": f"{kind}: exactly ceil(N/100) list pages",
                            "value": f"{pages} vs {minimum}", "met": pages == minimum})  # fmt: skip
        after = result.get("changes")
        if after:
            changed = after["requests"]["changed"]
            count = sum(after["changes"].values())
            value = f"{changed} page(s) for {count} changes at N={size}"
            met: bool | None = changed <= math.ceil(count / h.PAGE) + 1
            if not after["settled"]:
                value += " (not settled: includes the sandbox's start-up burst)"
                met = None
            out.append({"size": size, "target": "changed-list pages follow changes, not N",
                        "value": value, "met": met})  # fmt: skip
    if 1_000 in by_size and 100_000 in by_size:
        for kind in ("first", "repeat"):
            small = by_size[1_000]["jobs"].get(kind)
            big = by_size[100_000]["jobs"].get(kind)
            if small and big and "failed" not in small and "failed" not in big:
                growth = big["peak_rss_mb"]["max"] - small["peak_rss_mb"]["max"]
                out.append({"size": 100_000, "target": f"{kind}: peak RSS <= 1k peak + 60 MB",
                            "value": f"+{growth:.1f} MB ({big['peak_rss_mb']['max']:.1f} vs "
                                     f"{small['peak_rss_mb']['max']:.1f})",
                            "met": growth <= 60})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="comma-separated watched postings")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per size (best of)")
    parser.add_argument("--quick", action="store_true", help="1k and 10k, one round")
    parser.add_argument("--no-peers", action="store_true", help="skip ozon-sdk/ozonapi-async")
    parser.add_argument("--settle", type=float, default=None,
                        help=f"seconds of sandbox age before the changes test (default {SETTLE:.0f}"
                        ", 0 with --quick)")  # fmt: skip
    parser.add_argument("--peers-only", action="store_true",
                        help="floors and peers only (writes peers.json)")  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    if args.quick:
        sizes, rounds = sizes or [1_000, 10_000], args.rounds or 1
    else:
        sizes, rounds = sizes or list(SIZES), args.rounds or 3
    peers = None if args.no_peers else h.ensure_peers()
    workdir = Path(tempfile.mkdtemp(prefix="ozon-bench-"))
    results = []
    change_sizes = [] if args.peers_only else sorted({min(sizes), max(sizes)})
    settle = args.settle if args.settle is not None else (0.0 if args.quick else SETTLE)
    tests = {size: ChangesTest(size, workdir) for size in change_sizes}
    try:
        for size in sizes:
            result = measure_size(
                size, rounds, ozon_sync=not args.peers_only, floors=True, peers=peers,
                workdir=workdir,
            )  # fmt: skip
            results.append(result)
        by_size = {r["size"]: r for r in results}
        for size, test in tests.items():
            by_size[size]["changes"] = test.finish(settle)
    finally:
        for test in tests.values():
            test.sandbox.__exit__()
        shutil.rmtree(workdir, ignore_errors=True)
    verdicts = targets(results)
    name = "peers" if args.peers_only else "sync_cost"
    data = {
        "benchmark": name,
        "command": "python bench/" + Path(__file__).name + " " + " ".join(argv or sys.argv[1:]),
        "machine": h.machine(),
        "rounds": rounds,
        "peers": h.peer_versions(peers) if peers else None,
        "results": results,
        "targets": verdicts,
    }
    h.write_results(name, data)
    print(h.table(_rows(results), COLUMNS))
    print()
    print(h.table(verdicts, [("size", "N"), ("target", "target"), ("value", "measured"),
                             ("met", "met")]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
