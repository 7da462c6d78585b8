"""Cancelling end to end: the installed `ozon-sync --config F once` as its own process against
the sandbox in its own process; the sandbox's recorded calls prove what was sent, and
`history --json` shows what the daemon recorded."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, ozon_sync_command, run_cli

KEY = "e2e-cancel-9c1f0b7e-key"
CANCEL = "/v2/posting/fbs/cancel"
HOUR = timedelta(hours=1)
StartSandbox = Callable[..., SandboxProcess]


@dataclass
class Site:
    """A config file pointing at a sandbox, and the commands run against it."""

    sb: SandboxProcess
    config: Path

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return run_cli(
            "--config", str(self.config), *args, env=clean_env(OZON_E2E_KEY=KEY), timeout=timeout
        )

    def once(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run("once", *args)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    def history(self) -> list[dict[str, Any]]:
        result = self.run("history", "--json", "--limit", "1000")
        assert result.returncode == 0, result.stderr[-3000:]
        items: list[dict[str, Any]] = json.loads(result.stdout)
        return list(reversed(items))  # oldest first

    def events(self, number: str) -> list[tuple[str, bool, str]]:
        """(event, dry_run, reason) of every history element naming `number`, oldest first."""
        return [
            (item["event"], item["dry_run"], item["reason"])
            for item in self.history()
            if number in item["posting_numbers"]
        ]

    def add(self, hours_overdue: float) -> str:
        moment = datetime.now(UTC) - hours_overdue * HOUR
        answer = self.sb.action("add_posting", shipment_date=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        number: str = answer["posting_number"]
        return number

    def cancel_requests(self, number: str | None = None) -> list[dict[str, Any]]:
        return [
            call
            for call in self.sb.calls()
            if call["path"] == CANCEL
            and (number is None or call["body"]["posting_number"] == number)
        ]


@pytest.fixture
def site(tmp_path: Path, sandbox_process: StartSandbox) -> Callable[..., Site]:
    def make(*sandbox_args: str, enabled: bool = True, timeout: str = "10s") -> Site:
        sb = sandbox_process("--scenario", "empty", "--no-events", "--api-key", KEY, *sandbox_args)
        config = tmp_path / "config.toml"
        config.write_text(
            f"""
[daemon]
database = "state.db"
log_format = "json"

[ozon]
base_url = "{sb.base_url}"
timeout = "{timeout}"
retry_for = "5s"

[[accounts]]
name = "shop-1"
client_id = "{sb.client_id}"
api_key_env = "OZON_E2E_KEY"

