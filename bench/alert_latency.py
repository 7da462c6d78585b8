"""Alert latency in run mode: from the moment a posting crosses its 1h reminder threshold to the
arrival of the json:// message at a local receiver.

    python bench/alert_latency.py              # 50 spread over 3 minutes, then 50 at one second
    python bench/alert_latency.py --quick      # 10 + 10 (about a minute)

A sandbox process (bulk scenario of --background postings, no scheduled events) gets extra
postings through its admin action `add_posting`, each with a shipment_date one hour after a
chosen whole second (its threshold): the spread group has thresholds evenly spread over a few
minutes; the burst group shares one threshold second. Then a real `ozon-sync run` process
(poll_interval 10m, a json:// route to an http.server on 127.0.0.1) is started; its first cycle
sees the postings (they get their 4h reminder then), and its precise wake-ups must deliver the
1h reminders. A posting's latency is the arrival time (time.time() at the receiver) of the first
message naming it after its threshold, minus the threshold. The burst's message lists 20 of its
50 postings and says how many it covers; its latency counts for all of them. Target: worst case
at most 2 s. Writes bench/results/alert_latency.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import harness as h

TARGET = 2.0
STEP = timedelta(hours=1)
LEAD = 45.0  # seconds from start to the first threshold: the daemon starts and syncs first


class Receiver:
    """An http.server on 127.0.0.1 recording every json:// message with its arrival time."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.time()
                try:
                    data = json.loads(body)
                except ValueError:
                    data = {"raw": body.decode(errors="replace")}
                with receiver.lock:
                    receiver.messages.append((arrived, data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The json:// route URL."""
        return f"json://127.0.0.1:{self.server.server_address[1]}/phone"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_postings(sb: h.Sandbox, thresholds: list[datetime], prefix: int) -> dict[str, datetime]:
    """One posting per threshold (due one hour later); posting number -> threshold."""
    made: dict[str, datetime] = {}
    for index, threshold in enumerate(thresholds):
        number = f"{prefix}{index:04d}-0001-1"
        sb.action("add_posting", posting_number=number, shipment_date=_stamp(threshold + STEP))
        made[number] = threshold
    return made


def latencies(
    messages: list[tuple[float, dict[str, Any]]], postings: dict[str, datetime]
) -> dict[str, dict[str, Any]]:
    """Per posting: the first message after its threshold naming it, and the latency."""
    found: dict[str, dict[str, Any]] = {}
    for arrived, data in sorted(messages, key=lambda item: item[0]):
        text = f"{data.get('title', '')}\n{data.get('message', '')}"
        for number, threshold in postings.items():
            if number in found or number not in text:
                continue
            if arrived < threshold.timestamp() - 1:
                continue  # an earlier message (the first cycle's 4h reminder)
            found[number] = {
                "threshold": _stamp(threshold),
                "latency": arrived - threshold.timestamp(),
                "title": data.get("title", ""),
            }
    return found


def summary(values: list[float]) -> dict[str, Any]:
    """Median and worst of latencies (seconds)."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "median": statistics.median(values),
        "worst": max(values),
        "best": min(values),
    }


def run(spread: int, burst: int, span: float, background: int, workdir: Path) -> dict[str, Any]:
    """One daemon run with both groups; see the module docstring."""
    receiver = Receiver()
    try:
        with h.Sandbox(h.scenario_size(background)) as sb:
            sb.set_knobs(rate_limit=50)
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD)
            gap = span / max(1, spread - 1)
            spread_at = [start + timedelta(seconds=round(i * gap)) for i in range(spread)]
            burst_at = [spread_at[-1] + timedelta(seconds=30)] * burst
            spread_postings = add_postings(sb, spread_at, 7770)
            burst_postings = add_postings(sb, burst_at, 8880)
            config = h.write_config(
                workdir, sb, rps=20,
                extra=f'\n[[notify]]\nurl = "{receiver.url}"\nevents = ["reminder"]\n',
            )  # fmt: skip
            log = (workdir / "run.log").open("wb")
            installed = Path(sys.executable).parent / "ozon-sync"
            program = [str(installed)] if installed.exists() else [sys.executable, "-m", "daemon"]
            command = [*program, "--config", str(config), "run"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("OZON_SYNC")}
            daemon = subprocess.Popen(command, cwd=h.REPO, stderr=log, stdout=log, env=env)
            try:
                end = burst_at[-1].timestamp() + 10
                h.log(f"ozon-sync run until {_stamp(datetime.fromtimestamp(end, UTC))}")
                while time.time() < end and daemon.poll() is None:
                    time.sleep(0.5)
            finally:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
                log.close()
            requests = h.Requests.of(sb.calls()).as_dict()
    finally:
        receiver.close()
    messages = list(receiver.messages)
    spread_found = latencies(messages, spread_postings)
    burst_found = latencies(messages, burst_postings)
    burst_titles = sorted({item["title"] for item in burst_found.values()})
    burst_values = [item["latency"] for item in burst_found.values()]
    # Postings the burst message covers without naming them (it lists 20) share its arrival.
    covered = len(burst_found)
    if burst_found and covered < burst and any(f"{burst} postings" in t for t in burst_titles):
        burst_values += [max(burst_values)] * (burst - covered)
        covered = burst
    return {
        "spread": {
            "postings": spread,
            "over_seconds": span,
            "delivered": len(spread_found),
            **summary([item["latency"] for item in spread_found.values()]),
            "per_posting": spread_found,
        },
        "burst": {
            "postings": burst,
            "covered": covered,
            "messages": burst_titles,
            **summary(burst_values),
            "per_posting": burst_found,
        },
        "messages": len(messages),
        "requests": requests,
        "log_tail": (workdir / "run.log").read_text(errors="replace")[-3000:],
    }


def verdict(group: dict[str, Any]) -> bool:
    """Target met: every posting delivered and the worst latency within TARGET."""
    delivered = group.get("covered", group.get("delivered", 0))
    worst = group.get("worst", math.inf)
    return bool(delivered == group["postings"] and group.get("best", -1) >= 0 and worst <= TARGET)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spread", type=int, default=None, help="postings spread over --span")
    parser.add_argument("--burst", type=int, default=None, help="postings at one second")
    parser.add_argument("--span", type=float, default=None, help="seconds the spread covers")
    parser.add_argument("--background", type=int, default=1000, help="other watched postings")
    parser.add_argument("--quick", action="store_true", help="10 + 10 postings over 20 s")
    args = parser.parse_args(argv)
    spread = args.spread or (10 if args.quick else 50)
    burst = args.burst or (10 if args.quick else 50)
    span = args.span or (20.0 if args.quick else 180.0)
    with tempfile.TemporaryDirectory(prefix="ozon-bench-latency-") as folder:
        result = run(spread, burst, span, args.background, Path(folder))
    rows = []
    for name in ("spread", "burst"):
        group = result[name]
        group["met"] = verdict(group)
        rows.append(
            {
                "group": name,
                "postings": group["postings"],
                "delivered": group.get("covered", group.get("delivered")),
                "median": group.get("median"),
                "worst": group.get("worst"),
                "met": group["met"],
            }
        )
    h.write_results(
        "alert_latency",
        {
            "benchmark": "alert_latency",
            "command": "python bench/alert_latency.py " + " ".join(argv or sys.argv[1:]),
            "machine": h.machine(),
            "target": f"worst latency <= {TARGET} s",
            "background_postings": args.background,
            **result,
        },
    )
    print(h.table(rows, [("group", "group"), ("postings", "postings"),
                         ("delivered", "delivered"), ("median", "median s"),
                         ("worst", "worst s"), ("met", f"worst <= {TARGET} s")]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
