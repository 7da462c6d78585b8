"""Working calendars in the alerts of the real `ozon-sync` process (issue 19), against the
sandbox in its own process, on a shifted clock: the daemon's interpreter starts with its wall
clock moved to a chosen instant (tests/fakeclock/sitecustomize.py, time-machine, ticking at
real speed; monotonic time stays real, so the scheduler's waits are real seconds).

- `run`: a posting due Monday 09:00 gets `at_risk` at Friday's 18:00 closing, from a precise
  wake-up (not at the next poll), once;
- `run`: with `remind_in = "working"` the reminder comes when the working time left drops below
  the step (Friday 17:00 for 2h before Monday 10:00), not when the clock time does (Monday);
- `once`: the digest lists each calendar's non-working days in the next 7 days (RU 2027: a
  transferred working Saturday, then a three-day break; CN 2027: the Spring Festival) and the
  postings due in or right after them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.sandbox import SandboxProcess
from tests.e2e.conftest import (
    KAZAN_WAREHOUSE,
    MAIN_WAREHOUSE,
    Daemon,
    MakeDaemon,
    Running,
    StartSandbox,
    explain,
)
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

FAKE_CLOCK = Path(__file__).resolve().parents[1] / "fakeclock"
MSK = ZoneInfo("Europe/Moscow")
LATENCY = 5.0  # seconds a precise wake-up may take to reach the route on a loaded machine


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def at(zone: str, *fields: int) -> datetime:
    """A wall-clock time in `zone` (year, month, day, hour[, minute[, second]]), as UTC."""
    year, month, day, hour, *rest = fields
    return datetime(year, month, day, hour, *rest, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def site(
    make_daemon: MakeDaemon,
    base_url: str,
    receiver: Receiver,
    *,
    events: str,
    calendars: str,
    policy: str = "",
    language: str = "en",
    starts_at: datetime,
) -> tuple[Daemon, float]:
    """A daemon config for the sandbox with one json:// route taking `events`, the given
    `[[calendars]]` and `[policy]` lines, whose commands start with the clock at `starts_at`;
    returns it and the shift (seconds) from real to daemon time."""
    daemon = make_daemon(base_url)
    daemon.config.write_text(
        f"""
[daemon]
database = "state.db"
log_format = "json"
language = "{language}"
timezone = "Europe/Moscow"
poll_interval = "5m"

[ozon]
base_url = "{base_url}"
retry_for = "5s"

[[accounts]]
name = "shop-1"
client_id = "100500"
api_key_env = "OZON_E2E_KEY_0"

[policy]
{policy}

[[notify]]
url = "{receiver.url("/phone")}"
events = {events}
{calendars}
""",
        encoding="utf-8",
    )
    shift = (starts_at - datetime.now(UTC)).total_seconds()
    daemon.env.update(PYTHONPATH=str(FAKE_CLOCK), FAKE_CLOCK_SHIFT_SECONDS=repr(shift))
    return daemon, shift


def add(sb: SandboxProcess, number: str, deadline: datetime, warehouse: int, name: str) -> None:
    sb.action(
        "add_posting", posting_number=number, shipment_date=z(deadline), warehouse_id=warehouse,
        warehouse_name=name,
    )  # fmt: skip


def stop(running: Running) -> str:
    running.process.terminate()
    result = running.wait(timeout=60)
    assert result.returncode == 0, explain(result)
    return result.stderr


def test_at_risk_goes_out_at_fridays_closing_for_a_posting_due_monday_morning_once(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, receiver: Receiver
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    closing = at("Europe/Moscow", 2027, 3, 12, 18, 0)  # Friday 18:00
    monday = at("Europe/Moscow", 2027, 3, 15, 9, 0)  # due before Monday's 09:00 opening
    add(sb, "77700001-0001-1", monday, MAIN_WAREHOUSE, "Main FBS warehouse")
    add(sb, "77700002-0001-1", monday, KAZAN_WAREHOUSE, "Kazan")  # no calendar: clock time
    daemon, shift = site(
        make_daemon, sb.base_url, receiver,
        events='["at_risk", "reminder", "overdue"]',
        calendars=f"""