[policy.cancel]
enabled = {"true" if enabled else "false"}
""",
            encoding="utf-8",
        )
        return Site(sb, config)

    return make


def test_repeated_once_runs_send_each_eligible_posting_exactly_one_cancel_request(
    site: Callable[..., Site],
) -> None:
    s = site()
    eligible = [s.add(50), s.add(70)]
    young = s.add(47)
    for _ in range(4):
        s.add(-72)  # watched, due in three days
    for _ in range(3):
        s.once()
    for number in eligible:
        assert len(s.cancel_requests(number)) == 1
        steps = [(e, dry) for e, dry, _ in s.events(number) if e == "cancelled"]
        assert steps == [("cancelled", False), ("cancelled", False)]  # journal + alert message
    assert s.cancel_requests(young) == []
    body = s.cancel_requests(eligible[0])[0]["body"]
    assert body["cancel_reason_id"] == 402 and body["cancel_reason_message"]


def test_a_posting_shipped_between_listing_and_re_reading_is_not_cancelled(
    site: Callable[..., Site],
) -> None:
    s = site()
    number = s.add(50)
    s.sb.set_knobs(change_on_get={number: "ship"})
    s.once()
    s.once()
    assert s.cancel_requests() == []
    reasons = [r for e, _, r in s.events(number) if e == "would_cancel"]
    assert any("between listing and re-reading" in r for r in reasons)


def test_a_held_posting_is_not_cancelled(site: Callable[..., Site]) -> None:
    s = site()
    held, other = s.add(50), s.add(60)
    assert s.run("hold", held, "--force").returncode == 0  # not synced yet: --force
    s.once()
    assert s.cancel_requests(held) == []
    assert len(s.cancel_requests(other)) == 1


def test_a_process_killed_before_ozons_answer_sends_no_second_request_after_restart(
    site: Callable[..., Site],
) -> None:
    s = site("--cancel-outcome", "hang", "--hang-seconds", "600", timeout="60s")
    number = s.add(50)
    process = subprocess.Popen(
        [*ozon_sync_command(), "--config", str(s.config), "once"],
        env=clean_env(OZON_E2E_KEY=KEY),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not s.cancel_requests():  # Ozon applied it and "hangs" before answering
            assert time.monotonic() < deadline, "the cancel request never arrived"
            assert process.poll() is None, "once exited before its cancel was answered"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(timeout=30)
    s.sb.set_knobs(cancel_outcome="answer")
    s.once()
    s.once()
    assert len(s.cancel_requests()) == 1
    journal = [(e, r) for e, _, r in s.events(number) if e in ("cancel_failed", "cancelled")]
    assert journal[0] == ("cancel_failed", "outcome unknown")
    assert "cancelled" in [e for e, _ in journal[1:]]


def test_an_answer_lost_after_ozon_applied_the_cancel_ends_cancelled_without_a_second_request(
    site: Callable[..., Site],
) -> None:
    s = site("--cancel-outcome", "drop")
    number = s.add(50)
    s.once()
    s.once()
    assert len(s.cancel_requests()) == 1
    events = [e for e, _, _ in s.events(number)]
    assert "cancelled" in events[events.index("cancel_failed") :]  # followed by cancelled
    assert ("cancel_failed", False, "outcome unknown") in s.events(number)


def test_the_share_breaker_cancels_none_of_a_suspicious_batch(site: Callable[..., Site]) -> None:
    s = site()
    numbers = [s.add(50 + i) for i in range(3)]
    s.add(-72)  # 3 of 4 watched would go: far over max_share 0.2
    s.once()
    assert s.cancel_requests() == []
    for number in numbers:
        reasons = [r for e, _, r in s.events(number) if e == "would_cancel"]
        assert reasons, number
    (item,) = [i for i in s.history() if i["event"] == "would_cancel"]
    assert sorted(item["posting_numbers"]) == sorted(numbers)


def test_a_clock_off_ozons_date_header_cancels_none(site: Callable[..., Site]) -> None:
    s = site("--date-skew", "300")
    number = s.add(50)
    s.once()
    assert s.cancel_requests() == []
    reasons = [r for e, _, r in s.events(number) if e == "would_cancel"]
    assert reasons and "clock" in reasons[0]


def test_a_reason_ozon_does_not_allow_is_cancel_failed_without_a_request(
    site: Callable[..., Site],
) -> None:
    s = site()
    number = s.add(50)
    s.sb.set_knobs(cancel_reasons={number: [352, 400]})
    s.once()
    assert s.cancel_requests() == []
    failed = [r for e, _, r in s.events(number) if e == "cancel_failed"]
    assert failed and "352" in failed[0] and "400" in failed[0]


@pytest.mark.parametrize(
    ("enabled", "args"), [(False, ()), (True, ("--dry-run",))], ids=["enabled=false", "--dry-run"]
)
def test_a_dry_run_sends_nothing_and_history_shows_the_planned_cancellation(
    site: Callable[..., Site], enabled: bool, args: tuple[str, ...]
) -> None:
    s = site(enabled=enabled)
    number = s.add(50)
    s.once(*args)
    s.once(*args)
    assert s.cancel_requests() == []
    events = s.events(number)
    # one would_cancel message and one planned (dry-run) journal step, nothing cancelled
    assert [e for e, _, _ in events].count("would_cancel") == 2
    assert "cancelled" not in [e for e, _, _ in events]
    assert all(dry for e, dry, _ in events if e == "would_cancel")


def test_a_cancel_ozon_applies_late_after_a_lost_answer_is_sent_once_and_reported_cancelled(
    site: Callable[..., Site],
) -> None:
    s = site()
    number = s.add(50)
    s.sb.set_knobs(cancel_apply_delay=30, cancel_outcome="drop")
    s.once()  # sent, the answer lost; re-reads see it still open: the outcome stays unknown
    deadline = time.monotonic() + 120
    while "cancelled" not in [e for e, _, _ in s.events(number)]:
        assert time.monotonic() < deadline, s.events(number)
        time.sleep(2)
        s.once()
    s.once()
    assert s.sb.cancel_requests(number) == [0]  # exactly one request ever, its answer dropped
    events = [e for e, _, _ in s.events(number)]
    assert "cancelled_elsewhere" not in events
    assert events.count("cancelled") == 2  # the journal step and the alert message
    assert "one more try" not in " ".join(r for _, _, r in s.events(number))


def test_postings_packed_or_held_during_a_429_back_off_are_never_cancelled(
    site: Callable[..., Site],
) -> None:
    s = site()
    packed, held, other = s.add(50), s.add(51), s.add(52)
    for _ in range(12):
        s.add(-72)  # watched, due in three days (the share breaker stays quiet)
    started = time.monotonic()
    s.sb.set_knobs(cancel_429_for=8)
    s.once()  # every cancel answered 429: not sent, nothing refused
    assert time.monotonic() - started < 7, "too slow to test a back-off"
    s.sb.set_knobs(change_at=[{"posting_number": packed, "change": "pack", "after": 0}])
    assert s.run("hold", held).returncode == 0  # both during the back-off
    time.sleep(max(0.0, 9 - (time.monotonic() - started)))  # the back-off is over
    s.once()
    s.once()
    assert s.sb.cancel_requests(packed) == [429]
    assert s.sb.cancel_requests(held) == [429]
    assert s.sb.cancel_requests(other) == [429, 200]
    for number in (packed, held):
        events = [e for e, _, _ in s.events(number)]
        assert "cancel_skipped" in events and "cancelled" not in events
        assert "cancel_failed" not in events
