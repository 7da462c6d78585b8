"""The installed `ozon-sync` command: help, exit codes 0 / 2 / 78, plain last error line,
and no secret in anything `check` prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import clean_env, last_stderr_line, run_cli
from tests.conftest import REPO_ROOT

COMMANDS = ["run", "once", "status", "history", "check", "hold", "release", "demo", "sandbox"]
API_KEY = "e2e0a9f7-5c1d-4b6e-9f00-5ecre7ke7000"
ROUTE_TOKEN = "7777777:AAE-route-token-e2e"


def config_file(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[daemon]
database = "state.db"
log_format = "json"

[[accounts]]
name = "shop-1"
client_id = "123456"
api_key_env = "OZON_TEST_KEY"

[[notify]]
url_env = "OZON_TEST_ROUTE"
{body}
""",
        encoding="utf-8",
    )
    return path


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"ozon-sync {command}" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_python_dash_m_daemon_is_the_same_program() -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "daemon", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
    )
    assert result.returncode == 0
    assert "Usage: ozon-sync" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["bogus"], ["status", "--bogus"], ["history", "--limit", "x"], ["hold"]],
    ids=["unknown command", "unknown option", "bad option value", "missing argument"],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_check_offline_succeeds_and_prints_the_config_without_secrets(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    env = clean_env(OZON_TEST_KEY=API_KEY, OZON_TEST_ROUTE=f"tgram://{ROUTE_TOKEN}/123")
    result = run_cli("--config", str(path), "check", "--offline", env=env)
    assert result.returncode == 0, result.stderr
    assert 'name = "shop-1"' in result.stdout
    assert "config is valid" in result.stdout
    for secret in (API_KEY, ROUTE_TOKEN, "AAE-route-token-e2e"):
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_check_offline_exits_78_naming_every_bad_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        """
[daemon]
poll_interval = "1s"
timezone = "Mars/Olympus"
log_format = "json"
[[accounts]]
name = "a"
client_id = "1"
api_key = "x"
[policy]
remind_before = ["4h", "soon"]
""",
        encoding="utf-8",
    )
    result = run_cli("--config", str(path), "check", "--offline")
    assert result.returncode == 78
    last = last_stderr_line(result)
    for key in ("daemon.poll_interval", "daemon.timezone", "policy.remind_before[1]"):
        assert key in last
    assert not last.startswith("{")
    assert "Traceback" not in result.stderr


def test_missing_secret_exits_78_with_a_plain_last_line_under_json_logs(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    result = run_cli("--config", str(path), "check", "--offline", env=clean_env())
    assert result.returncode == 78
    last = last_stderr_line(result)
    assert "accounts[0].api_key_env" in last
    assert "is not set" in last  # the variable's name is not repeated: it might be a pasted key
    with pytest.raises(json.JSONDecodeError):
        json.loads(last)


def test_invalid_notification_url_exits_78(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    env = clean_env(OZON_TEST_KEY=API_KEY, OZON_TEST_ROUTE="nosuchscheme://secret-route-token")
    result = run_cli("--config", str(path), "check", "--offline", env=env)
    assert result.returncode == 78
    assert "notify[0].url_env" in last_stderr_line(result)
    assert "secret-route-token" not in result.stderr + result.stdout


def test_config_from_environment_variable_is_used(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    env = clean_env(
        OZON_SYNC_CONFIG=str(path), OZON_TEST_KEY=API_KEY, OZON_TEST_ROUTE="json://127.0.0.1:9/x"
    )
    result = run_cli("check", "--offline", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_unwritable_database_folder_exits_74(tmp_path: Path) -> None:
    path = config_file(tmp_path).read_text().replace('"state.db"', '"/nonexistent/dir/x.db"')
    (tmp_path / "config.toml").write_text(path)
    env = clean_env(OZON_TEST_KEY=API_KEY, OZON_TEST_ROUTE="json://127.0.0.1:9/x")
    result = run_cli("--config", str(tmp_path / "config.toml"), "check", "--offline", env=env)
    assert result.returncode == 74
    assert "/nonexistent/dir" in last_stderr_line(result)


def test_example_config_passes_check_offline(tmp_path: Path) -> None:
    text = (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        text.replace("/var/lib/ozon-sync/ozon-sync.db", "state.db")
    )
    env = clean_env(OZON_SHOP1_KEY=API_KEY)
    result = run_cli("--config", str(tmp_path / "config.toml"), "check", "--offline", env=env)
    assert result.returncode == 0, result.stderr
