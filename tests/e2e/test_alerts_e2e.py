"""Alerts end to end: the installed `ozon-sync once` against the sandbox in its own process,
messages received by json:// routes on a local HTTP receiver."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env, run_cli
from tests.receiver import Receiver

API_KEY_NAME = "OZON_E2E_KEY"
ROUTE_TOKEN = "route-token-8d1f0c2a9b"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def demo_api(sandbox_process: Callable[..., SandboxProcess]) -> SandboxProcess:
    return sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")


def write_config(
    folder: Path,
    api: SandboxProcess,
    routes: list[str | tuple[str, str]],
    *,
    language: str = "en",
    timezone: str = "Europe/Moscow",
) -> Path:
    """A config for the sandbox `api` with json:// `routes` (a URL, or a URL and extra lines)."""
    pairs = [(r, "") if isinstance(r, str) else r for r in routes]
    # No digest on these routes: it is due at a time of day and would make counts depend on it.
    events = (
        'events = ["reminder", "overdue", "would_cancel", "cancelled", "cancel_failed", '
        '"deadline_changed", "cancelled_elsewhere", "api_error", "recovered", "key_expiring"]\n'
    )
    notify = "".join(f'\n[[notify]]\nurl = "{url}"\n{events}{extra}' for url, extra in pairs)
    path = folder / "config.toml"
    path.write_text(
        f"""
[daemon]
database = "state.db"
language = "{language}"
timezone = "{timezone}"
log_format = "json"
log_level = "debug"
digest_at = "23:59"

[ozon]
base_url = "{api.base_url}"
retry_for = "10s"

[[accounts]]
name = "shop-1"
client_id = "{api.client_id}"
api_key_env = "{API_KEY_NAME}"
{notify}
""",
        encoding="utf-8",
    )
    return path


def once(config: Path, api: SandboxProcess) -> tuple[int, str, str]:
    result = run_cli("--config", str(config), "once", env=clean_env(**{API_KEY_NAME: api.api_key}))
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("language", "overdue_title", "reminder_title"),
    [
        ("en", "OVERDUE", "Ship soon"),
        ("zh", "已超时未发货", "即将到发货截止时间"),
        ("ru", "ПРОСРОЧЕНО", "Скоро срок отгрузки"),
    ],
)
def test_alerts_arrive_in_each_language_with_every_required_item(
    tmp_path: Path,
    demo_api: SandboxProcess,
    receiver: Receiver,
    language: str,
    overdue_title: str,
    reminder_title: str,
) -> None:
    config = write_config(
        tmp_path, demo_api, [receiver.url("/phone")], language=language, timezone="Asia/Shanghai"
    )
    code, _, stderr = once(config, demo_api)
    assert code == 0, stderr
    titles = [m.title for m in receiver.on("/phone")]
    overdue = next(m for m in receiver.on("/phone") if overdue_title in m.title)
    assert any(reminder_title in title for title in titles)
    assert "[shop-1]" in overdue.title and "3" in overdue.title
    body = overdue.message
    for number in ("10000001-0001-1", "10000002-0002-1", "10000003-0003-1"):
        assert number in body
    assert "Asia/Shanghai" in body and "MSK" in body
    assert "Main FBS warehouse" in body
    for markup in ("*", "`", "_"):
        assert markup not in body


def test_two_runs_send_no_duplicate_and_one_message_per_event(
    tmp_path: Path, demo_api: SandboxProcess, receiver: Receiver
) -> None:
    config = write_config(tmp_path, demo_api, [receiver.url("/phone")])
    assert once(config, demo_api)[0] == 0
    first = [m.title for m in receiver.on("/phone")]
    assert once(config, demo_api)[0] == 0
    assert [m.title for m in receiver.on("/phone")] == first
    events = [title.split(":")[0] for title in first]
    assert len(events) == len(set(events))  # one message per account and event


def test_many_postings_make_one_message_ending_with_and_n_more(
    tmp_path: Path, sandbox_process: Callable[..., SandboxProcess], receiver: Receiver
) -> None:
    api = sandbox_process(
        "--scenario", "bulk", "--postings", "400", "--no-events", "--rate-limit", "0"
    )
    config = write_config(tmp_path, api, [receiver.url("/phone")])
    code, _, stderr = once(config, api)
    assert code == 0, stderr
    big = [m for m in receiver.on("/phone") if "more" in m.message.splitlines()[-1]]
    assert big, [m.title for m in receiver.on("/phone")]
    message = big[0]
    listed = [line for line in message.message.splitlines() if line[:1].isdigit()]
    assert len(listed) == 20
    total = int(message.title.split(": ")[1].split()[0])
    assert message.message.rstrip().endswith(f"and {total - 20} more")


