"""`ozon-sync once` as its own process against the sandbox in its own process (issue 5):
a normal cycle, Ozon's trouble (429 storms, 5xx, slow and broken answers, a wrong key, nobody
listening), several accounts, and the exit codes and stderr lines of each."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import (
    API_KEY,
    EVENTS,
    EXPRESS_WAREHOUSE,
    KAZAN_WAREHOUSE,
    MAIN_WAREHOUSE,
    RFBS_WAREHOUSE,
    RFC3339_Z,
    WRONG_KEY,
    AccountSpec,
    Daemon,
    MakeDaemon,
    StartSandbox,
    api_calls,
    assert_no_secret,
    assert_plain_last_line,
    explain,
    free_port,
    repeated_alerts,
    sandbox_watched,
)


def parse_z(text: str) -> datetime:
    """An RFC 3339 UTC timestamp ending in Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_status_matches_sandbox(
    daemon: Daemon, expected: dict[str, dict[str, Any]], account: str = "shop-1"
) -> list[dict[str, Any]]:
    """Every watched posting of the sandbox is in `status --json`, with its status, deadline and
    warehouse; and nothing else is shown as watched for that account."""
    items = [item for item in daemon.status() if item["account"] == account]
    shown = {item["posting_number"]: item for item in items}
    missing = sorted(set(expected) - set(shown))
    extra = sorted(set(shown) - set(expected))
    assert not missing, f"{len(missing)} watched postings missing from status: {missing[:10]}"
    assert not extra, f"status shows postings the sandbox does not watch: {extra[:10]}"
    for number, posting in expected.items():
        item = shown[number]
        assert item["status"] == posting["status"], number
        assert parse_z(item["shipment_date"]) == parse_z(posting["shipment_date"]), number
        assert item["warehouse"] == posting["delivery_method"]["warehouse"], number
    return items


# ---------------------------------------------------------------- a normal cycle


