"""Hostile postings end to end (issues 16.1 and 16.7): the installed `ozon-sync once`, then
`status`, against the sandbox in its own process, whose list answers carry postings Ozon may
really send: a "no deadline" marker (`9999-12-31T23:59:59Z`), a zero date
(`0001-01-01T00:00:00Z`) and the same posting twice on one page. One such posting must never
silence the account; text in them reaches a route cleaned and capped."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.conftest import MakeDaemon, StartSandbox, api_calls, explain, wait_for
from tests.receiver import Receiver

NO_DEADLINE = "9999-12-31T23:59:59Z"


def wire_posting(number: str, shipment_date: str, **fields: Any) -> dict[str, Any]:
    """A posting in the v4 list shape, with everything the daemon reads."""
    data: dict[str, Any] = {
        "posting_number": number,
        "order_id": 77_000_001,
        "order_number": number.rsplit("-", 1)[0],
        "status": "awaiting_packaging",
        "substatus": "posting_created",
        "shipment_date": shipment_date,
        "in_process_at": "2026-01-05T10:00:00Z",
        "delivery_method": {
            "id": 1020001234567000,
            "name": "Ozon delivery self drop-off, Khimki",
            "warehouse_id": 1020001234567000,
            "warehouse": "Main FBS warehouse",
        },
        "available_actions": ["cancel", "ship"],
        "products": [{"sku": 1658203344, "name": "Mug", "quantity": 1, "offer_id": "MUG"}],
    }
    data.update(fields)
    return data


def rfc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


CANCEL_EVERYTHING = """
[policy.cancel]
enabled = true
overdue_for = "1h"
max_share = 1.0
"""


def test_hostile_postings_never_silence_the_account(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    now = datetime.now(UTC)
    normal = sb.action("add_posting", shipment_date=rfc(now + timedelta(hours=2)))["posting_number"]
    twice = wire_posting("90000001-0001-1", rfc(now + timedelta(hours=3)))
    sb.set_knobs(
        inject_postings=[
            wire_posting("90000002-0001-1", NO_DEADLINE),
            wire_posting("90000003-0001-1", "0001-01-01T00:00:00Z"),
            wire_posting(
                "90000004-0001-1", "9999-12-31T23:59:59.999999900Z", status="awaiting_deliver"
            ),
            twice,
            twice,
        ]
    )
    daemon = make_daemon(sb.base_url, extra=CANCEL_EVERYTHING)

    first = daemon.once()
    second = daemon.once()

    assert first.returncode == 0, explain(first)
    assert second.returncode == 0, explain(second)
    assert "Traceback" not in first.stderr + second.stderr
    # Every usable posting is watched and alerted; the far-past one is skipped.
    status = {item["posting_number"]: item for item in daemon.status()}
    assert set(status) == {normal, "90000001-0001-1", "90000002-0001-1", "90000004-0001-1"}
    alerted = {
        number
        for entry in daemon.history()
        if entry["kind"] == "alert"
        for number in entry["posting_numbers"]
    }
    assert alerted == {normal, "90000001-0001-1"}, "no-deadline postings get no alert"
    # A no-deadline posting keeps the contract's types and says what it is.
    for number in ("90000002-0001-1", "90000004-0001-1"):
        item = status[number]
        assert item["shipment_date"] == NO_DEADLINE, item
        assert item["no_deadline"] is True, item
        assert isinstance(item["seconds_left"], int) and item["seconds_left"] > 0, item
    assert status[normal]["no_deadline"] is False
    assert 7000 < status[normal]["seconds_left"] <= 7200
    # Never cancelled, whatever the cancel rules say.
    cancelled = {
        call["body"]["posting_number"]
        for call in api_calls(sb, "/v2/posting/fbs/cancel")
        if call["path"] == "/v2/posting/fbs/cancel"
    }
    assert not cancelled & {"90000002-0001-1", "90000004-0001-1"}, cancelled
    # The far-past posting and the duplicate are each reported once, not every cycle.
    lines = [json.loads(line) for line in (first.stderr + second.stderr).splitlines()]
    reports = [line for line in lines if line.get("event") == "posting_unreadable"]
    reported = sorted(line["posting_number"] for line in reports)
    assert reported == ["90000001-0001-1", "90000003-0001-1"], reports
    # The human status view shows it as such and exits 0.
    table = daemon.run("status")
    assert table.returncode == 0, explain(table)
    row = next(line for line in table.stdout.splitlines() if "90000002-0001-1" in line)
    assert "no deadline" in row, table.stdout
    # `run` finishes its cycles too (it used to die inside the scheduler, every cycle).
    running = daemon.start("run")
    wait_for(lambda: '"cycle_finished"' in running.stderr_path.read_text(), "a cycle of run")
    running.process.send_signal(signal.SIGTERM)
    stopped = running.wait(timeout=60)
    assert stopped.returncode == 0, explain(stopped)
    finished = [
        json.loads(line) for line in stopped.stderr.splitlines() if '"cycle_finished"' in line
    ]
    assert finished and all(line["result"] == "ok" for line in finished), finished


HIDDEN = "\u2028\u2029\u0085\u202e\u2066\u2069\u200f\u061c\x1b\x9b\x00"


def test_outside_text_reaches_a_route_cleaned_and_capped(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    sb = start_sandbox("--scenario", "empty")
    due = rfc(datetime.now(UTC) + timedelta(hours=2))
    warehouse = "Склад\u2028Line\u202eevil" + HIDDEN + "W" * 5000
    hostile = wire_posting("90000005-0001-1", due, status="awaiting_\u202epackaging\u2028x")
    hostile["delivery_method"]["warehouse"] = warehouse
    sb.set_knobs(inject_postings=[hostile])
    with Receiver() as receiver:
        daemon = make_daemon(sb.base_url, extra=f'[[notify]]\nurl = "{receiver.url("/r")}"\n')
        result = daemon.once()
        assert result.returncode == 0, explain(result)
        received = receiver.wait_for(1, "/r")
    (message,) = [m for m in received if "90000005-0001-1" in m.message]  # (a digest may be due)
    assert "Склад Line" in message.message and "evil" in message.message
    for char in HIDDEN:
        assert char not in message.title + message.message, f"U+{ord(char):04X} passed"
    assert len(message.title) + len(message.message) < 800, "the 5,000 characters are capped"
    assert "…" in message.message
