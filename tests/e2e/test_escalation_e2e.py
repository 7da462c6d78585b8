"""Escalation with the real `ozon-sync run` process against the sandbox (issue 18.3), alerts
received by json:// routes of levels 0, 1 and 2 on a local receiver, with short durations:

- an overdue posting nobody acknowledges reaches the level-1 receiver `escalate_after[0]`
  after its overdue alert, then the level-2 one, between polls (the poll interval is ten
  minutes: precise wake-ups send them), while the level-0 receiver gets the overdue alert only;
  `history --json` shows each step (`escalated`, kind action, the level in its reason);
- `ozon-sync ack` (beside the running daemon) stops the ladder of that posting only.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

from daemon.sandbox import SandboxProcess
from tests.e2e.conftest import Daemon, MakeDaemon, Running, StartSandbox, explain, wait_for
from tests.receiver import Receiver

PACKERS, MANAGER, OWNER = "/packers", "/manager", "/owner"


def overdue_posting(sb: SandboxProcess, number: str) -> str:
    due = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created: str = sb.action("add_posting", shipment_date=due, posting_number=number)[
        "posting_number"
    ]
    return created


def routes(rx: Receiver, escalate_after: str) -> str:
    return f"""
[policy]
escalate_after = {escalate_after}

[[notify]]
url = "{rx.url(PACKERS)}"

[[notify]]
url = "{rx.url(MANAGER)}"
level = 1

[[notify]]
url = "{rx.url(OWNER)}"
level = 2
"""


def configured(make_daemon: MakeDaemon, sb: SandboxProcess, extra: str) -> Daemon:
    """A config with `extra`, polling every ten minutes: only the first cycle polls in a test."""
    daemon = make_daemon(sb.base_url, extra=extra)
    text = daemon.config.read_text(encoding="utf-8")
    text = text.replace("[daemon]\n", '[daemon]\npoll_interval = "10m"\n', 1)
    daemon.config.write_text(text, encoding="utf-8")
    return daemon


def stop(running: Running) -> None:
    running.process.send_signal(signal.SIGTERM)
    result = running.wait(timeout=60)
    assert result.returncode == 0, explain(result)


def escalations(daemon: Daemon) -> list[dict[str, object]]:
    return [entry for entry in daemon.history() if entry["event"] == "escalated"]


def test_an_overdue_posting_nobody_acknowledges_climbs_to_level_1_then_2_between_polls(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    number = overdue_posting(sb, "31000001-0001-1")
    with Receiver() as rx:
        daemon = configured(make_daemon, sb, routes(rx, '["6s", "12s"]'))
        running = daemon.start("run")
        try:
            wait_for(lambda: bool(rx.on(PACKERS)), "the overdue alert at level 0", 60)
            wait_for(lambda: bool(rx.on(MANAGER)), "the escalation to level 1", 60)
            wait_for(lambda: bool(rx.on(OWNER)), "the escalation to level 2", 60)
            time.sleep(2)  # anything else would have arrived by now
        finally:
            stop(running)

    packers = [m.title for m in rx.on(PACKERS)]  # the overdue alert (and the daily digest)
    assert any(title.startswith("[shop-1] OVERDUE: 1 posting") for title in packers), packers
    assert not any("ESCALATION" in title for title in packers), packers
    (manager,) = rx.on(MANAGER)
    assert manager.title.startswith("ESCALATION 1") and number in manager.message
    assert "Nobody acknowledged" in manager.message
    (owner,) = rx.on(OWNER)
    assert owner.title.startswith("ESCALATION 2") and number in owner.message
    arrivals = {m.path: at for m, at in zip(rx.messages, rx.arrivals, strict=True)}
    overdue_at = next(
        at for m, at in zip(rx.messages, rx.arrivals, strict=True) if "OVERDUE: 1" in m.title
    )
    # escalate_after counts from the overdue alert (generous lower bounds: no timed test)
    assert arrivals[MANAGER] - overdue_at >= 3
    assert arrivals[OWNER] - arrivals[MANAGER] >= 3

    log = running.stderr_path.read_text(encoding="utf-8")
    cycles = [line for line in log.splitlines() if '"cycle_finished"' in line]
    assert len(cycles) == 1, "the escalations came from wake-ups, not from polls"
    assert '"wakeup_finished"' in log

    steps = escalations(daemon)
    assert [(s["posting_numbers"], s["kind"]) for s in steps] == [
        ([number], "action"),
        ([number], "action"),
    ]
    reasons = sorted(str(s["reason"]) for s in steps)
    assert reasons[0].startswith("level 1: not acknowledged")
    assert reasons[1].startswith("level 2: not acknowledged")


def test_an_acknowledgement_beside_the_running_daemon_stops_that_posting_s_ladder(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    taken = overdue_posting(sb, "32000001-0001-1")
    forgotten = overdue_posting(sb, "32000002-0001-1")
    with Receiver() as rx:
        daemon = configured(make_daemon, sb, routes(rx, '["20s"]'))
        running = daemon.start("run")
        try:
            wait_for(lambda: bool(rx.on(PACKERS)), "the overdue alert at level 0", 60)
            acked = daemon.run("ack", taken, "--by", "Li Wei")
            assert acked.returncode == 0, explain(acked)
            wait_for(lambda: bool(rx.on(MANAGER)), "the escalation of the other posting", 90)
            time.sleep(3)
        finally:
            stop(running)

    (manager,) = rx.on(MANAGER)
    assert forgotten in manager.message
    assert taken not in manager.message
    assert rx.on(OWNER) == []  # no second level configured
    steps = escalations(daemon)
    assert [s["posting_numbers"] for s in steps] == [[forgotten]]
    status = {item["posting_number"]: item for item in daemon.status()}
    assert status[taken]["acknowledged_by"] == "Li Wei"
    history = daemon.history()
    assert any(e["event"] == "acknowledged" and e["posting_numbers"] == [taken] for e in history)
    assert json.dumps(history)  # plain JSON throughout
