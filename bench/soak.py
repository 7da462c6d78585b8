"""The accelerated soak: a real `ozon-sync run` for a long while against a faulty sandbox.

    python bench/soak.py                          # 30 minutes, 2,000 postings, poll 10s
    python bench/soak.py --duration 3m --postings 500     # a short run while developing

A sandbox process (bulk scenario with its scheduled events: new postings, shipments, buyer
cancellations, moved deadlines, splits) answers --error-rate of the API requests 500, drops
the connection of --drop-rate, and adds --latency to every answer. A real `ozon-sync run`
(poll_interval --poll, cancellation on, one json:// route to a receiver on 127.0.0.1, JSON logs
at --log-level) runs against it for --duration, then gets SIGTERM.

Every --sample-every seconds the daemon's RSS, CPU time, open file descriptors and threads are
read from /proc. At the end the log lines are counted by level and event, and every threshold
alert (reminder, overdue) of the history is matched with the sandbox's deadline of each posting
it names: its threshold is the latest step (shipment_date minus a remind_before step,
shipment_date, or a repeat of overdue_repeat after it) at or before the alert was sent, and its
lateness is the send time minus that threshold (send times from the history's own table in the
database, to the microsecond: `history --json` shows whole seconds). Only thresholds crossed
while the daemon already watched the posting count (after the first successful cycle, and one
poll interval after the posting appeared); postings whose deadline moved are left out.

Reports: RSS slope over the second half of the run (MB per hour, least squares), file
descriptors and threads (first and last sample of the second half, max), errors, warnings per
hour (all, and apart from state changes: an outage starting, and the first warning about each
account, posting and reason), alert lateness (median, worst), the stop's duration and exit
status. Targets: RSS slope under 1 MB/h, descriptors and threads flat, 0 errors, under 10
warnings per hour apart from state changes, every threshold alert within 2 s. Writes
bench/results/soak.json. Nothing here asserts: the targets are reported as met or not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness as h
from alert_latency import Receiver

from daemon.durations import parse_duration
from daemon.sandbox import SandboxProcess

LATE_TARGET = 2.0  # seconds
RSS_SLOPE_TARGET = 1.0  # MB per hour over the second half
WARNINGS_TARGET = 10.0  # per hour, apart from state changes
# Warnings that say something changed whenever they come (an outage starting); any other
# warning is a state change the first time for its account, posting and reason, a repeat after.
STATE_CHANGES = frozenset({"ozon_unavailable"})
FINDING_FIELDS = ("account", "client_id", "posting_number", "field", "reason", "job")
REMIND_BEFORE = (timedelta(hours=24), timedelta(hours=4), timedelta(hours=1))
OVERDUE_REPEAT = timedelta(hours=12)
THRESHOLD_EVENTS = ("reminder", "overdue")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- sampling


def sample(pid: int, started: float) -> dict[str, Any] | None:
    """RSS (MB), CPU seconds, open descriptors and threads of `pid` now; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            resident = int(statm.read().split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    # fields[0] is the state (field 3 of stat): utime is field 14, stime 15, threads 20
    return {
        "t": round(time.monotonic() - started, 1),
        "rss_mb": round(resident * PAGE_SIZE / 2**20, 2),
        "cpu_s": round((int(fields[11]) + int(fields[12])) / TICKS, 2),
        "fds": fds,
        "threads": int(fields[17]),
        "load1": round(os.getloadavg()[0], 2),  # the machine's, for judging the numbers
    }


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per hour; None with fewer than 3."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread * 3600


def resources(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The second half's RSS slope, descriptors and threads, and the CPU used."""
    if not samples:
        return {}
    half = samples[-1]["t"] / 2
    second = [s for s in samples if s["t"] >= half]
    cpu = samples[-1]["cpu_s"] - samples[0]["cpu_s"]
    elapsed = samples[-1]["t"] - samples[0]["t"]
    return {
        "rss_first_mb": samples[0]["rss_mb"],
        "rss_peak_mb": max(s["rss_mb"] for s in samples),
        "rss_last_mb": samples[-1]["rss_mb"],
        "rss_slope_mb_per_hour": slope_per_hour([(s["t"], s["rss_mb"]) for s in second]),
        "fds": [second[0]["fds"], second[-1]["fds"], max(s["fds"] for s in samples)],
        "threads": [second[0]["threads"], second[-1]["threads"],
                    max(s["threads"] for s in samples)],
        "load_average_1m": [min(s["load1"] for s in samples),
                            round(statistics.median(s["load1"] for s in samples), 2),
                            max(s["load1"] for s in samples)],
        "cpu_seconds": round(cpu, 1),
        "cpu_share": round(cpu / elapsed, 3) if elapsed > 0 else None,
    }  # fmt: skip


# ----------------------------------------------------------------------------- the log


def count_log(path: Path, hours: float) -> dict[str, Any]:
    """Log lines by level and by (level, event); lines that are not JSON (a traceback) apart."""
    levels: Counter[str] = Counter()
    events: Counter[str] = Counter()
    other: list[str] = []
    first_ok: str | None = None
    cycles = Counter[str]()
    findings: set[tuple[str, ...]] = set()
    repeats: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            other.append(line)
            continue
        if not isinstance(entry, dict):
            other.append(line)
            continue
        level, event = str(entry.get("level", "?")), str(entry.get("event", "?"))
        levels[level] += 1
        events[f"{level} {event}"] += 1
        if level == "warning" and event not in STATE_CHANGES:
            finding = (event, *(str(entry.get(name)) for name in FINDING_FIELDS))
            repeats[event] += finding in findings
            findings.add(finding)
        if event == "cycle_finished":
            cycles[str(entry.get("result"))] += 1
            if first_ok is None and entry.get("result") == "ok":
                first_ok = str(entry.get("timestamp"))
    return {
        "levels": dict(levels),
        "events": dict(events.most_common()),
        "not_json": len(other),
        "not_json_sample": other[:20],
        "cycles": dict(cycles),
        "first_ok_cycle_at": first_ok,
        "errors": levels["error"] + levels["critical"],
        "warnings": levels["warning"],
        "warnings_per_hour": round(levels["warning"] / hours, 1),
        "repeated_warnings": dict(repeats),
        "routine_warnings_per_hour": round(sum(repeats.values()) / hours, 1),
    }


# ----------------------------------------------------------------------------- alert lateness


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def threshold_of(event: str, deadline: datetime, sent: datetime) -> datetime | None:
    """The latest threshold of `event` for a posting due at `deadline` at or before `sent`."""
    if event == "reminder":
        crossed = [deadline - step for step in REMIND_BEFORE if deadline - step <= sent]
        return max(crossed) if crossed else None
    if sent < deadline:
        return None
    repeats = int((sent - deadline) / OVERDUE_REPEAT)
    return deadline + repeats * OVERDUE_REPEAT


def sent_alerts(database: Path) -> list[dict[str, Any]]:
    """The alerts of the history (those sent), from the database: `at` to the microsecond."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT sent_at, event, posting_numbers FROM alerts WHERE sent_at IS NOT NULL"
        ).fetchall()
    return [{"at": at, "event": event, "posting_numbers": json.loads(numbers)}
            for at, event, numbers in rows]  # fmt: skip


def lateness(
    alerts: list[dict[str, Any]], postings: list[dict[str, Any]], watching_from: datetime,
    poll: timedelta,
) -> dict[str, Any]:  # fmt: skip
    """Every threshold alert's lateness (seconds) from the sent `alerts` and the sandbox's
    `postings`."""
    known = {p["posting_number"]: p for p in postings}
    moved = {n for e in alerts if e["event"] == "deadline_changed" for n in e["posting_numbers"]}
    late: list[float] = []
    worst: list[dict[str, Any]] = []
    skipped = Counter[str]()
    for entry in alerts:
        if entry["event"] not in THRESHOLD_EVENTS:
            continue
        sent = _when(entry["at"])
        for number in entry["posting_numbers"]:
            posting = known.get(number)
            if posting is None or number in moved:
                skipped["unknown or moved"] += 1
                continue
            threshold = threshold_of(entry["event"], _when(posting["shipment_date"]), sent)
            appeared = _when(posting["in_process_at"]) + poll
            if threshold is None or threshold < watching_from or threshold < appeared:
                skipped["crossed before it was watched"] += 1
                continue
            seconds = (sent - threshold).total_seconds()
            late.append(seconds)
            worst.append({"posting_number": number, "event": entry["event"],
                          "threshold": threshold.isoformat(),
                          "late": round(seconds, 3)})  # fmt: skip
    worst.sort(key=lambda item: -item["late"])
    return {
        "alerts": len(late),
        "median": round(statistics.median(late), 3) if late else None,
        "worst": round(max(late), 3) if late else None,
        "within_target": sum(1 for s in late if s <= LATE_TARGET),
        "worst_five": worst[:5],
        "not_counted": dict(skipped),
    }


# ----------------------------------------------------------------------------- the run


def duration(text: str) -> timedelta:
    """A duration option ("30m", "1h30m", "10s"); argparse's error for anything else."""
    value = parse_duration(text)
    if value is None or not value:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30m, 1h30m, 10s)")
    return value


def _program() -> list[str]:
    installed = Path(sys.executable).parent / "ozon-sync"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "daemon"]


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One soak run; see the module docstring."""
    receiver = Receiver()
    sandbox = SandboxProcess(
        "--scenario", "bulk", "--postings", str(args.postings), "--api-key", h.API_KEY,
        "--error-rate", str(args.error_rate), "--drop-rate", str(args.drop_rate),
        "--latency", str(args.latency), "--seed", str(args.seed), ready_timeout=600,
    )  # fmt: skip
    try:
        with sandbox as sb:
            extra = f'\n[policy.cancel]\nenabled = true\n\n[[notify]]\nurl = "{receiver.url}"\n'
            config = h.write_config(
                workdir, sb, rps=20, poll=args.poll, extra=extra, log_level=args.log_level
            )
            log_path = workdir / "run.log"
            env = {k: v for k, v in os.environ.items() if not k.startswith("OZON_SYNC")}
            command = [*_program(), "--config", str(config), "run"]
            with log_path.open("wb") as log:
                started = time.monotonic()
                daemon = subprocess.Popen(command, cwd=workdir, stderr=log, stdout=log, env=env)
                h.log(f"ozon-sync run (pid {daemon.pid}) for {args.duration:.0f} s")
                samples = _watch(daemon, started, args.duration, args.sample_every)
                stop_began = time.monotonic()
                daemon.send_signal(signal.SIGTERM)
                try:
                    code = daemon.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    code = daemon.wait()
                stop_seconds = time.monotonic() - stop_began
            elapsed = stop_began - started
            postings = h.fetch_json(f"{sb.base_url}/__sandbox__/postings")
            calls = h.Requests.of(sb.calls()).as_dict()
    finally:
        receiver.close()
    done = subprocess.run(
        [*_program(), "--config", str(config), "history", "--json", "--limit", "1000000"],
        capture_output=True, text=True, cwd=workdir, env=env, check=True,
    )  # fmt: skip
    history: list[dict[str, Any]] = json.loads(done.stdout)
    logs = count_log(log_path, elapsed / 3600)
    first_ok = logs["first_ok_cycle_at"]
    watching = _when(first_ok) if first_ok else datetime.now(UTC)
    return {
        "seconds": round(elapsed, 1),
        "exit_code": code,
        "stop_seconds": round(stop_seconds, 1),
        "resources": resources(samples),
        "log": logs,
        "lateness": lateness(
            sent_alerts(workdir / "state.db"), postings, watching, duration(args.poll)
        ),
        "history": dict(Counter(e["event"] for e in history)),
        "messages_received": len(receiver.messages),
        "requests": calls,
        "samples": samples,
        "log_tail": log_path.read_text(errors="replace")[-3000:],
    }


def _watch(
    daemon: subprocess.Popen[bytes], started: float, duration: float, every: float
) -> list[dict[str, Any]]:
    """Sample the daemon every `every` seconds until `duration` has passed or it exits."""
    samples: list[dict[str, Any]] = []
    next_at = started
    while time.monotonic() - started < duration and daemon.poll() is None:
        if time.monotonic() >= next_at:
            point = sample(daemon.pid, started)
            if point is not None:
                samples.append(point)
                h.log(f"rss {point['rss_mb']} MB, cpu {point['cpu_s']} s, "
                      f"fds {point['fds']}, threads {point['threads']}")  # fmt: skip
            next_at += every
        time.sleep(min(1.0, max(0.0, next_at - time.monotonic())))
    last = sample(daemon.pid, started)
    if last is not None:
        samples.append(last)
    return samples


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    """Each target: met or not."""
    res, log, late = result["resources"], result["log"], result["lateness"]
    slope = res.get("rss_slope_mb_per_hour")
    return {
        "rss_slope": slope is not None and slope < RSS_SLOPE_TARGET,
        "fds_flat": bool(res) and res["fds"][1] <= res["fds"][0],
        "threads_flat": bool(res) and res["threads"][1] <= res["threads"][0],
        "no_errors": log["errors"] == 0 and log["not_json"] == 0,
        "warnings": log["routine_warnings_per_hour"] < WARNINGS_TARGET,
        "lateness": late["worst"] is not None and late["worst"] <= LATE_TARGET,
        "clean_stop": result["exit_code"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration",
        type=duration,
        default=timedelta(minutes=30),
        help='how long the daemon runs ["30m"]',
    )
    parser.add_argument("--postings", type=int, default=2000, help="sandbox postings [2000]")
    parser.add_argument("--poll", default="10s", help='poll_interval ["10s"]')
    parser.add_argument("--error-rate", type=float, default=0.05, help="share of 500s [0.05]")
    parser.add_argument("--drop-rate", type=float, default=0.02, help="dropped share [0.02]")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer [0.05]")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds [30]")
    parser.add_argument("--log-level", default="info", help="the daemon's log_level [info]")
    parser.add_argument("--seed", type=int, default=7, help="the bulk scenario's seed [7]")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (log, database)")
    args = parser.parse_args(argv)
    args.duration = args.duration.total_seconds()
    machine = h.machine()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = soak(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="ozon-bench-soak-") as folder:
            result = soak(args, Path(folder))
    machine["load_average_at_end"] = list(os.getloadavg())
    met = verdicts(result)
    h.write_results("soak", {
        "benchmark": "soak",
        "command": "python bench/soak.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "targets": {"rss_slope_mb_per_hour": RSS_SLOPE_TARGET, "late_seconds": LATE_TARGET,
                    "routine_warnings_per_hour": WARNINGS_TARGET},
        "met": met,
        **result,
    })  # fmt: skip
    print(summary_table(result, met))
    return 0


def summary_table(result: dict[str, Any], met: dict[str, bool]) -> str:
    """The soak's numbers as a plain text table."""
    res, log, late = result["resources"], result["log"], result["lateness"]
    rows = [
        {"what": "RSS slope, 2nd half (MB/h)", "value": res.get("rss_slope_mb_per_hour"),
         "met": met["rss_slope"]},
        {"what": "RSS first / peak / last (MB)", "met": True,
         "value": " / ".join(str(res.get(k)) for k in ("rss_first_mb", "rss_peak_mb",
                                                       "rss_last_mb"))},
        {"what": "fds 2nd half first / last / max", "value": str(res.get("fds")),
         "met": met["fds_flat"]},
        {"what": "threads 2nd half first / last / max", "value": str(res.get("threads")),
         "met": met["threads_flat"]},
        {"what": "CPU share of one core", "value": res.get("cpu_share"), "met": True},
        {"what": "load average (1 min) min / median / max", "met": True,
         "value": " / ".join(str(v) for v in res.get("load_average_1m", []))},
        {"what": "errors (+ non-JSON lines)", "value": f"{log['errors']} (+{log['not_json']})",
         "met": met["no_errors"]},
        {"what": "warnings per hour (routine)",
         "value": f"{log['warnings_per_hour']} ({log['routine_warnings_per_hour']})",
         "met": met["warnings"]},
        {"what": "cycles ok / failed", "met": True,
         "value": f"{log['cycles'].get('ok', 0)} / {log['cycles'].get('failed', 0)}"},
        {"what": "threshold alerts, median / worst late (s)", "met": met["lateness"],
         "value": f"{late['alerts']}: {late['median']} / {late['worst']}"},
        {"what": "stop (s), exit code", "value": f"{result['stop_seconds']}, {result['exit_code']}",
         "met": met["clean_stop"]},
    ]  # fmt: skip
    return h.table(rows, [("what", "measure"), ("value", "value"), ("met", "target met")])


if __name__ == "__main__":
    sys.exit(main())