def test_failing_route_gets_the_alert_exactly_once_later_while_the_other_got_it_at_once(
    tmp_path: Path, demo_api: SandboxProcess, receiver: Receiver
) -> None:
    receiver.fail_first["/flaky"] = 1000  # answers 500 until told otherwise
    config = write_config(tmp_path, demo_api, [receiver.url("/good"), receiver.url("/flaky")])
    assert once(config, demo_api)[0] == 0
    good = len(receiver.on("/good"))
    assert good >= 3 and receiver.on("/flaky") == []
    receiver.fail_first["/flaky"] = 0
    time.sleep(16)  # past the first retry backoff (15 s)
    assert once(config, demo_api)[0] == 0
    assert len(receiver.on("/flaky")) == good  # every alert once, none twice
    assert len(receiver.on("/good")) == good
    assert once(config, demo_api)[0] == 0
    assert len(receiver.on("/flaky")) == good


def test_quiet_hours_hold_non_urgent_alerts_but_not_urgent_ones(
    tmp_path: Path, demo_api: SandboxProcess, receiver: Receiver
) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime.now(zone)
    window = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    config = write_config(
        tmp_path,
        demo_api,
        [(receiver.url("/quiet"), f'quiet_hours = "{window}"\n'), receiver.url("/loud")],
        timezone="Asia/Shanghai",
    )
    code, _, stderr = once(config, demo_api)
    assert code == 0, stderr
    quiet = [m.title for m in receiver.on("/quiet")]
    loud = [m.title for m in receiver.on("/loud")]
    assert any("OVERDUE" in t for t in quiet)
    assert not any("Ship soon" in t for t in quiet)
    assert any("Ship soon" in t for t in loud)


def test_secrets_never_appear_in_messages_logs_or_the_database(
    tmp_path: Path, demo_api: SandboxProcess, receiver: Receiver
) -> None:
    route = receiver.url(f"/hook/{ROUTE_TOKEN}")
    config = write_config(tmp_path, demo_api, [route])
    code, stdout, stderr = once(config, demo_api)
    assert code == 0, stderr
    assert receiver.messages
    everything = stdout + stderr + "".join(m.title + m.message for m in receiver.messages)
    for secret in (demo_api.api_key, ROUTE_TOKEN):
        assert secret not in everything
    for file in tmp_path.glob("state.db*"):
        data = file.read_bytes()
        assert demo_api.api_key.encode() not in data
        assert ROUTE_TOKEN.encode() not in data
    status = run_cli("--config", str(config), "history", "--json", env=clean_env())
    assert status.returncode == 0
    assert ROUTE_TOKEN not in status.stdout and demo_api.api_key not in status.stdout


def test_check_notify_reports_each_route_and_exits_69_when_one_fails(
    tmp_path: Path, demo_api: SandboxProcess, receiver: Receiver
) -> None:
    receiver.fail_first["/down"] = 1000
    config = write_config(tmp_path, demo_api, [receiver.url("/up"), receiver.url("/down")])
    env = clean_env(**{API_KEY_NAME: demo_api.api_key})
    result = run_cli("--config", str(config), "check", "--offline", "--notify", env=env)
    assert result.returncode == 69, result.stderr
    assert "notify[0]" in result.stdout and "OK" in result.stdout
    assert "notify[1]" in result.stdout and "FAILED" in result.stdout
    assert len(receiver.on("/up")) == 1
    good = write_config(tmp_path, demo_api, [receiver.url("/up")])
    assert run_cli("--config", str(good), "check", "--offline", "--notify", env=env).returncode == 0


def test_demo_runs_as_a_process_and_shows_alerts_and_the_status_table() -> None:
    started = time.monotonic()
    result = run_cli("demo", timeout=90)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    out = result.stdout
    assert "OVERDUE" in out
    assert "Ship soon" in out
    assert "account    posting" in out  # the status table's header
    assert "10000001-0001-1" in out
    assert "Traceback" not in result.stderr
