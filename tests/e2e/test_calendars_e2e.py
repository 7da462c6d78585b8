"""Working calendars through the installed command (issue 19): `status --json` gives each
posting's `working_seconds_left` from the calendar of its warehouse (null without one), the
status table shows it, and `check --offline` refuses bad calendars with exit 78."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daemon.calendars import CalendarSection, build_calendar
from daemon.worktime import working_seconds_left
from tests.cli_helpers import clean_env, run_cli
from tests.e2e.conftest import (
    Daemon,
    MakeDaemon,
    StartSandbox,
    assert_plain_last_line,
    explain,
    sandbox_watched,
)

pytestmark = pytest.mark.e2e

ALWAYS = """
[[calendars]]
name = "always"
workdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
hours = ["00:00-24:00"]
warehouse_ids = [{listed}]

[[calendars]]
name = "never"
days_off = [{never}]
default = true
"""
NEVER = ", ".join(
    f'"{(datetime.now(UTC).date() + timedelta(days=offset)).isoformat()}"'
    for offset in range(-2, 90)
)
"""Every day from two days ago on for three months: the default calendar is closed throughout
(a calendar needs a working weekday; these days off take every one of them)."""

OFFICE = """
[[calendars]]
name = "office"
country = "RU"
timezone = "Europe/Moscow"
hours = ["09:00-13:00", "14:00-18:00"]
warehouse_ids = [{listed}]
"""


def with_calendars(daemon: Daemon, tables: str) -> None:
    """Append `tables` to the daemon's config file (status reads it on every run)."""
    text = daemon.config.read_text(encoding="utf-8").split("\n[[calendars]]")[0]
    daemon.config.write_text(text + tables, encoding="utf-8")


def by_number(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["posting_number"]: item for item in items}


def test_status_json_gives_working_seconds_left_from_the_warehouse_calendar(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    daemon = make_daemon(sb.base_url)
    daemon.once_ok()
    expected = sandbox_watched(sb)
    warehouses = {p["delivery_method"]["warehouse_id"] for p in expected.values()}
    assert len(warehouses) >= 2, "the demo scenario should use several warehouses"
    listed = min(warehouses)

    # No calendar: clock time, as before, and the field is null.
    items = daemon.status()
    assert items and all(item["working_seconds_left"] is None for item in items)

    # The listed warehouse works round the clock; every other one falls to the default that
    # never opens.
    with_calendars(daemon, ALWAYS.format(listed=listed, never=NEVER))
    items = daemon.status()
    assert {item["posting_number"] for item in items} == set(expected)
    for item in items:
        left = item["working_seconds_left"]
        assert isinstance(left, int) and not isinstance(left, bool), item
        if item["warehouse_id"] == listed:
            assert left == max(item["seconds_left"], 0), item
        else:
            assert left == 0, item
    assert any(item["warehouse_id"] == listed and item["seconds_left"] > 0 for item in items)

    # A real office calendar for one warehouse and no default: the others count clock time.
    with_calendars(daemon, OFFICE.format(listed=listed))
    office = build_calendar(
        CalendarSection.model_validate(
            {"name": "office", "country": "RU", "timezone": "Europe/Moscow",
             "hours": ["09:00-13:00", "14:00-18:00"]}
        ),
        "UTC",
    )  # fmt: skip
    before = datetime.now(UTC)
    items = daemon.status()
    after = datetime.now(UTC)
    for item in items:
        left = item["working_seconds_left"]
        if item["warehouse_id"] != listed:
            assert left is None, item
            continue
        deadline = datetime.fromisoformat(item["shipment_date"].replace("Z", "+00:00"))
        # The status ran between `before` and `after`.
        assert working_seconds_left(office, after, deadline) - 1 <= left, item
        assert left <= working_seconds_left(office, before, deadline), item


def test_the_status_table_shows_working_time_beside_clock_time(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    daemon = make_daemon(sb.base_url)
    daemon.once_ok()
    listed = min(p["delivery_method"]["warehouse_id"] for p in sandbox_watched(sb).values())
    plain = daemon.run("status")
    assert plain.returncode == 0, explain(plain)
    assert "working time left" not in plain.stdout  # without calendars the table is unchanged
    with_calendars(daemon, ALWAYS.format(listed=listed, never=NEVER))
    table = daemon.run("status")
    assert table.returncode == 0, explain(table)
    header = table.stdout.splitlines()[0]
    assert header.index("time left") < header.index("working time left") < header.index("held")
    assert " working" in table.stdout  # the listed warehouse's postings
    assert "none" in table.stdout  # the default calendar never opens


def test_check_offline_refuses_bad_calendars_naming_each_by_dotted_path(tmp_path: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[daemon]
log_format = "json"
database = "state.db"
[[accounts]]
name = "a"
client_id = "1"
api_key = "x"
[[notify]]
url = "json://127.0.0.1:9/x"
quiet_hours = "calendar:nowhere"
[[calendars]]
name = "cn"
country = "ZZ"
hours = ["09:00-13:00", "12:00-18:00"]
warehouse_ids = [5]
default = true
[[calendars]]
name = "ru"
country = "RU"
days_off = ["2027-02-30"]
warehouse_ids = [5]
default = true
""",
        encoding="utf-8",
    )
    result = run_cli("--config", str(path), "check", "--offline", env=clean_env())
    assert result.returncode == 78, explain(result)
    assert_plain_last_line(
        result,
        "calendars[0].country",
        "calendars[0].hours",
        "calendars[1].days_off[0]",
        "calendars[1].warehouse_ids[0]",
        "calendars[1].default",
        "notify[0].quiet_hours",
    )


def test_check_offline_accepts_and_prints_good_calendars(tmp_path: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[daemon]
log_format = "json"
database = "state.db"
[[accounts]]
name = "a"
client_id = "1"
api_key_env = "OZON_TEST_KEY"
[policy]
remind_in = "working"
[[notify]]
url = "json://127.0.0.1:9/x"
quiet_hours = "calendar:cn"
[[calendars]]
name = "cn"
country = "CN"
timezone = "Asia/Shanghai"
hours = ["09:00-12:00", "13:00-18:00"]
days_off = [2027-02-15]
extra_workdays = ["2027-02-20"]
warehouse_ids = [5, 6]
[[calendars]]
name = "night"
hours = ["22:00-06:00"]
default = true
""",
        encoding="utf-8",
    )
    result = run_cli(
        "--config", str(path), "check", "--offline", env=clean_env(OZON_TEST_KEY="k-123")
    )
    assert result.returncode == 0, explain(result)
    for line in (
        'remind_in = "working"',
        'quiet_hours = "calendar:cn"',
        "[[calendars]]",
        'hours = ["09:00-12:00", "13:00-18:00"]',
        'days_off = ["2027-02-15"]',
        "warehouse_ids = [5, 6]",
        'hours = ["22:00-06:00"]',
        "default = true",
    ):
        assert line in result.stdout, line
