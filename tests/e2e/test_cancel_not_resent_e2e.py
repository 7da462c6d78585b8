"""`ozon-sync once` against the sandbox: a cancel answered 429 is never re-sent inside the HTTP
call (issue 15 point 4, the client's side): one request per cycle, the outcome "not sent, tried
again after a re-read" journaled as cancel_skipped (no request was applied, nothing for the
seller to do), and the next cycle re-reads the posting and sends it once more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import Daemon, MakeDaemon, StartSandbox, explain


def steps(daemon: Daemon, number: str) -> list[tuple[str, str]]:
    """(event, reason) of the cancellation steps of one posting in `history --json`, oldest
    first (the alert messages left out)."""
    items = reversed(daemon.history())
    return [
        (item["event"], item["reason"])
        for item in items
        if item["kind"] == "action" and number in item["posting_numbers"]
    ]


def test_a_cancel_answered_429_is_sent_once_per_cycle_and_cancelled_by_the_next(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    late = (datetime.now(UTC) - timedelta(hours=50)).strftime("%Y-%m-%dT%H:%M:%SZ")
    number = sb.action("add_posting", shipment_date=late)["posting_number"]
    sb.set_knobs(cancel_429_for=3600)
    # A long retry_for: before this fix the cancel was re-sent for up to a minute.
    daemon = make_daemon(sb.base_url, retry_for="60s", extra="[policy.cancel]\nenabled = true\n")

    result = daemon.once()

    assert result.returncode == 0, explain(result)
    assert sb.cancel_requests(number) == [429], "one request, not retried inside the call"
    (step,) = steps(daemon, number)
    assert step[0] == "cancel_skipped" and step[1].startswith("not sent, tried again after")

    sb.set_knobs(cancel_429_for=0)
    result = daemon.once()

    assert result.returncode == 0, explain(result)
    assert sb.cancel_requests(number) == [429, 200]
    assert [event for event, _ in steps(daemon, number)] == ["cancel_skipped", "cancelled"]
