"""Many accounts on one small server: `ozon-sync run` with 500 accounts of 200 postings each
(100,000 postings) against one sandbox process serving 500 Client-Ids (`--clients 500`, each
with its own postings, key and rate limit of 50 requests/s).

    python bench/scale.py                           # 500 x 200, poll_interval 60s, 4 intervals
    python bench/scale.py --quick                   # 40 x 50, poll_interval 20s, 3 intervals
    python bench/scale.py --accounts 100 --poll 30  # any size

The daemon runs as its own process with the config a user would write (one [[accounts]] table
per Client-Id, key inline, `[health] listen`, one json:// route to a receiver on 127.0.0.1,
log_level debug so that every scheduled cycle logs how late it started: `cycle_due` /
`cycle_late`). The benchmark samples the daemon's /proc entries every 0.5 s (CPU time of all
its threads, RSS and its peak, open file descriptors and how many are sockets) and reads its
JSON log. Intervals are counted from the `daemon_started` line: interval k is
[start + k x poll, start + (k+1) x poll) for CPU; for an account, its own interval k starts
when its k-th cycle is due (its first is due i x spacing after the start, see
`runner.first_cycle_spacing`). Reported per interval: CPU seconds, CPU per account-cycle (CPU /
cycles finished in it), the share of accounts with a successful cycle finished within their
own interval k, the worst lag of a scheduled cycle's start behind its due time (the daemon's
`cycle_due` lines) and the longest time from due to done. Over the run: peak RSS and
per account, the most fds and sockets, and the alert latency at a threshold: during interval 2,
ALERTS accounts get a posting whose 1 h reminder threshold falls one interval and a half later
(after their next sync has seen it); latency = the json:// message's arrival minus the threshold.

Interval 0 is the start: every account's first sync (all postings new, every alert the bulk
scenario's deadlines call for). The later intervals are the steady state that a 5-minute poll
repeats: CPU at 5 minutes = steady CPU per account-cycle x accounts / 300 s (the cycles cost the
same whatever the interval; the timers in between cost nothing measurable). Targets: every
account synced in every interval; that CPU under 10 % of one core; peak RSS under 300 MB; no
cycle more than 10 s behind its schedule. Writes bench/results/scale.json. Not a test: nothing
here fails a build.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness as h
from alert_latency import Receiver

ALERTS = 20  # accounts that get a posting crossing its 1 h threshold during the run
STEP = timedelta(hours=1)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TARGET_CPU_SHARE = 0.10  # of one core, at 5-minute polls
TARGET_RSS_MB = 300
TARGET_LAG = 10.0


class Sampler:
    """Samples a process's /proc entries every `every` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _one(self) -> dict[str, float] | None:
        base = Path(f"/proc/{self.pid}")
        try:
            fields = (base / "stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
            status = (base / "status").read_text()
            fds = sockets = 0
            for entry in (base / "fd").iterdir():
                fds += 1
                with contextlib.suppress(OSError):
                    sockets += os.readlink(entry).startswith("socket:")
        except (OSError, IndexError, ValueError):
            return None
        memory = {
            line.split(":")[0]: int(line.split()[1]) / 1024
            for line in status.splitlines()
            if line.startswith(("VmRSS", "VmHWM"))
        }
        return {"t": time.time(), "cpu": cpu, "rss": memory.get("VmRSS", 0.0),
                "hwm": memory.get("VmHWM", 0.0), "fds": fds, "sockets": sockets}  # fmt: skip

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            sample = self._one()
            if sample is not None:
                self.samples.append(sample)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_at(self, moment: float) -> float:
        """CPU seconds at `moment`, interpolated between the samples around it."""
        before = [s for s in self.samples if s["t"] <= moment]
        after = [s for s in self.samples if s["t"] >= moment]
        if not before:
            return after[0]["cpu"] if after else 0.0
        if not after:
            return before[-1]["cpu"]
        a, b = before[-1], after[0]
        if b["t"] == a["t"]:
            return a["cpu"]
        return a["cpu"] + (b["cpu"] - a["cpu"]) * (moment - a["t"]) / (b["t"] - a["t"])


def write_config(folder: Path, base_url: str, clients: list[dict[str, str]], poll: int,
                 health_port: int, receiver_url: str) -> Path:  # fmt: skip
    """One [[accounts]] per sandbox client, the sandbox's keys inline."""
    accounts = "".join(
        f'\n[[accounts]]\nname = "shop-{i:04d}"\nclient_id = "{c["client_id"]}"\n'
        f'api_key = "{c["api_key"]}"\n'
        for i, c in enumerate(clients)
    )
    path = folder / "config.toml"
    path.write_text(
        f"""[daemon]
database = "state.db"
poll_interval = "{poll}s"
log_format = "json"
log_level = "debug"

[ozon]
base_url = "{base_url}"
timeout = "30s"
retry_for = "60s"
max_requests_per_second = 20

[health]
listen = "127.0.0.1:{health_port}"

[[notify]]
url = "{receiver_url}"
{accounts}""",
        encoding="utf-8",
    )
    return path


def read_log(path: Path) -> list[dict[str, Any]]:
    lines = []
    for text in path.read_text(errors="replace").splitlines():
        if text.startswith("{"):
            try:
                line = json.loads(text)
            except ValueError:
                continue
            stamp = line.get("timestamp")
            if stamp:
                line["t"] = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                lines.append(line)
    return lines


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def measure(accounts: int, postings: int, poll: int, intervals: int, work: Path) -> dict[str, Any]:
    """One run; see the module docstring."""
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("state*"):  # every run starts from an empty database
        old.unlink()
    receiver = Receiver()
    sandbox = h.SandboxProcess(
        "--clients", str(accounts), "--scenario", "bulk", "--postings", str(postings),
        "--no-events", "--rate-limit", "50", "--api-key", h.API_KEY, ready_timeout=900,
    )  # fmt: skip
    started = time.monotonic()
    sandbox.start()
    h.log(f"sandbox with {accounts} x {postings} postings ready in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    alerts: dict[str, float] = {}
    try:
        port = _free_port()
        config = write_config(work, sandbox.base_url, sandbox.clients, poll, port, receiver.url)
        log_path = work / "run.log"
        installed = Path(sys.executable).parent / "ozon-sync"
        program = [str(installed)] if installed.exists() else [sys.executable, "-m", "daemon"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OZON_SYNC")}
        with log_path.open("wb") as log:
            daemon = subprocess.Popen([*program, "--config", str(config), "run"], cwd=work,
                                      stdout=subprocess.DEVNULL, stderr=log, env=env)  # fmt: skip
        sampler = Sampler(daemon.pid)
        t0 = _wait_started(log_path, daemon)
        end = t0 + intervals * poll + 1
        added = False
        try:
            while time.time() < end and daemon.poll() is None:
                if not added and time.time() > t0 + 2 * poll:
                    alerts = _add_alert_postings(sandbox, sandbox.clients, poll)
                    added = True
                time.sleep(0.5)
            # the alert postings' thresholds may fall after the last interval: wait for them
            last = max(alerts.values(), default=0.0) + 15
            while alerts and time.time() < last and daemon.poll() is None:
                time.sleep(0.5)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=120)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            sampler.stop()
        lines = read_log(log_path)
    finally:
        sandbox.stop()
        receiver.close()
    return report(lines, sampler, t0, accounts, postings, poll, intervals, alerts,
                  list(receiver.messages), daemon.returncode)  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_started(log_path: Path, daemon: subprocess.Popen[bytes]) -> float:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"ozon-sync run exited {daemon.returncode}: "
                               f"{log_path.read_text(errors='replace')[-3000:]}")  # fmt: skip
        for line in read_log(log_path):
            if line.get("event") == "daemon_started":
                h.log("ozon-sync run started")
                return float(line["t"])
        time.sleep(0.2)
    raise RuntimeError("ozon-sync run did not start in 300 s")


def _add_alert_postings(
    sandbox: h.SandboxProcess, clients: list[dict[str, str]], poll: int
) -> dict[str, float]:
    """ALERTS accounts spread over the config get one posting each, whose 1 h threshold falls
    1.5 intervals from now: their next cycle sees it first, then a precise wake-up alerts."""
    threshold = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=int(1.5 * poll))
    chosen = clients[:: max(1, len(clients) // ALERTS)][:ALERTS]
    made = {}
    for index, client in enumerate(chosen):
        number = f"9990{index:04d}-0001-1"
        sandbox.action("add_posting", client_id=client["client_id"], posting_number=number,
                       shipment_date=stamp(threshold + STEP))  # fmt: skip
        made[number] = threshold.timestamp()
    h.log(f"{len(made)} alert postings added, threshold {stamp(threshold)}")
    return made


Messages = list[tuple[float, dict[str, Any]]]


def report(lines: list[dict[str, Any]], sampler: Sampler, t0: float, accounts: int,
           postings: int, poll: int, intervals: int, alerts: dict[str, float],
           messages: Messages, exit_code: int | None) -> dict[str, Any]:  # fmt: skip
    """The numbers of one run."""
    # Account i's cycles are due at phase_i + k x poll (runner.first_cycle_spacing: its first
    # cycle comes i x spacing after the start); its interval k is [due_k, due_k + poll). The
    # phase is read from its first `cycle_due` line (logged when the job starts, `lag` after
    # its due time), else estimated from the start.
    spacing = min(2.0, poll / accounts)
    phase = {f"shop-{i:04d}": t0 + i * spacing for i in range(accounts)}
    seen: set[str] = set()
    for ln in lines:
        if ln.get("event") in ("cycle_due", "cycle_late") and ln["account"] not in seen:
            seen.add(ln["account"])
            phase[ln["account"]] = ln["t"] - ln["lag"]
    finished_all = [ln for ln in lines if ln.get("event") == "cycle_finished"]
    rows = []
    for k in range(intervals):
        start, stop = t0 + k * poll, t0 + (k + 1) * poll
        finished = [ln for ln in finished_all if start <= ln["t"] < stop]
        done: dict[str, float] = {}  # account -> its first successful finish in its interval k
        for ln in finished_all:
            due = phase.get(ln["account"], t0) + k * poll
            if ln.get("result") == "ok" and due <= ln["t"] < due + poll:
                done.setdefault(ln["account"], ln["t"] - due)
        due_lines = [ln for ln in lines if ln.get("event") in ("cycle_due", "cycle_late")
                     and start <= ln["t"] < stop]  # fmt: skip
        cpu = sampler.cpu_at(stop) - sampler.cpu_at(start)
        rows.append({
            "interval": k,
            "cpu_s": round(cpu, 3),
            "cycles": len(finished),
            "cpu_ms_per_cycle": round(1000 * cpu / len(finished), 3) if finished else None,
            "synced_share": round(len(done) / accounts, 4),
            "worst_lag_s": round(max((ln["lag"] for ln in due_lines), default=0.0), 3),
            "worst_done_after_due_s": round(max(done.values(), default=0.0), 3),
            "late_cycles": sum(ln.get("event") == "cycle_late" for ln in due_lines),
            "cycle_s_median": round(statistics.median(ln["duration"] for ln in finished), 3)
            if finished else None,
        })  # fmt: skip
    steady = rows[1:] or rows
    per_cycle = [r["cpu_ms_per_cycle"] for r in steady if r["cpu_ms_per_cycle"] is not None]
    cycle_ms = statistics.median(per_cycle) if per_cycle else 0.0
    at_five_minutes = cycle_ms / 1000 * accounts / 300
    peak = max((s["hwm"] for s in sampler.samples), default=0.0)
    arrivals = _alert_latencies(alerts, messages)
    worst_lag = max((r["worst_lag_s"] for r in rows), default=0.0)
    return {
        "accounts": accounts,
        "postings_per_account": postings,
        "poll_interval_s": poll,
        "intervals": rows,
        "steady_cpu_ms_per_account_cycle": round(cycle_ms, 3),
        "cpu_share_at_5m_polls": round(at_five_minutes, 4),
        "peak_rss_mb": round(peak, 1),
        "rss_per_account_kb": round(1024 * peak / accounts, 1),
        "rss_end_mb": round(sampler.samples[-1]["rss"], 1) if sampler.samples else None,
        "max_fds": max((int(s["fds"]) for s in sampler.samples), default=0),
        "max_sockets": max((int(s["sockets"]) for s in sampler.samples), default=0),
        "fds_end": int(sampler.samples[-1]["fds"]) if sampler.samples else None,
        "alert_latency": arrivals,
        "errors": sum(ln.get("level") == "error" for ln in lines),
        "exit_code": exit_code,
        "targets": {
            "every_account_every_interval": all(r["synced_share"] == 1.0 for r in rows),
            "cpu_under_10pct_at_5m": at_five_minutes < TARGET_CPU_SHARE,
            "rss_under_300mb": peak < TARGET_RSS_MB,
            "lag_under_10s": worst_lag <= TARGET_LAG,
        },
    }


def _alert_latencies(
    alerts: dict[str, float], messages: list[tuple[float, dict[str, Any]]]
) -> dict[str, Any]:
    found: dict[str, float] = {}
    for arrived, data in sorted(messages, key=lambda item: item[0]):
        text = f"{data.get('title', '')}\n{data.get('message', '')}"
        for number, threshold in alerts.items():
            if number not in found and number in text and arrived >= threshold - 1:
                found[number] = arrived - threshold
    values = sorted(found.values())
    return {
        "postings": len(alerts),
        "delivered": len(values),
        "median_s": round(statistics.median(values), 3) if values else None,
        "worst_s": round(max(values), 3) if values else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--postings", type=int, default=200, help="per account")
    parser.add_argument("--poll", type=int, default=60, help="poll_interval in seconds")
    parser.add_argument("--intervals", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="40 x 50, 20 s polls, 3 intervals")
    parser.add_argument("--work", type=Path, default=Path("/tmp/ozon-sync-bench-scale"))  # noqa: S108 - a scratch folder
    args = parser.parse_args(argv)
    if args.quick:
        args.accounts, args.postings, args.poll, args.intervals = 40, 50, 20, 3
    machine = h.machine()
    machine["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    h.log(f"scale: {args.accounts} accounts x {args.postings} postings, poll {args.poll} s, "
          f"{args.intervals} intervals; {machine['uptime']}")  # fmt: skip
    result = measure(args.accounts, args.postings, args.poll, args.intervals, args.work)
    machine["uptime_at_end"] = subprocess.run(
        ["uptime"], capture_output=True, text=True
    ).stdout.strip()
    result["machine"] = machine
    h.write_results("scale" if not args.quick else "scale_quick", result)
    print(h.table(result["intervals"], [
        ("interval", "interval"), ("cpu_s", "CPU s"), ("cycles", "cycles"),
        ("cpu_ms_per_cycle", "CPU ms/cycle"), ("synced_share", "synced"),
        ("worst_lag_s", "start lag s"), ("worst_done_after_due_s", "done after due s"),
        ("late_cycles", "late"), ("cycle_s_median", "cycle s"),
    ]))  # fmt: skip
    summary = {k: v for k, v in result.items() if k not in ("intervals", "machine")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
