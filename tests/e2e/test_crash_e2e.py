"""Crashes end to end (issue 14): the installed `ozon-sync` killed at random moments of cycles
that cancel several postings and alert others, against the sandbox in its own process with
latency and dropped connections; alerts go to json:// routes on a local receiver, one route
per event.

- `once` is killed with SIGKILL at random moments (`--crash-runs N` kills, `--crash-seed S`
  replays a run; the seed is printed in pytest's header and in every failure);
- `run` is stopped with SIGTERM while a cancel request hangs past its grace period
  (`--term-runs N`).

Then the daemon settles (`once` without a kill until two runs in a row change nothing) and,
for every posting: a posting Ozon cancelled got exactly one cancel request that Ozon applied
and its `cancelled` alert reached the route; a selected posting that was not cancelled was
reported (`cancel_failed`); every `overdue` and `reminder` alert reached the route; and no
(event, posting) arrived more than twice (the contract's only duplicate: the process died
between a send and recording it).
"""

from __future__ import annotations

import json
import random
import signal
import statistics
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, ozon_sync_command
from tests.receiver import Receiver

KEY = "e2e-crash-5d0e8b1c-key"
CANCEL = "/v2/posting/fbs/cancel"
ROUTED = (
    "reminder", "overdue", "would_cancel", "cancelled", "cancel_failed", "deadline_changed",
    "cancelled_elsewhere", "api_error", "recovered",
)  # fmt: skip
# A route's URL is a secret, masked in logs with its path: "/to-overdue", not "/overdue".
ROUTE_PREFIX = "/to-"
# Per round: postings to cancel (overdue by 50 h and more, over overdue_for 48h), overdue ones
# that stay (3 to 10 h late) and ones due in 6 to 12 h (under the 24h reminder step).
TO_CANCEL, OVERDUE, REMIND = 4, 2, 2
KILLS_PER_ROUND = 5
STARTUP_GUESS = 1.5  # seconds from exec to `cycle_started`, until measured
WORK_GUESS = 1.5  # seconds from `cycle_started` to the exit, until measured
SETTLE_RUNS = 12  # at most this many `once` to settle


@dataclass
class Round:
    """The postings one round added to the sandbox."""

    cancel: list[str]
    overdue: list[str]
    remind: list[str]


