"""Write the latest results (bench/results/*.json) into docs/performance.md.

    python bench/report.py          # after the benchmarks; run_all.py calls it

Replaces what stands between `<!-- results:start -->` and `<!-- results:end -->` in
docs/performance.md with tables made from sync_cost.json, rate_limit.json and alert_latency.json
(whichever exist); the prose around them is left alone.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DOC = BENCH.parent / "docs" / "performance.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

JOB_NAMES = {
    "floor_b": "floor B: json.loads only",
    "floor_a": "floor A: httpx + json.loads",
    "floor_c": "floor C: A + sqlite-utils upsert_all",
    "first": "**ozon-sync first sync**",
    "repeat": "**ozon-sync unchanged repeat**",
    "ozon_sdk": "ozon-sdk (listing only)",
    "ozonapi_async": "ozonapi-async (listing only)",
}


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _verdict(met: Any) -> str:
    return "met" if met is True else ("**missed**" if met is False else "not judged")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _machine(data: dict[str, Any]) -> str:
    m = data["machine"]
    load = ", ".join(f"{x:.2f}" for x in m["load_average_at_start"])
    return (
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, commit {m['commit']}, "
        f"{m['date']} (load average at start {load})"
    )


def sync_cost(data: dict[str, Any]) -> list[str]:
    """Sync cost tables."""
    out = [
        "### 1. Sync cost",
        "",
        f"`{data['command'].strip()}` - {_machine(data)}; CPU: best of {data['rounds']} rounds"
        " (median in brackets).",
        "",
    ]
    rows = []
    for result in data["results"]:
        for kind, name in JOB_NAMES.items():
            job = result["jobs"].get(kind)
            if job is None:
                continue
            if "failed" in job:
                rows.append([_num(result["size"]), name, "failed", "", "", "", "", "", ""])
                continue
            requests = job.get("requests") or {}
            minimum = math.ceil(job["listed"] / 100)
            us = job["cpu_us_per_posting"]
            rows.append(
                [
                    _num(result["size"]),
                    name,
                    _num(job["listed"]),
                    _num(job["wall_seconds"]["min"], 2),
                    _num(job["cpu_seconds"]["min"], 2),
                    f"{us['min']:.1f} ({us['median']:.1f})",
                    _num(job["peak_rss_mb"]["max"]),
                    f"{requests.get('unfulfilled', '')} / {minimum}",
                    _num(requests.get("changed", 0) + requests.get("gets", 0)),
                    _num(job.get("rows_written")) if kind not in ("floor_a", "floor_b") else "",
                ]
            )
        after = result.get("changes")
        if after:
            requests = after["requests"]
            count = sum(after["changes"].values())
            rows.append(
                [
                    _num(result["size"]),
                    f"ozon-sync after {count} changes",
                    _num(after["listed"]),
                    _num(after["spans"]["cycle"]["wall"], 2),
                    _num(after["spans"]["cycle"]["cpu"], 2),
                    f"{after['spans']['cycle']['cpu'] / after['listed'] * 1e6:.1f}",
                    _num(after["peak_rss_mb"]),
                    f"{requests['unfulfilled']} / {math.ceil(after['listed'] / 100)}",
                    f"{requests['changed']} changed-list pages, {requests['gets']} gets",
                    _num(after["rows_written"]),
                ]
            )
    head = ["N", "job", "postings", "wall s", "CPU s", "CPU us/posting", "peak RSS MB",
            "list pages / min", "other requests", "rows written"]  # fmt: skip
    out += _table(head, rows)
    unpatched = [r.get("peers_unpatched") for r in data["results"] if r.get("peers_unpatched")]
    if unpatched:
        out += ["", "Peers without help (see Peers below):", ""]
        for kind, report in unpatched[-1].items():
            failure = " ".join(str(report.get("failed", "no failure")).split())[:300]
            out.append(f"- {kind}, after {_num(report.get('listed_before'))} postings: {failure}")
    out += ["", "Targets:", ""]
    out += _table(
        ["N", "target", "measured", "verdict"],
        [[_num(t["size"]), t["target"], t["value"], _verdict(t["met"])] for t in data["targets"]],
    )
    if data.get("peers"):
        versions = ", ".join(f"{k} {v}" for k, v in data["peers"].items())
        out += ["", f"Peer venv: {versions}."]
    return out


def rate_limit(data: dict[str, Any]) -> list[str]:
    """Rate-limit table."""
    out = [
        "### 2. Rate-limit use",
        "",
        f"`{data['command'].strip()}` - {_machine(data)}; {_num(data['size'])} watched"
        f" postings; target: {data['target']}.",
        "",
    ]
    rows = [
        [
            str(r["rate"]),
            str(r["limit"]),
            r["sync"],
            _num(r["listed"]),
            _num(r["requests"]),
            _num(r["floor_seconds"], 2),
            _num(r["wall_seconds"], 2),
            f"{r['ratio']:.3f}",
            _num(r["rate_limited_429"]),
            _verdict(r["met"]),
        ]
        for r in data["results"]
    ]
    head = ["R (max_requests_per_second)", "sandbox limit L", "sync", "postings", "requests",
            "floor s (requests / R)", "sync s", "x floor", "429 answers", "verdict"]  # fmt: skip
    return out + _table(head, rows)


def alert_latency(data: dict[str, Any]) -> list[str]:
    """Alert latency table."""
    out = [
        "### 3. Alert latency (run mode)",
        "",
        f"`{data['command'].strip()}` - {_machine(data)}; {_num(data['background_postings'])}"
        f" other watched postings; target: {data['target']}.",
        "",
    ]
    rows = []
    for name, label in (("spread", "spread over"), ("burst", "same second")):
        group = data[name]
        what = (
            f"{group['postings']} {label} {group['over_seconds']:.0f} s"
            if name == "spread"
            else f"{group['postings']} {label}"
        )
        delivered = group.get("covered", group.get("delivered"))
        rows.append(
            [
                what,
                _num(delivered),
                _num(group.get("median"), 2),
                _num(group.get("worst"), 2),
                _verdict(group.get("met")),
            ]
        )
    out += _table(["postings crossing the 1h step", "delivered", "median s", "worst s",
                   "verdict"], rows)  # fmt: skip
    requests = data.get("requests") or {}
    out += [
        "",
        f"Requests of the whole run: {_num(requests.get('unfulfilled'))} unfulfilled-list pages,"
        f" {_num(requests.get('gets'))} gets, {_num(requests.get('rate_limited'))} 429 answers.",
    ]
    return out


def main() -> int:
    """Rewrite the results block of docs/performance.md."""
    block: list[str] = []
    for name, render in (
        ("sync_cost", sync_cost),
        ("rate_limit", rate_limit),
        ("alert_latency", alert_latency),
    ):
        data = _load(name)
        if data is not None:
            block += [*render(data), ""]
    text = DOC.read_text(encoding="utf-8")
    before, start, rest = text.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        print(f"{DOC} has no {START} ... {END} block", file=sys.stderr)
        return 1
    DOC.write_text(before + START + "\n" + "\n".join(block) + END + after, encoding="utf-8")
    print(f"updated {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
