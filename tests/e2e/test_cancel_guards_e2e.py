"""Guards re-checked before every cancel request, end to end (issue 15 points 7 and 8): the
installed `ozon-sync` (`run` in the background, or `once`) against the sandbox in its own
process, whose per-posting record of cancel requests proves what was sent.

- a real SIGHUP whose new config turns cancelling off stops the cancels already planned in
  the cycle in flight, before the next request;
- a deadline that moved earlier (so the posting is suddenly cancellable) is reported as
  `deadline_changed` and cancelled one cycle later at the soonest, never in the same cycle.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

from daemon.sandbox import SandboxProcess
from tests.e2e.conftest import Daemon, MakeDaemon, StartSandbox, explain, wait_for

SLOW_CANCELS = "[policy.cancel]\nenabled = true\nmax_per_cycle = 5\nmax_share = 1.0\n"


def add(sb: SandboxProcess, hours_overdue: float) -> str:
    moment = datetime.now(UTC) - timedelta(hours=hours_overdue)
    answer = sb.action("add_posting", shipment_date=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    number: str = answer["posting_number"]
    return number


def events(daemon: Daemon, number: str) -> list[tuple[str, str, str]]:
    """(kind, event, reason) of every history element naming `number`, oldest first."""
    return [
        (item["kind"], item["event"], item["reason"])
        for item in reversed(daemon.history())
        if number in item["posting_numbers"]
    ]


def test_a_sighup_turning_cancelling_off_stops_the_cancels_of_the_cycle_in_flight(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    numbers = [add(sb, 50 + i) for i in range(4)]
    # Each cancel is applied at once and answered after 4 s: the cycle is still sending when
    # the configuration changes.
    sb.set_knobs(cancel_outcome="hang", hang_seconds=4)
    daemon = make_daemon(sb.base_url, timeout="20s", extra=SLOW_CANCELS)
    running = daemon.start("run")
    wait_for(lambda: sum(map(len, sb.cancel_requests().values())) >= 1, "a first cancel", 60)

    text = daemon.config.read_text(encoding="utf-8")
    daemon.config.write_text(text.replace("enabled = true", "enabled = false"), encoding="utf-8")
    running.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "config_reloaded" in running.stderr_path.read_text(), "the reload", 30)
    # The request in flight is answered; the cycle then ends without another request.
    wait_for(
        lambda: '"cancel_finished"' in running.stderr_path.read_text(), "the cancels to end", 60
    )
    running.process.send_signal(signal.SIGTERM)
    result = running.wait(timeout=60)
    assert result.returncode == 0, explain(result)

    requests = sb.cancel_requests()
    assert len(requests) == 1, f"one request before the reload, none after: {requests}"
    (sent,) = requests
    assert ("action", "cancelled", "") in [
        (k, e, r if e != "cancelled" else "") for k, e, r in events(daemon, sent)
    ]
    for number in numbers:
        if number == sent:
            continue
        history = events(daemon, number)
        assert "cancelled" not in [event for _, event, _ in history], history


def test_a_deadline_moved_earlier_is_reported_and_cancelled_a_cycle_later_at_the_soonest(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    number = add(sb, 30)  # overdue, not yet cancellable (overdue_for 48h)
    for _ in range(5):
        add(sb, -72)  # watched, due in three days: the share breaker stays quiet
    daemon = make_daemon(sb.base_url, extra="[policy.cancel]\nenabled = true\n")
    daemon.once_ok()
    assert sb.cancel_requests(number) == []

    earlier = datetime.now(UTC) - timedelta(hours=60)
    sb.action(
        "move_deadline", posting_number=number, shipment_date=earlier.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    daemon.once_ok()

    assert sb.cancel_requests(number) == [], "not in the cycle that reports deadline_changed"
    alerts = [event for kind, event, _ in events(daemon, number) if kind == "alert"]
    assert "deadline_changed" in alerts, alerts

    daemon.once_ok()

    assert sb.cancel_requests(number) == [200], "the next cycle cancels it"
    assert "cancelled" in [event for _, event, _ in events(daemon, number)]