def test_once_caches_every_watched_posting_and_status_json_follows_the_contract(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    daemon = make_daemon(sb.base_url)

    result = daemon.once_ok()

    expected = sandbox_watched(sb)
    assert len(expected) >= 5
    before = datetime.now(UTC)
    items = assert_status_matches_sandbox(daemon, expected)
    after = datetime.now(UTC)
    for item in items:
        assert isinstance(item["account"], str)
        assert isinstance(item["posting_number"], str)
        assert RFC3339_Z.match(item["shipment_date"]), item
        seconds_left = item["seconds_left"]
        assert isinstance(seconds_left, int)
        assert not isinstance(seconds_left, bool)
        deadline = parse_z(item["shipment_date"])
        # status ran between `before` and `after`: the time left lies between the two
        assert (deadline - after).total_seconds() - 2 <= seconds_left, item
        assert seconds_left <= (deadline - before).total_seconds() + 2, item
        assert isinstance(item["warehouse"], str)
        assert item["warehouse"]
        assert item["held"] is False
    assert any(item["seconds_left"] < 0 for item in items), "the demo has overdue postings"
    deadlines = [parse_z(item["shipment_date"]) for item in items]
    assert deadlines == sorted(deadlines), "soonest deadline first"
    assert API_KEY not in result.stdout + result.stderr


def test_history_json_lists_the_alerts_newest_first_and_a_second_once_repeats_none(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    daemon = make_daemon(sb.base_url)
    daemon.once_ok()

    entries = daemon.history()
    status = {item["posting_number"]: item for item in daemon.status()}

    assert entries, "the demo scenario has overdue postings and reminders"
    for entry in entries:
        assert RFC3339_Z.match(entry["at"]), entry
        assert entry["account"] == "shop-1"
        assert entry["event"] in EVENTS, entry
        assert isinstance(entry["posting_numbers"], list)
        assert all(isinstance(n, str) for n in entry["posting_numbers"])
        assert isinstance(entry["dry_run"], bool)
        assert isinstance(entry["reason"], str)
    times = [parse_z(entry["at"]) for entry in entries]
    assert times == sorted(times, reverse=True), "newest first"
    events = {entry["event"] for entry in entries}
    assert {"overdue", "reminder"} <= events
    for entry in entries:
        if entry["event"] == "overdue":
            for number in entry["posting_numbers"]:
                assert status[number]["seconds_left"] < 0, number
        if entry["event"] == "would_cancel":
            assert entry["dry_run"] is True

    daemon.once_ok()

    # the demo's deadlines are far from every step, so nothing new falls due in between
    again = daemon.history()
    assert not repeated_alerts(again), again
    assert again == entries, "the second cycle added to the history"


# ---------------------------------------------------------------- Ozon's trouble, survived


def test_once_rides_out_a_429_storm(start_sandbox: StartSandbox, make_daemon: MakeDaemon) -> None:
    sb = start_sandbox("--scenario", "bulk", "--postings", "800", "--rate-limit", "5")
    daemon = make_daemon(sb.base_url, rps=20, retry_for="60s")

    result = daemon.once()

    assert result.returncode == 0, explain(result)
    statuses = [call["status"] for call in api_calls(sb)]
    assert 429 in statuses, f"the sandbox never answered 429: {statuses}"
    sb.set_knobs(rate_limit=0)
    assert_status_matches_sandbox(daemon, sandbox_watched(sb))


@pytest.mark.parametrize(
    ("knobs", "answers"),
    [({"fail_next": 1, "drop_next": 1}, (0, 503)), ({"error_rate": 0.3}, ())],
    ids=["a dropped connection then 503", "30% of answers 500"],
)
def test_once_retries_server_errors_and_succeeds(
    start_sandbox: StartSandbox,
    make_daemon: MakeDaemon,
    knobs: dict[str, Any],
    answers: tuple[int, ...],
) -> None:
    sb = start_sandbox("--scenario", "demo")
    sb.set_knobs(**knobs)
    daemon = make_daemon(sb.base_url, retry_for="60s")

    result = daemon.once()

    assert result.returncode == 0, explain(result)
    statuses = [call["status"] for call in api_calls(sb)]
    assert set(answers) <= set(statuses), statuses
    if answers:  # two failures then answers: retried (debug lines only), no outage logged
        assert "ozon_retry" not in result.stderr and "ozon_unavailable" not in result.stderr
    sb.set_knobs(error_rate=0.0)
    assert_status_matches_sandbox(daemon, sandbox_watched(sb))


def test_once_waits_for_slow_answers(start_sandbox: StartSandbox, make_daemon: MakeDaemon) -> None:
    sb = start_sandbox("--scenario", "demo", "--latency", "0.4")
    daemon = make_daemon(sb.base_url, timeout="10s")

    result = daemon.once()

    assert result.returncode == 0, explain(result)
    sb.set_knobs(latency=0)
    assert_status_matches_sandbox(daemon, sandbox_watched(sb))


# ---------------------------------------------------------------- Ozon's trouble, reported


def test_a_persistently_broken_page_exits_75_keeps_page_one_and_infers_no_departure(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "bulk", "--postings", "300")
    daemon = make_daemon(sb.base_url, retry_for="2s")
    daemon.once_ok()
    watched_before = daemon.watched_numbers()
    assert len(watched_before) > 200
    # A new posting due before every other one: the first posting of page 1.
    early = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    added = sb.action("add_posting", shipment_date=early, posting_number="77777777-0001-1")
    sb.set_knobs(malformed_page=2)

    result = daemon.once()

    assert result.returncode == 75, explain(result)
    assert_plain_last_line(result, "shop-1")
    pages = [c for c in api_calls(sb, "unfulfilled") if c["body"] and c["body"].get("cursor")]
    assert len(pages) >= 2, "the broken page was retried"
    watched_after = daemon.watched_numbers()
    assert added["posting_number"] in watched_after, "page 1 of the failed cycle was cached"
    lost = watched_before - watched_after
    assert not lost, f"postings left the watch after an incomplete listing: {sorted(lost)[:10]}"
    events = [entry["event"] for entry in daemon.history()]
    assert "api_error" in events
    assert "cancelled_elsewhere" not in events

    sb.set_knobs(malformed_page=0)
    daemon.once_ok()
    assert "recovered" in [entry["event"] for entry in daemon.history()]


def test_a_wrong_key_exits_77_with_a_plain_line_naming_the_account(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    daemon = make_daemon(sb.base_url, accounts=[AccountSpec("shop-wrong", "100500", WRONG_KEY)])

    result = daemon.once()

    assert result.returncode == 77, explain(result)
    last = assert_plain_last_line(result, "shop-wrong")
    with pytest.raises(json.JSONDecodeError):
        json.loads(last)
    assert result.stdout == ""
    assert_no_secret(daemon)


def test_nobody_listening_exits_75_after_retrying(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(f"http://127.0.0.1:{free_port()}", retry_for="2s", timeout="2s")

    result = daemon.once()

    assert result.returncode == 75, explain(result)
    assert_plain_last_line(result, "shop-1")
    outage = [line for line in result.stderr.splitlines() if '"ozon_unavailable"' in line]
    assert len(outage) == 1, "retried (3 attempts in 2 s) and logged as one outage"
    assert "ConnectError" in json.loads(outage[0])["reason"]


def test_once_logs_an_outage_once_and_its_end(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    sb.set_knobs(fail_next=4)
    daemon = make_daemon(sb.base_url, retry_for="60s")

    result = daemon.once()

    assert result.returncode == 0, explain(result)
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    events = [entry["event"] for entry in logged]
    assert events.count("ozon_unavailable") == 1 and events.count("ozon_recovered") == 1
    assert events.index("ozon_unavailable") < events.index("ozon_recovered")
    assert "ozon_retry" not in events, "retries are debug lines"
    down = next(entry for entry in logged if entry["event"] == "ozon_unavailable")
    assert (down["level"], down["status"]) == ("warning", 503)
    up = next(entry for entry in logged if entry["event"] == "ozon_recovered")
    assert up["level"] == "info" and up["duration"] > 0


# ---------------------------------------------------------------- several accounts


def test_a_rejected_account_exits_77_after_the_good_account_finished(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    # one Client-Id, split by warehouse (the only way two entries may share it): shop-good has
    # every warehouse of the scenario, shop-bad one that has no postings
    everything = (MAIN_WAREHOUSE, KAZAN_WAREHOUSE, EXPRESS_WAREHOUSE, RFBS_WAREHOUSE)
    accounts = [
        AccountSpec("shop-good", "100500", API_KEY, everything),
        AccountSpec("shop-bad", "100500", WRONG_KEY, (1,)),
    ]
    daemon = make_daemon(sb.base_url, accounts=accounts)

    result = daemon.once()

    assert result.returncode == 77, explain(result)
    assert_plain_last_line(result, "shop-bad")
    assert_status_matches_sandbox(daemon, sandbox_watched(sb), account="shop-good")
    assert not daemon.watched_numbers("shop-bad")
    assert_no_secret(daemon)


def test_an_account_ozon_keeps_failing_for_exits_75_after_the_good_account_finished(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    # The contract has one base_url for every account, so "unreachable for one account" is
    # simulated by a broken page 2 that only the account watching every warehouse reaches.
    sb = start_sandbox("--scenario", "bulk", "--postings", "300", "--malformed-page", "2")
    accounts = [
        AccountSpec("shop-express", "100500", API_KEY, (EXPRESS_WAREHOUSE,)),
        # the rest of the same shop (one Client-Id is split by warehouse, never shared)
        AccountSpec(
            "shop-all", "100500", API_KEY, (MAIN_WAREHOUSE, KAZAN_WAREHOUSE, RFBS_WAREHOUSE)
        ),
    ]
    daemon = make_daemon(sb.base_url, accounts=accounts, retry_for="2s")

    result = daemon.once()

    assert result.returncode == 75, explain(result)
    assert_plain_last_line(result, "shop-all")
    sb.set_knobs(malformed_page=0)
    expected = sandbox_watched(sb, [EXPRESS_WAREHOUSE])
    assert 0 < len(expected) <= 100, "one page for the express account"
    assert_status_matches_sandbox(daemon, expected, account="shop-express")
