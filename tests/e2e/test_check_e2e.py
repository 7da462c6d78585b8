"""`ozon-sync check` online (issue 3): one cheap authenticated read per account against the
sandbox in its own process; exit 0 / 77 / 75, the key's expiry, a key without /v1/roles."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import (
    API_KEY,
    KAZAN_WAREHOUSE,
    MAIN_WAREHOUSE,
    SECRETS,
    WRONG_KEY,
    AccountSpec,
    MakeDaemon,
    StartSandbox,
    api_calls,
    assert_plain_last_line,
    explain,
    free_port,
)


def account_lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The per-account lines of `check` on stdout, by account name."""
    lines: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith('account "'):
            name = line.split('"')[1]
            assert name not in lines, f"two lines for {name}:\n{result.stdout}"
            lines[name] = line
    return lines


def assert_no_key_printed(result: subprocess.CompletedProcess[str]) -> None:
    for secret in SECRETS:
        assert secret not in result.stdout, explain(result)
        assert secret not in result.stderr, explain(result)


def test_check_proves_every_key_works_and_prints_the_masked_config(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    accounts = [
        # one shop split by warehouse: the only way two entries may share a Client-Id
        AccountSpec("shop-1", sb.client_id, API_KEY, warehouse_ids=(MAIN_WAREHOUSE,)),
        AccountSpec("shop-2", sb.client_id, API_KEY, (KAZAN_WAREHOUSE,), inline=True),
    ]
    daemon = make_daemon(sb.base_url, accounts=accounts)

    result = daemon.run("check")

    assert result.returncode == 0, explain(result)
    assert f'base_url = "{sb.base_url}"' in result.stdout
    assert 'name = "shop-1"' in result.stdout
    assert 'api_key_env = "OZON_E2E_KEY_0"' in result.stdout
    assert 'api_key = "***"' in result.stdout, "the inline key is masked"
    lines = account_lines(result)
    assert set(lines) == {"shop-1", "shop-2"}, explain(result)
    for line in lines.values():
        assert "works" in line, line
        assert "warning" not in line.lower(), line
    assert_no_key_printed(result)
    assert api_calls(sb, "/v4/posting/fbs/unfulfilled/list"), "a real read was made"


def test_check_with_a_rejected_key_exits_77_naming_the_account(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo")
    accounts = [
        AccountSpec("shop-good", sb.client_id, API_KEY, warehouse_ids=(MAIN_WAREHOUSE,)),
        AccountSpec("shop-bad", sb.client_id, WRONG_KEY, warehouse_ids=(KAZAN_WAREHOUSE,)),
    ]
    daemon = make_daemon(sb.base_url, accounts=accounts)

    result = daemon.run("check")

    assert result.returncode == 77, explain(result)
    assert_plain_last_line(result, "shop-bad")
    lines = account_lines(result)
    assert "works" in lines["shop-good"], explain(result)
    assert "works" not in lines["shop-bad"], explain(result)
    assert_no_key_printed(result)


def test_check_with_nobody_listening_exits_75(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(f"http://127.0.0.1:{free_port()}", retry_for="2s", timeout="2s")

    result = daemon.run("check")

    assert result.returncode == 75, explain(result)
    assert_plain_last_line(result, "shop-1")
    assert_no_key_printed(result)


def test_check_warns_about_a_key_that_expires_in_three_days(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    before = datetime.now(UTC) + timedelta(days=3)
    sb = start_sandbox("--scenario", "demo", "--key-expires-in", "3d")
    after = datetime.now(UTC) + timedelta(days=3)
    daemon = make_daemon(sb.base_url)

    result = daemon.run("check")

    assert result.returncode == 0, explain(result)
    line = account_lines(result)["shop-1"]
    assert "works" in line
    assert "warning" in line.lower(), line
    assert "expire" in line.lower(), line
    days = {before.strftime("%Y-%m-%d"), after.strftime("%Y-%m-%d")}
    assert any(day in line for day in days), f"the expiry ({days}) is not named: {line}"


def test_check_without_the_roles_method_still_exits_0_with_a_warning(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "demo", "--forbid", "/v1/roles")
    daemon = make_daemon(sb.base_url)

    result = daemon.run("check")

    assert result.returncode == 0, explain(result)
    assert "works" in account_lines(result)["shop-1"]
    assert 403 in [call["status"] for call in api_calls(sb, "/v1/roles")], "roles was refused"
    assert '"level": "warning"' in result.stderr, explain(result)