[[calendars]]
name = "office"
timezone = "Europe/Moscow"
hours = ["09:00-18:00"]
warehouse_ids = [{MAIN_WAREHOUSE}]
""",
        starts_at=closing - timedelta(seconds=25),
    )  # fmt: skip
    running = daemon.start("run")
    messages = receiver.wait_for(1, timeout=90)
    assert messages, running.stderr_path.read_text()
    latency = receiver.arrivals[0] - (closing.timestamp() - shift)
    assert 0 <= latency <= LATENCY, f"at_risk arrived {latency:.2f} s after the closing"
    (message,) = messages
    assert message.title.startswith("[shop-1] No working time left: 1 posting")
    assert "the warehouse is closed until after the deadline" in message.message
    assert "77700001-0001-1" in message.message and "77700002-0001-1" not in message.message
    assert "2027-03-15 09:00 MSK, 2d 14h left (0s of working time)" in message.message
    time.sleep(3)  # later cycles and wake-ups add nothing
    log = stop(running)
    assert '"event": "wakeup_finished"' in log
    # a full cycle after a restart, on Saturday: still once per posting and deadline
    daemon.env["FAKE_CLOCK_SHIFT_SECONDS"] = repr(shift + 86_400)
    assert daemon.once().returncode == 0
    assert len(receiver.on("/phone")) == 1
    sent = [e for e in daemon.history() if e["event"] == "at_risk"]
    assert [e["posting_numbers"] for e in sent] == [["77700001-0001-1"]]
    assert sent[0]["at"].startswith("2027-03-12T15:00:0")  # queued at the closing, Moscow 18:00


def test_remind_in_working_reminds_when_the_working_time_left_drops_below_the_step(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, receiver: Receiver
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    monday = at("Europe/Moscow", 2027, 3, 15, 10, 0)
    # 2h of working time before Monday 10:00: Monday 09:00-10:00 and Friday 17:00-18:00
    threshold = at("Europe/Moscow", 2027, 3, 12, 17, 0)
    add(sb, "77800001-0001-1", monday, MAIN_WAREHOUSE, "Main FBS warehouse")
    add(sb, "77800002-0001-1", monday, KAZAN_WAREHOUSE, "Kazan")  # clock time: Monday 08:00
    daemon, shift = site(
        make_daemon, sb.base_url, receiver,
        events='["reminder", "at_risk"]',
        policy='remind_before = ["2h"]\nremind_in = "working"',
        calendars=f"""
[[calendars]]
name = "office"
timezone = "Europe/Moscow"
warehouse_ids = [{MAIN_WAREHOUSE}]
""",
        starts_at=threshold - timedelta(seconds=25),
    )  # fmt: skip
    running = daemon.start("run")
    messages = receiver.wait_for(1, timeout=90)
    assert messages, running.stderr_path.read_text()
    latency = receiver.arrivals[0] - (threshold.timestamp() - shift)
    assert 0 <= latency <= LATENCY, f"the reminder arrived {latency:.2f} s after its threshold"
    (message,) = messages
    assert message.title.startswith("[shop-1] Ship soon: 1 posting")
    assert "77800001-0001-1" in message.message and "77800002-0001-1" not in message.message
    assert "2d 16h left (1h 59m of working time)" in message.message
    time.sleep(2)
    stop(running)
    assert len(receiver.on("/phone")) == 1
    (entry,) = [e for e in daemon.history() if e["event"] == "reminder"]
    assert "of working time left" in entry["reason"]
    assert "under the 2h working-time reminder step" in entry["reason"]


@pytest.mark.parametrize(
    ("country", "zone", "today", "language", "due", "expected"),
    [
        (
            "RU", "Europe/Moscow", (2027, 2, 18, 9, 0, 30), "en",
            {
                "1-1": (2027, 2, 20, 12),  # the transferred working Saturday: not listed
                "2-1": (2027, 2, 22, 10),  # in the break
                "3-1": (2027, 2, 24, 17),  # the first working day after it
                "4-1": (2027, 2, 25, 10),  # a day later: not listed
            },
            ["Non-working days in the next 7 days:",
             "office: Sun 02-21, Mon 02-22, Tue 02-23; due in or right after them: 2"],
        ),
        (
            "CN", "Asia/Shanghai", (2027, 2, 4, 14, 0, 30), "zh",
            {
                "1-1": (2027, 2, 4, 18),  # today, a working day
                "2-1": (2027, 2, 10, 15),  # the Spring Festival
                "3-1": (2027, 2, 11, 10),  # the first working day after it
                "4-1": (2027, 2, 12, 10),
            },
            ["未来 7 天的非工作日:",
             "office: 周五 02-05, 周六 02-06, 周日 02-07, 周一 02-08, 周二 02-09, 周三 02-10; "
             "在这些日子或紧随其后到期: 2"],
        ),
    ],
    ids=["RU transferred Saturday", "CN Spring Festival"],
)  # fmt: skip
def test_the_digest_lists_holidays_and_the_postings_due_in_or_right_after_them(
    start_sandbox: StartSandbox,
    make_daemon: MakeDaemon,
    receiver: Receiver,
    country: str,
    zone: str,
    today: tuple[int, ...],
    language: str,
    due: dict[str, tuple[int, ...]],
    expected: list[str],
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    for suffix, fields in due.items():
        add(sb, f"779000{suffix[0]}-0001-1", at(zone, *fields), MAIN_WAREHOUSE, "Main")
    daemon, _ = site(
        make_daemon, sb.base_url, receiver,
        events='["digest"]',
        language=language,
        calendars=f"""
[[calendars]]
name = "office"
country = "{country}"
timezone = "{zone}"
warehouse_ids = [{MAIN_WAREHOUSE}]
""",
        starts_at=at(zone, *today),
    )  # fmt: skip
    result = daemon.once()
    assert result.returncode == 0, explain(result)
    (digest,) = receiver.on("/phone")
    for line in expected:
        assert line in digest.message, digest.message
    listed = [n for n in ("7790001", "7790002", "7790003", "7790004") if n in digest.message]
    assert listed == ["7790002", "7790003"], digest.message
