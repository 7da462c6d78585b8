"""Rate-limit use: how close a 100,000-posting sync comes to the pages / R floor when ozon-sync
may send R requests per second, and how many 429 answers it gets.

    python bench/rate_limit.py                  # 100,000 watched postings, every case
    python bench/rate_limit.py --cases 50:50 --size 10000
    python bench/rate_limit.py --quick          # 10,000 postings (about a minute)

One sandbox process (bulk scenario, no scheduled events) whose own rate limit knob L is a
sliding one-second window per Client-Id (429 with `retry-after: 1` above it), and ozon-sync
with `max_requests_per_second = R`: a first sync into an empty database, then an unchanged
repeat, each a fresh `once`-like process (bench/worker.py sync). The sync time is the cycle's
wall time; the floor is the number of requests divided by R. Target: at most 1.15 x the floor
and zero 429 answers. Cases (R, L): (20, 50) and (50, 50) - Ozon's documented limit is 50 per
Client-Id - and the strict (20, 20), where L equals R. Writes bench/results/rate_limit.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness as h

CASES = ((20, 50), (50, 50), (20, 20))  # (R, the sandbox's limit L)
SIZE = 100_000
TARGET = 1.15


def measure(size: int, cases: list[tuple[int, int]], workdir: Path) -> list[dict[str, Any]]:
    """First and repeat sync for every (R, L) case against one sandbox."""
    rows: list[dict[str, Any]] = []
    with h.Sandbox(h.scenario_size(size)) as sb:
        h.run_worker("floor_a", sb.credentials())  # warm-up at no limit, not measured
        for rate, limit in cases:
            sb.set_knobs(rate_limit=limit)
            config = h.write_config(workdir / f"rate-{rate}-{limit}", sb, rps=rate)
            for kind in ("first", "repeat"):
                h.log(f"R = {rate}, L = {limit}: {kind} sync")
                time.sleep(1.1)  # the sandbox's window forgets the previous process's requests
                mark = sb.mark()
                report = h.run_worker("sync", {"config": str(config)})
                requests = sb.counts(mark)
                pages = requests.unfulfilled + requests.changed + requests.gets
                floor = pages / rate
                wall = report["spans"]["cycle"]["wall"]
                rows.append(
                    {
                        "rate": rate,
                        "limit": limit,
                        "sync": kind,
                        "listed": report["listed"],
                        "requests": pages,
                        "floor_seconds": floor,
                        "wall_seconds": wall,
                        "ratio": wall / floor,
                        "rate_limited_429": requests.rate_limited,
                        "met": wall <= TARGET * floor and requests.rate_limited == 0,
                        "report": report,
                    }
                )
    return rows


COLUMNS = [
    ("rate", "R (rps)"),
    ("limit", "sandbox L"),
    ("sync", "sync"),
    ("listed", "postings"),
    ("requests", "requests"),
    ("floor_seconds", "floor s (pages/R)"),
    ("wall_seconds", "sync s"),
    ("ratio", "x floor"),
    ("rate_limited_429", "429 answers"),
    ("met", f"<= {TARGET} x floor, no 429"),
]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", default=",".join(f"{r}:{lim}" for r, lim in CASES), help="R:L,R:L,..."
    )
    parser.add_argument("--size", type=int, default=None, help="watched postings")
    parser.add_argument("--quick", action="store_true", help="10,000 postings")
    args = parser.parse_args(argv)
    size = args.size or (10_000 if args.quick else SIZE)
    cases = [(int(r), int(lim)) for r, lim in (c.split(":") for c in args.cases.split(","))]
    workdir = Path(tempfile.mkdtemp(prefix="ozon-bench-rate-"))
    try:
        rows = measure(size, cases, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    h.write_results(
        "rate_limit",
        {
            "benchmark": "rate_limit",
            "command": "python bench/rate_limit.py " + " ".join(argv or sys.argv[1:]),
            "machine": h.machine(),
            "size": size,
            "target": f"sync time <= {TARGET} x pages / R, zero 429 answers",
            "results": rows,
        },
    )
    print(h.table(rows, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
