"""Which cancels go out and with which reason, end to end: the installed `ozon-sync once`
against the sandbox in its own process.

- `[policy.cancel] respect_advice` (issue 20): a posting the ship-or-cancel advice says to ship
  (Ozon's error index in the red zone) is not cancelled: `cancel_skipped` in the history with the
  advice's reason, `would_cancel` told once; with `respect_advice = false` it is cancelled;
- `[policy.cancel] reason_ids` (issue 23): the first reason of the list that Ozon allows for
  the posting is sent; when Ozon allows none of them nothing is sent: the journal says
  `cancel_skipped` (once), the one `cancel_failed` alert names the reasons Ozon allows and the
  key to set, and the log says it once;
- `reason_id` and `reason_ids` together: every command exits 78 naming the key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, last_stderr_line, run_cli
from tests.e2e.conftest import Daemon, MakeDaemon, StartSandbox, config_text, explain

CANCEL = "/v2/posting/fbs/cancel"


def add(sb: SandboxProcess, hours_overdue: float, reasons: tuple[int, ...] | None = None) -> str:
    moment = datetime.now(UTC) - timedelta(hours=hours_overdue)
    fields: dict[str, Any] = {"shipment_date": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if reasons is not None:
        fields["reasons"] = list(reasons)
    number: str = sb.action("add_posting", **fields)["posting_number"]
    return number


def watched(sb: SandboxProcess, count: int = 5) -> None:
    for _ in range(count):  # due in three days: the share breaker stays quiet
        add(sb, -72)


def events(daemon: Daemon, number: str) -> list[tuple[str, str, str]]:
    """(kind, event, reason) of every history element naming `number`, oldest first."""
    return [
        (item["kind"], item["event"], item["reason"])
        for item in reversed(daemon.history())
        if number in item["posting_numbers"]
    ]


def sent_reasons(sb: SandboxProcess, number: str) -> list[int]:
    return [
        call["body"]["cancel_reason_id"]
        for call in sb.calls()
        if call["path"] == CANCEL and call["body"]["posting_number"] == number
    ]


@pytest.mark.parametrize("respect", [True, False], ids=["respect_advice", "advice-ignored"])
def test_a_posting_the_advice_says_to_ship_is_not_cancelled_when_advice_is_respected(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, respect: bool
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    number = add(sb, 50)
    watched(sb)
    sb.set_knobs(error_index=0.45)  # 45 %: the red zone, a seller cancellation may block
    extra = f"[policy.cancel]\nenabled = true\nrespect_advice = {str(respect).lower()}\n"
    daemon = make_daemon(sb.base_url, extra=extra)

    runs = [daemon.once_ok() for _ in range(3)]

    history = events(daemon, number)
    if not respect:
        assert sb.cancel_requests(number) == [200]
        assert "cancelled" in [event for _, event, _ in history]
        return
    assert sb.cancel_requests(number) == [], "the advice says ship: nothing sent"
    skipped = [reason for kind, event, reason in history if event == "cancel_skipped"]
    assert len(skipped) == 1, history  # journalled once, not once per cycle
    assert "advice" in skipped[0] and "ship" in skipped[0] and "red" in skipped[0], skipped
    told = [reason for kind, event, reason in history if (kind, event) == ("alert", "would_cancel")]
    assert len(told) == 1 and "red" in told[0], history
    assert "cancel_failed" not in [event for _, event, _ in history]
    later = "".join(run.stderr for run in runs[1:])
    assert number not in later or '"level": "warning"' not in later


def test_the_first_reason_of_reason_ids_that_ozon_allows_is_sent(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    only_352 = add(sb, 50, reasons=(352,))
    both = add(sb, 51, reasons=(352, 402))
    watched(sb, 10)
    extra = "[policy.cancel]\nenabled = true\nreason_ids = [402, 352]\n"
    daemon = make_daemon(sb.base_url, extra=extra)

    daemon.once_ok()

    assert sent_reasons(sb, only_352) == [352]
    assert sent_reasons(sb, both) == [402]
    assert sb.cancel_requests(only_352) == [200] and sb.cancel_requests(both) == [200]


def test_a_posting_allowing_none_of_the_reasons_is_told_once_with_the_reasons_and_the_key(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    number = add(sb, 50, reasons=(352,))
    watched(sb)
    daemon = make_daemon(sb.base_url, extra="[policy.cancel]\nenabled = true\n")

    runs = [daemon.once_ok() for _ in range(3)]

    assert sb.cancel_requests(number) == []
    history = events(daemon, number)
    told = [r for kind, event, r in history if (kind, event) == ("alert", "cancel_failed")]
    assert len(told) == 1, told
    assert "352" in told[0] and "reason_ids" in told[0] and "[policy.cancel]" in told[0], told
    # No request was sent: the journal says the planned cancel was decided against, once.
    journal = [(event, r) for kind, event, r in history if kind == "action"]
    assert [event for event, _ in journal] == ["cancel_skipped"], journal
    assert "352" in journal[0][1] and "nothing was sent" in journal[0][1], journal
    warnings = [
        json.loads(line)
        for run in runs
        for line in run.stderr.splitlines()
        if line.startswith("{") and '"warning"' in line and number in line
    ]
    assert [w["event"] for w in warnings] == ["cancel_skipped"], warnings


@pytest.mark.parametrize("command", [["check", "--offline"], ["once"], ["status"]])
def test_reason_id_and_reason_ids_together_exit_78_naming_the_key(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "config.toml"
    extra = "[policy.cancel]\nreason_id = 352\nreason_ids = [402, 352]\n"
    config.write_text(config_text("http://127.0.0.1:9", [], extra=extra) + ACCOUNT, "utf-8")
    result = run_cli("--config", str(config), *command, env=clean_env(OZON_E2E_KEY_0="k"))
    assert result.returncode == 78, explain(result)
    assert "policy.cancel.reason_ids" in last_stderr_line(result), explain(result)
    assert "Traceback" not in result.stderr


ACCOUNT = """
[[accounts]]
name = "shop-1"
client_id = "100500"
api_key_env = "OZON_E2E_KEY_0"
"""
