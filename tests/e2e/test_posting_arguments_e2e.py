"""Posting and order numbers typed on the command line (issue 24, item 1): `hold`, `hold
--force`, `release` and `ack` refuse a number no Ozon posting can have (far too long, control
characters) with exit 2 and one plain line that does not echo it whole, and the closest-number
lookup copes with any number it is given. The cache is filled by `once` against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Daemon, MakeDaemon, StartSandbox, assert_plain_last_line, explain

NUMBER = "12345678-0001-1"
HUGE = "9" * 60_000
"""Longer than SQLite's LIKE pattern limit (50,000 bytes): it crashed the order lookup."""


@pytest.fixture
def daemon(start_sandbox: StartSandbox, make_daemon: MakeDaemon) -> Daemon:
    """A daemon whose cache holds NUMBER and a second posting of another order."""
    sb = start_sandbox("--scenario", "empty")
    due = (datetime.now(UTC) + timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for number in (NUMBER, "87654321-0002-1"):
        sb.action("add_posting", posting_number=number, shipment_date=due)
    made = make_daemon(sb.base_url)
    made.once_ok()
    return made


@pytest.mark.parametrize(
    "args",
    [
        ("hold", HUGE),
        ("hold", HUGE, "--force"),
        ("release", HUGE),
        ("ack", HUGE, "--by", "anna"),
        ("hold", "9" * 65, "--force"),
        ("hold", f"{NUMBER}\x07", "--force"),
        ("release", "1234\u20285678-1"),
        ("ack", "   ", "--by", "anna"),
    ],
    ids=["hold", "hold-force", "release", "ack", "65-digits", "bell", "line-separator", "blank"],
)
def test_a_number_no_posting_can_have_exits_2_with_one_short_line(
    daemon: Daemon, args: tuple[str, ...]
) -> None:
    before = {item["posting_number"]: item["held"] for item in daemon.status()}

    result = daemon.run(*args)

    assert result.returncode == 2, explain(result)
    assert result.stdout == ""
    last = assert_plain_last_line(result, f"{args[0]}: ", "12345678-0001-1")
    assert len(result.stderr) < 500, "the message echoes the whole number"
    assert "internal error" not in last
    assert {item["posting_number"]: item["held"] for item in daemon.status()} == before


def test_a_usable_number_still_holds_releases_and_acks(daemon: Daemon) -> None:
    for args, said in (
        (("hold", f"  {NUMBER} "), f"{NUMBER} is held"),
        (("ack", NUMBER, "--by", "anna"), f"{NUMBER} acknowledged by anna"),
        (("release", NUMBER), f"{NUMBER} released"),
        (("hold", "9" * 64, "--force"), "(not synced yet) is held"),
    ):
        result = daemon.run(*args)
        assert result.returncode == 0, explain(result)
        assert said in result.stdout
