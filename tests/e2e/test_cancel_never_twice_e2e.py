"""A cancellation is never sent twice (issue 15, follow-up review point 1), end to end: the
installed `ozon-sync` as its own process against the sandbox in its own process, killed with
SIGKILL at chosen and at random moments. The sandbox's per-posting record of cancel requests
(`cancel_requests`) proves what was sent; `history --json` shows what the daemon recorded and
told.

Once a cancel request may have reached Ozon (outcome unknown: a timeout, a dropped connection,
the process killed while it waited for the answer), ozon-sync never sends another one for that
posting: when the settling window (10 minutes) ends and Ozon still shows the posting open, the
claim closes as "not applied" and the seller is told once that it will not be sent again.
Only a request known not to have been sent may be followed by another.

The settling window is 10 minutes of the daemon's clock: the tests move the open claims' time
back by 11 minutes in the state database between two runs (`age_claims`), which is what the
next run would see after waiting that long; everything else is the real process.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox import SandboxProcess
from tests.e2e.conftest import Daemon, MakeDaemon, StartSandbox, explain, wait_for

CANCEL_ON = "[policy.cancel]\nenabled = true\n"
NOT_AGAIN = "will not send it again"


def add(sb: SandboxProcess, hours_late: float) -> str:
    """A posting `hours_late` past its shipment_date (cancellable after 48 h)."""
    moment = datetime.now(UTC) - timedelta(hours=hours_late)
    answer = sb.action("add_posting", shipment_date=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    number: str = answer["posting_number"]
    return number


def status_of(sb: SandboxProcess, number: str) -> str:
    """The sandbox's own status of posting `number`."""
    url = f"{sb.base_url}/__sandbox__/status/{number}"
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
        status: str = json.loads(answer.read())["status"]
    return status


def overdue_with_company(sb: SandboxProcess) -> str:
    """One posting to cancel, and five due in three days (the share breaker stays quiet)."""
    number = add(sb, 50)
    for _ in range(5):
        add(sb, -72)
    return number


def journal(daemon: Daemon, number: str) -> list[tuple[str, str]]:
    """(event, reason) of the cancellation steps of `number` in `history --json`, oldest
    first."""
    return [
        (item["event"], item["reason"])
        for item in reversed(daemon.history())
        if item["kind"] == "action" and number in item["posting_numbers"]
    ]


def alerts(daemon: Daemon, number: str, event: str) -> list[str]:
    """The reasons of the alert messages of `event` naming `number`, oldest first."""
    return [
        item["reason"]
        for item in reversed(daemon.history())
        if item["kind"] == "alert" and item["event"] == event and number in item["posting_numbers"]
    ]


