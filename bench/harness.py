"""Shared pieces of the benchmarks: the sandbox process, measured child processes, request
counting, the peers' venv, tables and result files.

Every measured run happens in a fresh child process (`bench/worker.py` with this interpreter,
`bench/peer_worker.py` with the peers' venv) that reports its own CPU time and peak RSS
(`resource.getrusage(RUSAGE_SELF)`), so one run's memory never pollutes the next and the
sandbox's CPU (its own process) is never counted. Requests are counted by the sandbox, which
records every API call with the status it answered.

Benchmarks are scripts, not tests: nothing here asserts; targets are reported as met or not.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from daemon.sandbox import SandboxProcess  # noqa: E402 - after the repo root is on sys.path

BENCH = REPO / "bench"
RESULTS = BENCH / "results"
PEERS_VENV = BENCH / ".peers-venv"
PEER_PACKAGES = ("ozon-sdk", "ozonapi-async")
UNFULFILLED = "/v4/posting/fbs/unfulfilled/list"
CHANGED = "/v4/posting/fbs/list"
GET = "/v3/posting/fbs/get"
PAGE = 100  # postings per list page (the v4 maximum)
# Share of the bulk scenario's postings in a watched status (awaiting_packaging or
# awaiting_deliver): every bucket but delivering (5 %), delivered (3 %) and cancelled (3 %).
WATCHED_SHARE = 0.89
API_KEY = "bench-key-not-a-secret-0000"


def scenario_size(watched: int) -> int:
    """Postings the bulk scenario needs so that about `watched` of them are watched."""
    return math.ceil(watched / WATCHED_SHARE)


def log(message: str) -> None:
    """Progress on stderr (stdout is for tables)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the sandbox


