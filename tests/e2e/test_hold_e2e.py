"""`hold` and `release` through the installed command (issue 15.6, 15.7): a number no cached
posting has is refused with the closest ones, an order number holds its postings, and
`hold --all` is an emergency stop that `once` and `run` obey, shown by `status` and `check`.
Also `history --json` rendering a `cancel_skipped` journal entry (15.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.sandbox import SandboxProcess
from daemon.store import Store
from tests.e2e.conftest import (
    Daemon,
    MakeDaemon,
    StartSandbox,
    assert_plain_last_line,
    explain,
    wait_for,
)

CANCEL_ON = """
[policy.cancel]
enabled = true
"""
ORDER = "12345678-0001"


def add(sb: SandboxProcess, number: str | None = None, hours_overdue: float = 50) -> str:
    """A posting due `hours_overdue` ago (50 h: the cancel rules select it)."""
    due = (datetime.now(UTC) - timedelta(hours=hours_overdue)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields: dict[str, Any] = {"shipment_date": due}
    if number is not None:
        fields["posting_number"] = number
    answer = sb.action("add_posting", **fields)
    created: str = answer["posting_number"]
    return created


def cached(daemon: Daemon) -> None:
    """Fill the state cache without cancelling anything."""
    result = daemon.run("once", "--dry-run")
    assert result.returncode == 0, explain(result)


def listings(sb: SandboxProcess) -> list[dict[str, Any]]:
    """The sandbox's recorded unfulfilled-list calls (at least one per cycle)."""
    return [c for c in sb.calls() if c["path"] == "/v4/posting/fbs/unfulfilled/list"]


def held(daemon: Daemon) -> dict[str, bool]:
    return {item["posting_number"]: item["held"] for item in daemon.status()}