def age_claims(database: Path, minutes: float = 11) -> int:
    """Move every open cancel claim `minutes` into the past (the daemon must not run): as if
    that much time had passed since the request. Returns how many were moved."""
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=rw", uri=True, timeout=5) as conn:
        try:
            rows = conn.execute(
                "SELECT id, claimed_at FROM actions WHERE kind = 'cancel' AND finished_at IS NULL"
            ).fetchall()
        except sqlite3.OperationalError:  # killed before the schema was made
            return 0
        for claim, claimed_at in rows:
            moment = datetime.fromisoformat(claimed_at.replace("Z", "+00:00"))
            earlier = (moment - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            conn.execute("UPDATE actions SET claimed_at = ? WHERE id = ?", (earlier, claim))
    return len(rows)


def re_reads(sb: SandboxProcess, number: str) -> int:
    """How many times the sandbox answered `/v3/posting/fbs/get` for `number`."""
    return sum(
        1
        for call in sb.calls()
        if call["path"] == "/v3/posting/fbs/get"
        and (call["body"] or {}).get("posting_number") == number
    )


def claim_outcomes(database: Path, number: str) -> list[str | None]:
    """The outcomes of the real cancel claims of `number`, oldest first (None: still open)."""
    if not database.exists():
        return []
    uri = f"file:{database}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT outcome FROM actions WHERE posting_number = ? AND kind = 'cancel' "
                "AND dry_run = 0 ORDER BY id",
                (number,),
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    return [row[0] for row in rows]


def kill_while_the_cancel_waits_for_its_answer(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, **options: Any
) -> tuple[SandboxProcess, Daemon, str]:
    """A fake Ozon that takes cancels but answers only after 8 s and never applies them;
    `once` killed with SIGKILL while it waits for that answer, then `once` again: the outcome
    is unknown."""
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    number = overdue_with_company(sb)
    sb.set_knobs(cancel_outcome="hang", hang_seconds=8, cancel_apply_delay=36_000)
    daemon = make_daemon(sb.base_url, timeout="30s", extra=CANCEL_ON, **options)
    running = daemon.start("once")
    wait_for(lambda: sb.cancel_requests(number) != [], "the cancel request", timeout=90)
    running.kill()

    daemon.once_ok()

    assert len(sb.cancel_requests(number)) == 1
    assert journal(daemon, number) == [("cancel_failed", "outcome unknown")]
    return sb, daemon, number


def assert_told_once_and_never_sent_again(sb: SandboxProcess, daemon: Daemon, number: str) -> None:
    """The claim closed as not applied, the seller was told so once, and later cycles send
    nothing more for the posting."""
    steps = journal(daemon, number)
    assert steps[0] == ("cancel_failed", "outcome unknown"), steps
    assert len(steps) == 2, steps
    event, reason = steps[-1]
    assert event == "cancel_failed" and NOT_AGAIN in reason, steps
    assert "still shows it awaiting_packaging" in reason, reason
    assert "one more try" not in reason
    sent = len(sb.cancel_requests(number))
    assert sent <= 1
    for _ in range(2):
        daemon.once_ok()
    assert len(sb.cancel_requests(number)) == sent, "a cancellation is never sent twice"
    assert journal(daemon, number) == steps, "nothing more was tried"
    told = [r for r in alerts(daemon, number, "cancel_failed") if NOT_AGAIN in r]
    assert len(told) == 1, told
    assert "seller portal" in told[0] and "outcome" in told[0], told[0]
    assert "cancelled" not in [event for event, _ in journal(daemon, number)]
    assert status_of(sb, number) == "awaiting_packaging"


def test_an_unknown_outcome_still_open_after_the_settling_window_is_never_sent_again(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb, daemon, number = kill_while_the_cancel_waits_for_its_answer(start_sandbox, make_daemon)
    assert age_claims(daemon.database) == 1  # ten minutes later

    daemon.once_ok()

    assert_told_once_and_never_sent_again(sb, daemon, number)


def test_a_404_on_the_re_read_after_the_settling_window_keeps_the_claim_and_sends_nothing(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb, daemon, number = kill_while_the_cancel_waits_for_its_answer(start_sandbox, make_daemon)
    assert age_claims(daemon.database) == 1
    sb.set_knobs(not_found_on_get=[number])  # the settling re-read answers 404: unclear

    daemon.once_ok()

    assert len(sb.cancel_requests(number)) == 1
    assert journal(daemon, number) == [("cancel_failed", "outcome unknown")], "still open"
    daemon.once_ok()  # the next re-read answers: still open, so not applied
    assert_told_once_and_never_sent_again(sb, daemon, number)


def test_an_account_renamed_after_an_unknown_outcome_never_sends_it_again(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb, daemon, number = kill_while_the_cancel_waits_for_its_answer(start_sandbox, make_daemon)
    text = daemon.config.read_text(encoding="utf-8")
    daemon.config.write_text(text.replace('name = "shop-1"', 'name = "shop-new"'), "utf-8")
    assert age_claims(daemon.database) == 1

    daemon.once_ok()

    assert_told_once_and_never_sent_again(sb, daemon, number)
    history = daemon.history()
    closing = [i for i in history if i["kind"] == "action" and NOT_AGAIN in i["reason"]]
    assert len(closing) == 1, closing


def test_killed_before_the_request_was_sent_the_next_run_sends_it_once(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    number = overdue_with_company(sb)
    sb.set_knobs(latency=4)  # every answer takes 4 s: the reads before the request too
    daemon = make_daemon(sb.base_url, timeout="30s", extra=CANCEL_ON)
    running = daemon.start("once")
    wait_for(lambda: re_reads(sb, number) > 0, "the re-read before the request", 180)
    running.kill()  # asking for the cancel reasons (4 s): no request sent, nothing claimed
    assert claim_outcomes(daemon.database, number) == []
    sb.set_knobs(latency=0)

    daemon.once_ok()

    assert sb.cancel_requests(number) == [200], "known not sent: sent by the next run, once"
    assert [event for event, _ in journal(daemon, number)] == ["cancelled"]
    assert status_of(sb, number) == "cancelled"
    daemon.once_ok()
    assert sb.cancel_requests(number) == [200]


def test_killed_after_the_claim_while_the_request_is_on_its_way_it_is_never_sent_again(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    number = overdue_with_company(sb)
    # Every answer takes 4 s; the cancel is taken but never applied.
    sb.set_knobs(latency=4, cancel_apply_delay=36_000)
    daemon = make_daemon(sb.base_url, timeout="30s", extra=CANCEL_ON)
    running = daemon.start("once")
    wait_for(lambda: claim_outcomes(daemon.database, number) == [None], "the claim", 180)
    running.kill()  # the claim is made right before the request: it may have reached Ozon
    sb.set_knobs(latency=0)
    # Usually Ozon takes it after its 4 s (a busy machine may kill the process before the
    # request left it: the daemon cannot tell, and must act the same).
    with contextlib.suppress(pytest.fail.Exception):
        wait_for(lambda: sb.cancel_requests(number) != [], "Ozon to take the request", 15)

    daemon.once_ok()

    assert journal(daemon, number) == [("cancel_failed", "outcome unknown")]
    assert age_claims(daemon.database) == 1
    daemon.once_ok()
    assert_told_once_and_never_sent_again(sb, daemon, number)


# -- random SIGKILLs -------------------------------------------------------------------------

TO_CANCEL = 6
KILLS = 10


def test_once_killed_at_random_moments_never_sends_a_cancel_twice(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, request: pytest.FixtureRequest
) -> None:
    seed: int = request.config.getoption("--crash-seed")
    rng = random.Random(seed)
    sb = start_sandbox(
        "--scenario", "empty", "--rate-limit", "0", "--latency", "0.05", "--seed",
        str(seed % 10_000),
    )  # fmt: skip
    to_cancel = [add(sb, rng.uniform(50, 60)) for _ in range(TO_CANCEL)]
    for _ in range(4 * TO_CANCEL):
        add(sb, -rng.uniform(24, 96))
    daemon = make_daemon(
        sb.base_url, timeout="3s",
        extra="[policy.cancel]\nenabled = true\nmax_per_cycle = 2\nmax_share = 1.0\n",
    )  # fmt: skip
    kills = tries = 0
    runs: list[float] = []
    while kills < KILLS:
        tries += 1
        assert tries < 10 * KILLS, f"seed {seed}: too few kills"
        # Ozon answers, drops the connection, or answers too late; applies at once, later or
        # (for a while) not at all.
        sb.set_knobs(
            cancel_outcome=rng.choice(["answer", "answer", "drop", "hang"]),
            hang_seconds=rng.choice([0.5, 5]),
            cancel_apply_delay=rng.choice([0, 0, 2, 3600]),
            drop_rate=rng.choice([0, 0.03]),
        )
        kills += _kill_once(daemon, rng, runs)
        if rng.random() < 0.3:
            age_claims(daemon.database)  # some settling windows end meanwhile
    sb.set_knobs(cancel_outcome="answer", cancel_apply_delay=0, drop_rate=0)
    for _ in range(3):  # every open claim reaches the end of its window
        daemon.once_ok()
        age_claims(daemon.database)
    daemon.once_ok()

    requests = sb.cancel_requests()
    summary = f"seed {seed}: {kills} kills in {tries} tries; requests {requests}"
    history = daemon.history()
    print(summary)
    for number in to_cancel:
        sent = requests.get(number, [])
        assert len(sent) <= 1, f"{summary}: {number} got {len(sent)} cancel requests"
        if status_of(sb, number) == "cancelled" or "cancelled" in dict(journal(daemon, number)):
            continue  # cancelled, or Ozon said it was (and applies it later)
        told = [
            i for i in history
            if i["kind"] == "alert" and i["event"] == "cancel_failed"
            and number in i["posting_numbers"]
        ]  # fmt: skip
        steps = journal(daemon, number)
        assert sent == [] or told, f"{summary}: {number} not cancelled, not reported: {steps}"
    assert "one more try" not in " ".join(i["reason"] for i in history), summary


def _kill_once(daemon: Daemon, rng: random.Random, runs: list[float]) -> int:
    """Start `once` and SIGKILL it at a random moment of its run; 1 when it was killed, 0 when
    it ended first (then it must have ended well, and its length is added to `runs`).

    The moment is drawn from up to 4 s, or from the longest run seen so far once one has ended:
    on a fast machine a `once` with little left to do ends in about a second, and kills drawn
    from 4 s would mostly come too late."""
    longest = max(runs, default=4.0)
    started = time.monotonic()
    running = daemon.start("once")
    try:
        running.process.wait(timeout=rng.uniform(0.1, 1.0) * longest)
    except subprocess.TimeoutExpired:
        running.kill()
        return 1
    result = running.wait()
    assert result.returncode == 0, explain(result)
    runs.append(time.monotonic() - started)
    return 0
