"""`status` agrees with `history` right after a cancel (issue 15, follow-up review point 2),
end to end: the installed `ozon-sync once` against the sandbox's demo scenario in its own
process. A cancel confirmed by Ozon's answer (or by a settling re-read) updates the cached
posting in the same transaction: `status --json` no longer shows it watched, `status --all
--json` shows it cancelled, without waiting for the next sync; the next sync tells nobody it
was "cancelled elsewhere"."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Daemon, MakeDaemon, StartSandbox


def cancelled_numbers(daemon: Daemon) -> set[str]:
    """The postings the journal shows cancelled by ozon-sync."""
    return {
        number
        for item in daemon.history()
        if item["kind"] == "action" and item["event"] == "cancelled"
        for number in item["posting_numbers"]
    }


def by_number(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["posting_number"]: item for item in items}


def test_status_shows_a_posting_cancelled_as_soon_as_once_cancelled_it(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo", "--rate-limit", "0")
    daemon = make_daemon(sb.base_url, extra="[policy.cancel]\nenabled = true\nreason_id = 352\n")

    daemon.once_ok()

    cancelled = cancelled_numbers(daemon)
    assert len(cancelled) == 2, cancelled  # the demo's two hopelessly late postings
    for number in cancelled:
        assert sb.cancel_requests(number) == [200]
    watched = by_number(daemon.status())
    assert not cancelled & watched.keys(), [watched[n] for n in cancelled & watched.keys()]
    everything = by_number(daemon.status("--all"))
    for number in cancelled:
        assert everything[number]["status"] == "cancelled", everything[number]
        assert everything[number]["watched"] is False, everything[number]

    daemon.once_ok()  # the next sync agrees, and nobody hears "cancelled elsewhere"

    events = [item["event"] for item in daemon.history()]
    assert "cancelled_elsewhere" not in events
    assert cancelled_numbers(daemon) == cancelled
    assert not cancelled & by_number(daemon.status()).keys()