def test_an_order_number_holds_each_of_its_cached_postings_and_none_is_cancelled(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    parts = [add(sb, f"{ORDER}-1"), add(sb, f"{ORDER}-2")]
    other = add(sb, "87654321-0001-1")
    daemon = make_daemon(sb.base_url, extra=CANCEL_ON)
    cached(daemon)

    result = daemon.run("hold", ORDER)

    assert result.returncode == 0, explain(result)
    assert f"Order {ORDER}: 2 postings held" in result.stdout
    for number in parts:
        assert f"{number}  awaiting_packaging  shop-1" in result.stdout
    assert held(daemon) == {parts[0]: True, parts[1]: True, other: False}
    daemon.once_ok()
    assert sb.cancel_requests() == {other: [200]}  # only the posting not held

    released = daemon.run("release", ORDER)
    assert released.returncode == 0, explain(released)
    assert f"Order {ORDER}: released {parts[0]}, {parts[1]}." in released.stdout
    assert not any(held(daemon).values())


def test_a_number_no_cached_posting_has_exits_2_naming_the_closest_ones(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    known = add(sb, f"{ORDER}-1")
    daemon = make_daemon(sb.base_url, extra=CANCEL_ON)
    cached(daemon)
    typo = "12345678-0010-1"

    refused = daemon.run("hold", typo)

    assert refused.returncode == 2, explain(refused)
    assert refused.stdout == ""
    assert_plain_last_line(refused, typo, f"closest cached: {known}", "--force")
    assert held(daemon) == {known: False}

    forced = daemon.run("hold", typo, "--force")
    assert forced.returncode == 0, explain(forced)
    assert f"{typo} (not synced yet) is held until released" in forced.stdout
    add(sb, typo)  # it arrives later, overdue: the hold was waiting for it
    daemon.once_ok()
    assert typo not in sb.cancel_requests()
    assert held(daemon)[typo] is True


def test_an_order_number_with_no_cached_posting_is_refused_even_with_force(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    daemon = make_daemon(sb.base_url)
    for args in (("hold", ORDER), ("hold", ORDER, "--force")):
        result = daemon.run(*args)
        assert result.returncode == 2, explain(result)
        assert_plain_last_line(result, f"{ORDER} is an order number", f"{ORDER}-1")
    nothing = daemon.run("hold", "1-1-1")
    assert nothing.returncode == 2, explain(nothing)
    assert_plain_last_line(nothing, "no cached posting looks like it")


def test_hold_and_release_need_exactly_one_of_posting_and_all(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = make_daemon(start_sandbox("--scenario", "empty").base_url)
    for args in (
        ("hold",),
        ("hold", "--all", f"{ORDER}-1"),
        ("hold", "--all", "--force"),
        ("release",),
        ("release", "--all", f"{ORDER}-1"),
        ("hold", "--all", "--for", "soon"),
    ):
        result = daemon.run(*args)
        assert result.returncode == 2, explain(result)
        assert "Traceback" not in result.stderr


def test_hold_all_is_shown_by_status_and_check_and_ends_with_release_all(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    numbers = [add(sb, hours_overdue=h) for h in (50, -5, -30)]
    daemon = make_daemon(sb.base_url)
    cached(daemon)
    daemon.run("hold", numbers[1], "--for", "30d")

    stop = daemon.run("hold", "--all", "--for", "2h")

    assert stop.returncode == 0, explain(stop)
    assert "Emergency stop: every posting of every account is held until" in stop.stdout
    items = daemon.status()
    assert [item["posting_number"] for item in items] == numbers  # the same array of postings
    assert all(item["held"] for item in items)
    ends = {item["posting_number"]: item["held_until"] for item in items}
    in_2h = datetime.now(UTC) + timedelta(hours=2)
    for number in (numbers[0], numbers[2]):
        end = datetime.fromisoformat(ends[number])
        assert abs((end - in_2h).total_seconds()) < 120, ends
    assert datetime.fromisoformat(ends[numbers[1]]) > in_2h + timedelta(days=29)  # its own
    table = daemon.run("status")
    assert table.returncode == 0, explain(table)
    assert table.stdout.startswith("EMERGENCY STOP (hold --all since ")
    check = daemon.run("check", "--offline")
    assert check.returncode == 0, explain(check)
    assert "# EMERGENCY STOP (hold --all since " in check.stdout

    ended = daemon.run("release", "--all")
    assert ended.returncode == 0, explain(ended)
    assert "Emergency stop ended" in ended.stdout
    assert held(daemon) == {numbers[0]: False, numbers[1]: True, numbers[2]: False}
    assert "EMERGENCY STOP" not in daemon.run("status").stdout
    assert "EMERGENCY STOP" not in daemon.run("check", "--offline").stdout
    again = daemon.run("release", "--all")
    assert (again.returncode, again.stdout) == (0, "No emergency stop was in force.\n")


def test_hold_all_written_while_cancelling_is_enabled_stops_the_next_once_from_cancelling(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    overdue = [add(sb, hours_overdue=h) for h in (50, 60, 70)]
    for _ in range(12):
        add(sb, hours_overdue=-48)  # watched, not due: the share breaker stays quiet
    daemon = make_daemon(sb.base_url, extra=CANCEL_ON)

    stop = daemon.run("hold", "--all")  # before any cycle: the database is created for it
    assert stop.returncode == 0, explain(stop)
    daemon.once_ok()
    daemon.once_ok()

    assert sb.cancel_requests() == {}
    assert not [call for call in sb.calls() if call["path"] == "/v2/posting/fbs/cancel"]
    assert all(held(daemon)[number] for number in overdue)
    # Without the stop the same setup cancels them: the test above proved something.
    assert daemon.run("release", "--all").returncode == 0
    daemon.once_ok()
    assert sb.cancel_requests() == {number: [200] for number in overdue}


def test_hold_all_during_a_cycle_stops_the_cancels_that_cycle_planned(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    number = add(sb, hours_overdue=50)
    for _ in range(12):
        add(sb, hours_overdue=-48)
    daemon = make_daemon(sb.base_url, extra=CANCEL_ON, timeout="20s")
    sb.set_knobs(latency=2)  # every answer takes 2 s: time to type the stop mid-cycle
    running = daemon.start("once")
    wait_for(lambda: len(listings(sb)) >= 1, "the listing", timeout=60)

    assert daemon.run("hold", "--all").returncode == 0  # the cycle has selected it by now

    finished = running.wait(timeout=120)
    assert finished.returncode == 0, explain(finished)
    assert sb.cancel_requests() == {}
    # The cycle had selected it (its holds were read before the stop) and held it back.
    reasons = [e["reason"] for e in daemon.history() if number in e["posting_numbers"]]
    assert any("held by the seller" in reason for reason in reasons), reasons


def test_hold_all_from_a_shell_stops_a_running_daemon_from_cancelling(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    for _ in range(12):
        add(sb, hours_overdue=-48)
    daemon = make_daemon(sb.base_url, extra=CANCEL_ON)
    text = daemon.config.read_text(encoding="utf-8")
    daemon.config.write_text(
        text.replace('database = "state.db"', 'database = "state.db"\npoll_interval = "10s"'),
        encoding="utf-8",
    )
    running = daemon.start("run")
    try:
        wait_for(lambda: len(daemon.status()) == 12, "the first cycle", timeout=60)
        assert daemon.run("hold", "--all").returncode == 0
        late = add(sb, hours_overdue=50)
        wait_for(lambda: late in {i["posting_number"] for i in daemon.status()}, "it is cached")
        # Two more listings: the cycle that cached it has finished its cancel step.
        seen = len(listings(sb))
        wait_for(lambda: len(listings(sb)) >= seen + 2, "two more cycles", timeout=60)
        assert sb.cancel_requests() == {}
        assert daemon.run("release", "--all").returncode == 0
        wait_for(lambda: sb.cancel_requests() == {late: [200]}, "the cancel after release")
    finally:
        running.process.terminate()
        running.wait(timeout=60)


def test_history_json_shows_a_skipped_cancel_with_its_reason(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = make_daemon(start_sandbox("--scenario", "empty").base_url)
    now = datetime.now(UTC)
    with Store.open(daemon.database) as store:
        claim = store.claim_action("shop-1", f"{ORDER}-1", "cancel", now, dry_run=False, reason="")
        assert claim is not None
        store.finish_action(claim, "skipped", now, reason="status changed before sending")
        store.record_skipped(
            "shop-1",
            f"{ORDER}-2",
            "cancel",
            now + timedelta(seconds=1),
            reason="held by the seller",
        )

    history = daemon.history()

    assert [(e["event"], e["posting_numbers"], e["reason"], e["kind"]) for e in history] == [
        ("cancel_skipped", [f"{ORDER}-2"], "held by the seller", "action"),
        ("cancel_skipped", [f"{ORDER}-1"], "status changed before sending", "action"),
    ]
    assert all(e["dry_run"] is False and e["account"] == "shop-1" for e in history)
    text = daemon.run("history")
    assert f"shop-1 cancel_skipped {ORDER}-2: held by the seller" in text.stdout