@dataclass
class Site:
    """A sandbox, a config for it with one json:// route per event, and the receiver."""

    sb: SandboxProcess
    folder: Path
    receiver: Receiver
    rng: random.Random
    seed: int
    startups: list[float] = field(default_factory=list)
    works: list[float] = field(default_factory=list)
    kills: int = 0
    runs: int = 0

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"

    @property
    def env(self) -> dict[str, str]:
        return clean_env(OZON_E2E_KEY=KEY)

    def add(self, hours_late: float) -> str:
        moment = datetime.now(UTC) - timedelta(hours=hours_late)
        answer = self.sb.action("add_posting", shipment_date=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        number: str = answer["posting_number"]
        return number

    def add_round(self) -> Round:
        rng = self.rng
        return Round(
            cancel=[self.add(rng.uniform(50, 60)) for _ in range(TO_CANCEL)],
            overdue=[self.add(rng.uniform(3, 10)) for _ in range(OVERDUE)],
            remind=[self.add(-rng.uniform(6, 12)) for _ in range(REMIND)],
        )

    def start(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.runs += 1
        log = self.folder / f"run{self.runs}.log"
        with log.open("wb") as err:
            process = subprocess.Popen(
                [*ozon_sync_command(), "--config", str(self.config), *args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=self.env,
            )
        return process, log

    def once(self) -> int:
        """`once` to its end; measures its start-up and its work for the kill moments."""
        started = time.monotonic()
        process, log = self.start("once")
        cycle_at = None
        while process.poll() is None:
            if cycle_at is None and b"cycle_started" in log.read_bytes():
                cycle_at = time.monotonic()
            time.sleep(0.01)
        ended = time.monotonic()
        if cycle_at is not None:
            self.startups.append(cycle_at - started)
            self.works.append(ended - cycle_at)
        return process.returncode

    def kill_once(self) -> bool:
        """Start `once` and SIGKILL it at a random moment from just before its cycle starts to
        about its usual end; False when it ended before the kill."""
        startup = statistics.median(self.startups) if self.startups else STARTUP_GUESS
        work = statistics.median(self.works) if self.works else WORK_GUESS
        delay = self.rng.uniform(0.7 * startup, startup + 1.1 * work)
        process, _ = self.start("once")
        try:
            process.wait(timeout=delay)
            return False  # it ended first: nothing was killed
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            self.kills += 1
            return True

    def settle(self) -> None:
        """`once` until two runs in a row exit 0 and change nothing Ozon or a route can see."""
        quiet = 0
        for _ in range(SETTLE_RUNS):
            before = (self.cancel_count(), len(self.receiver.messages))
            code = self.once()
            after = (self.cancel_count(), len(self.receiver.messages))
            quiet = quiet + 1 if code == 0 and before == after else 0
            if quiet == 2:
                return
        pytest.fail(f"the daemon did not settle in {SETTLE_RUNS} runs (seed {self.seed})")

    def cancel_statuses(self) -> dict[str, list[int]]:
        """Every cancel request the sandbox took, by posting: the statuses answered (0: the
        connection was dropped). Kept whole by the sandbox, unlike its capped call log."""
        statuses: dict[str, list[int]] = self.sb.cancel_requests()
        return statuses

    def cancel_count(self) -> int:
        return sum(len(statuses) for statuses in self.cancel_statuses().values())

    def sandbox_status(self, number: str) -> str:
        url = f"{self.sb.base_url}/__sandbox__/status/{number}"
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
            status: str = json.loads(answer.read())["status"]
        return status

    def delivered(self) -> Counter[tuple[str, str]]:
        """How many messages reached the routes per (event, posting number)."""
        counts: Counter[tuple[str, str]] = Counter()
        for message in list(self.receiver.messages):
            event = message.path.removeprefix(ROUTE_PREFIX)
            for line in message.message.splitlines():
                if " | " in line and not line.startswith(" "):
                    counts[(event, line.split(" | ")[0].strip())] += 1
        return counts

    def problems(self, rounds: list[Round]) -> list[str]:
        """Everything the settled daemon got wrong, one line each."""
        delivered = self.delivered()
        applied: Counter[str] = Counter(
            {
                number: sum(1 for status in statuses if status != 0)
                for number, statuses in self.cancel_statuses().items()
            }
        )
        found = []
        for index, one in enumerate(rounds):
            where = f"round {index}"
            for number in one.cancel:
                status = self.sandbox_status(number)
                if status == "cancelled":
                    if applied[number] != 1:
                        found.append(f"{where}: {number} got {applied[number]} cancel requests")
                    if not delivered[("cancelled", number)]:
                        found.append(f"{where}: {number} was cancelled; no cancelled alert came")
                elif not (delivered[("cancel_failed", number)] or applied[number]):
                    found.append(f"{where}: {number} not cancelled ({status}) and not reported")
            for number in one.cancel + one.overdue:
                if not delivered[("overdue", number)]:
                    found.append(f"{where}: no overdue alert for {number}")
            for number in one.remind:
                if not delivered[("reminder", number)]:
                    found.append(f"{where}: no reminder for {number}")
        found += [
            f"{event} for {number} arrived {count} times"
            for (event, number), count in sorted(delivered.items())
            if count > 2
        ]
        return found


def config_text(sb: SandboxProcess, receiver: Receiver, *, timeout: str, max_per_cycle: int) -> str:
    routes = "".join(
        f'\n[[notify]]\nurl = "{receiver.url(ROUTE_PREFIX + event)}"\nevents = ["{event}"]\n'
        for event in ROUTED
    )
    return f"""
[daemon]
database = "state.db"
log_format = "json"
poll_interval = "10m"

[ozon]
base_url = "{sb.base_url}"
timeout = "{timeout}"
retry_for = "5s"
max_requests_per_second = 50

[[accounts]]
name = "shop-1"
client_id = "{sb.client_id}"
api_key_env = "OZON_E2E_KEY"

[policy]
remind_before = ["24h"]
overdue_repeat = "0s"

[policy.cancel]
enabled = true
max_per_cycle = {max_per_cycle}
max_share = 1.0
{routes}"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def site(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    receiver: Receiver,
    request: pytest.FixtureRequest,
) -> Callable[..., Site]:
    seed: int = request.config.getoption("--crash-seed")

    def make(*, timeout: str = "5s", max_per_cycle: int = 2) -> Site:
        sb = sandbox_process(
            "--scenario", "empty", "--no-events", "--api-key", KEY, "--rate-limit", "0",
            "--latency", "0.03", "--drop-rate", "0.03", "--seed", str(seed % 10_000),
        )  # fmt: skip
        site = Site(sb, tmp_path, receiver, random.Random(seed), seed)
        site.config.write_text(
            config_text(sb, receiver, timeout=timeout, max_per_cycle=max_per_cycle),
            encoding="utf-8",
        )
        return site

    return make


def test_once_killed_at_random_moments_loses_no_cancelled_alert_and_never_cancels_twice(
    site: Callable[..., Site], request: pytest.FixtureRequest
) -> None:
    wanted: int = request.config.getoption("--crash-runs")
    s = site()
    s.once()  # measures start-up and an empty cycle
    rounds: list[Round] = []
    attempts = 0
    while s.kills < wanted:
        rounds.append(s.add_round())
        goal = min(wanted, s.kills + KILLS_PER_ROUND)
        while s.kills < goal:
            attempts += 1
            s.kill_once()
        s.settle()
    problems = s.problems(rounds)
    cancelled = sum(s.sandbox_status(n) == "cancelled" for r in rounds for n in r.cancel)
    twice = sum(count == 2 for count in s.delivered().values())
    summary = (
        f"seed {s.seed}: {s.kills} kills in {attempts} tries, {len(rounds)} rounds, "
        f"{cancelled} of {len(rounds) * TO_CANCEL} postings cancelled, "
        f"{len(s.receiver.messages)} messages, {twice} (event, posting) delivered twice"
    )
    print(summary)
    assert not problems, f"{summary}; {len(problems)} problems:\n" + "\n".join(problems)


def test_run_stopped_while_a_cancel_hangs_past_the_grace_period_loses_no_cancelled_alert(
    site: Callable[..., Site], request: pytest.FixtureRequest
) -> None:
    wanted: int = request.config.getoption("--term-runs")
    # The hanging request outlives the 25 s grace of SIGTERM; one cycle cancels them all.
    s = site(timeout="90s", max_per_cycle=TO_CANCEL)
    rounds: list[Round] = []
    for _ in range(wanted):
        rounds.append(s.add_round())
        answered = s.rng.randrange(1, TO_CANCEL)  # cancels answered before one hangs
        s.sb.set_knobs(cancel_outcome="hang", hang_seconds=600, cancel_answer_next=answered)
        hanging = s.cancel_count() + answered + 1
        process, log = s.start("run")
        try:
            deadline = time.monotonic() + 120
            while s.cancel_count() < hanging:
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"no hanging cancel (seed {s.seed})"
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert code == 0, log.read_text()[-3000:]
        s.sb.set_knobs(cancel_outcome="answer", cancel_answer_next=0)
        s.settle()
    problems = s.problems(rounds)
    cancelled = sum(s.sandbox_status(n) == "cancelled" for r in rounds for n in r.cancel)
    print(f"seed {s.seed}: {wanted} SIGTERMs, {cancelled} of {len(rounds) * TO_CANCEL} cancelled")
    assert not problems, f"seed {s.seed}: {len(problems)} problems:\n" + "\n".join(problems)
