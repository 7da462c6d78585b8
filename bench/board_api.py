"""The packer's board at 10,000 watched postings: how long `GET /api/postings` takes, and
whether the page stays interactive in a real browser.

    python bench/board_api.py              # 10,000 watched postings, 30 requests of each kind
    python bench/board_api.py --quick      # 2,000 postings, 10 requests
    python bench/board_api.py --watched 20000 --requests 50

A sandbox process (bulk scenario sized for about --watched watched postings, 3.2 KB of JSON
each) is synced once by `ozon-sync once` into a fresh database. The real `ozon-sync board`
command serves that database; a few hundred postings are acknowledged through it (so the
acknowledgement lookup has rows to find), then this script asks it for `/api/postings` over
127.0.0.1, one request at a time, plain and gzip-compressed (as a browser asks), and for
`/api/sync`. Latency is the wall time from sending to the last byte read
(`http.client`, a new connection each time); the board process's own CPU time per request
(/proc) is shown beside it, since the wall time grows with whatever else runs on the machine
(the load average at the start is recorded). Target: the median and the 95th percentile of
the plain request under 200 ms.

With Chromium installed (Debian's `chromium`, driven by Playwright as in the browser tests),
the page is also loaded: the time until the first rows are drawn, and the main thread's long
tasks (over 50 ms, PerformanceObserver) during 20 s of countdown ticks and one refresh.
Writes bench/results/board_api.json.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness as h

TARGET_MS = 200.0
BOARD_TOKEN = "bench-board-token-not-a-secret"  # noqa: S105 - a benchmark's own


def _get(port: int, path: str, gzip: bool) -> tuple[float, int, int]:
    """(milliseconds, status, bytes) of one GET on a fresh connection."""
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    body = answer.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return elapsed, answer.status, len(body)


def _ack(port: int, number: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "POST",
        f"/api/postings/{number}/ack",
        body=b'{"by": "Bench"}',
        headers={"Authorization": f"Bearer {BOARD_TOKEN}", "Content-Type": "application/json"},
    )
    answer = connection.getresponse()
    answer.read()
    connection.close()
    if answer.status != 200:
        raise RuntimeError(f"ack of {number} answered {answer.status}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process `pid` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(port: int, path: str, gzip: bool, count: int, pid: int) -> dict[str, Any]:
    _get(port, path, gzip)  # warm: the first request loads what the app imports lazily
    times, sizes = [], []
    cpu_before = _cpu_seconds(pid)
    for _ in range(count):
        elapsed, status, size = _get(port, path, gzip)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        times.append(elapsed)
        sizes.append(size)
    cpu = (_cpu_seconds(pid) - cpu_before) * 1000 / count
    ordered = sorted(times)
    return {
        "request": f"GET {path}" + (" (gzip)" if gzip else ""),
        "count": count,
        "median_ms": statistics.median(times),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max_ms": max(times),
        "server_cpu_ms": cpu,
        "bytes": sizes[-1],
    }


def _browser(url: str) -> dict[str, Any] | None:
    """Load the page in Chromium: time to the first rows, long tasks over 20 s."""
    sys.path.insert(0, str(h.REPO))
    from tests.browser import chromium_executable

    executable = chromium_executable()
    if executable is None:
        h.log("no chromium: the page is not measured")
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.add_init_script(
            "window.__long = []; new PerformanceObserver(list => { for (const e of "
            "list.getEntries()) window.__long.push(e.duration) }).observe({type: 'longtask', "
            "buffered: true});"
        )
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#postings li.posting")
        first_rows = (time.perf_counter() - started) * 1000
        rows = page.locator("#postings li.posting").count()
        loaded = page.evaluate("window.__long.slice()")
        time.sleep(20)  # 20 ticks and one refresh
        later = page.evaluate("window.__long.slice()")[len(loaded) :]
        browser.close()
    return {
        "first_rows_ms": first_rows,
        "rows_drawn": rows,
        "long_tasks_at_load_ms": [round(x) for x in loaded],
        "long_tasks_next_20s_ms": [round(x) for x in later],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 postings, 10 requests")
    parser.add_argument("--watched", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--acks", type=int, default=300)
    args = parser.parse_args(argv)
    if args.quick:
        args.watched, args.requests, args.acks = 2_000, 10, 50
    info = h.machine()
    with tempfile.TemporaryDirectory(prefix="ozon-sync-board-bench-") as folder:
        with h.Sandbox(h.scenario_size(args.watched)) as sandbox:
            config = h.write_config(
                Path(folder), sandbox, extra=f'[board]\ntoken = "{BOARD_TOKEN}"\n'
            )
            command = [str(Path(sys.executable).parent / "ozon-sync"), "--config", str(config)]
            h.log("ozon-sync once (fills the database)")
            subprocess.run([*command, "once", "--dry-run"], check=True, capture_output=True)
        status = subprocess.run(
            [*command, "status", "--json"], check=True, capture_output=True, text=True
        ).stdout
        numbers = re.findall(r'"posting_number": "([^"]+)"', status)
        board = subprocess.Popen(
            [*command, "board", "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert board.stdout is not None
            line = board.stdout.readline()
            found = re.search(r"serving (http://127\.0\.0\.1:(\d+)/)", line)
            if found is None:
                raise RuntimeError(f"the board did not start: {line!r}")
            url, port = found[1], int(found[2])
            h.log(f"{len(numbers)} watched postings; acknowledging {args.acks} on the board")
            for number in numbers[: args.acks]:
                _ack(port, number)
            rows = [
                _measure(port, "/api/postings", False, args.requests, board.pid),
                _measure(port, "/api/postings", True, args.requests, board.pid),
                _measure(port, "/api/sync", False, args.requests, board.pid),
            ]
            page = _browser(url)
        finally:
            board.terminate()
            board.wait(timeout=30)
    plain = rows[0]
    met = plain["median_ms"] < TARGET_MS and plain["p95_ms"] < TARGET_MS
    result = {
        "machine": info,
        "watched": len(numbers),
        "acknowledged": args.acks,
        "target_ms": TARGET_MS,
        "met": met,
        "requests": rows,
        "page": page,
    }
    h.write_results("board_api", result)
    print(f"{len(numbers):,} watched postings, {args.acks} acknowledged; target: median and p95")
    print(f"of plain GET /api/postings under {TARGET_MS:.0f} ms: {'met' if met else 'MISSED'}\n")
    columns = [("request", "request"), ("median_ms", "median ms"), ("p95_ms", "p95 ms"),
               ("max_ms", "max ms"), ("server_cpu_ms", "server CPU ms"),
               ("bytes", "bytes")]  # fmt: skip
    print(h.table(rows, columns))
    if page is not None:
        print(
            f"\npage: first rows drawn {page['first_rows_ms']:.0f} ms after navigation, "
            f"{page['rows_drawn']} rows; long tasks at load {page['long_tasks_at_load_ms']} ms, "
            f"in the next 20 s {page['long_tasks_next_20s_ms']} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