class Sandbox:
    """`python -m daemon.sandbox` in its own process, with request counting."""

    def __init__(self, postings: int, *, rate_limit: int = 0, scenario: str = "bulk") -> None:
        self.postings = postings
        self.process = SandboxProcess(
            "--scenario", scenario, "--postings", str(postings), "--no-events",
            "--rate-limit", str(rate_limit), "--api-key", API_KEY,
            ready_timeout=600,
        )  # fmt: skip

    def __enter__(self) -> Sandbox:
        started = time.monotonic()
        self.process.start()
        log(f"sandbox with {self.postings} postings ready in {time.monotonic() - started:.1f} s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT."""
        return self.process.base_url

    @property
    def client_id(self) -> str:
        """The Client-Id the sandbox accepts."""
        return self.process.client_id

    def credentials(self) -> dict[str, str]:
        """base_url, client_id and api_key, for workers."""
        return {"base_url": self.base_url, "client_id": self.client_id, "api_key": API_KEY}

    def calls(self) -> list[dict[str, Any]]:
        """Every API call the sandbox recorded (path, body, at, status), oldest first."""
        return self.process.calls()

    def mark(self) -> int:
        """A position in the call record; `counts(mark)` counts the calls after it."""
        return len(self.calls())

    def counts(self, mark: int) -> Requests:
        """The calls after `mark`, by path and status."""
        return Requests.of(self.calls()[mark:])

    def set_knobs(self, **knobs: Any) -> None:
        """Change sandbox knobs (rate_limit, latency...)."""
        self.process.set_knobs(**knobs)

    def action(self, action: str, **fields: Any) -> dict[str, Any]:
        """A scenario verb (add_posting, ship, cancel_by_buyer, move_deadline...)."""
        return self.process.action(action, **fields)


@dataclass(frozen=True)
class Requests:
    """API calls of one measured run, as the sandbox counted them."""

    unfulfilled: int
    changed: int
    gets: int
    other: int
    rate_limited: int  # 429 answers
    failed: int  # other non-200 answers

    @classmethod
    def of(cls, calls: Iterable[dict[str, Any]]) -> Requests:
        """Count `calls` (sandbox call records)."""
        paths: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        for call in calls:
            statuses[call["status"]] += 1
            if call["status"] == 200:
                paths[call["path"]] += 1
        known = paths[UNFULFILLED] + paths[CHANGED] + paths[GET]
        return cls(
            unfulfilled=paths[UNFULFILLED],
            changed=paths[CHANGED],
            gets=paths[GET],
            other=sum(paths.values()) - known,
            rate_limited=statuses[429],
            failed=sum(n for s, n in statuses.items() if s not in (200, 429)),
        )

    def as_dict(self) -> dict[str, int]:
        """JSON-able."""
        return dict(self.__dict__)


# ----------------------------------------------------------------------------- child processes


def run_worker(kind: str, args: dict[str, Any], *, python: str | None = None) -> dict[str, Any]:
    """Run one measured job in a fresh process and return its report (a dict).

    `python` is the interpreter (default: this one, running bench/worker.py; the peers' venv
    runs bench/peer_worker.py). Raises RuntimeError with the child's stderr when it fails.
    """
    script = BENCH / ("peer_worker.py" if python else "worker.py")
    command = [python or sys.executable, str(script), kind, json.dumps(args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=3600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        output = f"{done.stderr[-3000:]}\n{done.stdout[-500:]}"
        raise RuntimeError(f"{kind} worker failed ({done.returncode}):\n{output}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def ensure_peers(packages: Sequence[str] = PEER_PACKAGES) -> str:
    """The python of the peers' venv (bench/.peers-venv, ignored by git), created and filled
    with `packages` from PyPI if missing. These clients are never ozon-sync dependencies."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        log(f"creating {PEERS_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    probe = "import ozon_sdk, ozonapi"
    if subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        log(f"installing {', '.join(packages)} into {PEERS_VENV}")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *packages], check=True, timeout=900
        )
    return str(python)


def peer_versions(python: str) -> dict[str, str]:
    """Installed versions of the peers (and their HTTP stacks) in the peers' venv."""
    code = (
        "import json, importlib.metadata as m\n"
        "names = ['ozon-sdk', 'ozonapi-async', 'httpx', 'aiohttp', 'msgspec', 'pydantic']\n"
        "print(json.dumps({n: m.version(n) for n in names}))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


# ----------------------------------------------------------------------------- config files


def write_config(
    folder: Path,
    sandbox: Sandbox | SandboxProcess,
    *,
    rps: float = 50,
    extra: str = "",
    poll: str = "10m",
    log_level: str = "info",
) -> Path:
    """A config.toml for one account against `sandbox` (key inline: it is the sandbox's)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f"""
[daemon]
database = "state.db"
poll_interval = "{poll}"
log_format = "json"
log_level = "{log_level}"

[ozon]
base_url = "{sandbox.base_url}"
timeout = "60s"
retry_for = "120s"
max_requests_per_second = {rps}

[[accounts]]
name = "bench"
client_id = "{sandbox.client_id}"
api_key = "{API_KEY}"
{extra}
""",
        encoding="utf-8",
    )
    return path


# ----------------------------------------------------------------------------- reporting


def best(values: Sequence[float]) -> float:
    """The best (smallest) of repeated measurements: the least disturbed by other load."""
    return min(values)


def spread(values: Sequence[float]) -> dict[str, float]:
    """min, median and max of repeated measurements."""
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next((ln.split(":", 1)[1].strip() for ln in info if "model name" in ln), "")
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "commit": commit,
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain text table of `rows` with `columns` = [(key, heading)]."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        return "" if value is None else str(value)

    cells = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [
        max([len(heading)] + [len(line[i]) for line in cells])
        for i, (_, heading) in enumerate(columns)
    ]
    head = "  ".join(h.rjust(w) for (_, h), w in zip(columns, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join([head, rule, *body])


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json (atomically) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    log(f"wrote {path.relative_to(REPO)}")
    return path


def fetch_json(url: str) -> Any:
    """GET a JSON document from 127.0.0.1."""
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - 127.0.0.1 only
        return json.loads(answer.read())
