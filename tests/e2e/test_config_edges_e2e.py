"""Config values and files at the edges (issue 24, items 4 and 7), through the installed command:
what `check --offline` accepts a later command can use (a request rate that would leave `once`
waiting for minutes per request, a calendar without a working day, ids Ozon cannot take are
refused with 78 naming the key), a file saved with a UTF-8 byte order mark is read, and a
config path that is a folder or empty exits 78 like a missing file, on one plain line."""

from __future__ import annotations

import codecs
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import clean_env, last_stderr_line, run_cli

ACCOUNT = """
[[accounts]]
name = "shop-1"
client_id = "123456"
api_key_env = "OZON_KEY"
"""


def write(folder: Path, body: str, *, bom: bool = False) -> Path:
    path = folder / "config.toml"
    text = f'[daemon]\ndatabase = "state.db"\nlog_format = "json"\n{body}'
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode())
    return path


def ozon_sync(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=clean_env(OZON_KEY="key-1"), timeout=60)


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def assert_config_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 78, explain(result)
    assert "Traceback" not in result.stderr, explain(result)
    last = last_stderr_line(result)
    assert last.startswith("ozon-sync: "), explain(result)
    for needle in needles:
        assert needle in last, f"{needle!r} not in: {last}"
    return last


UNUSABLE = [
    ("a rate of one request in 1000 s", '[ozon]\nmax_requests_per_second = 0.001\n' + ACCOUNT,
     "ozon.max_requests_per_second"),
    ("a rate below one a second", '[ozon]\nmax_requests_per_second = 0.5\n' + ACCOUNT,
     "ozon.max_requests_per_second"),
    ("a calendar without hours", ACCOUNT + '[[calendars]]\nname = "main"\nhours = []\n',
     "calendars[0].hours"),
    ("a negative warehouse id", ACCOUNT + "warehouse_ids = [-5]\n", "accounts[0].warehouse_ids[0]"),
    ("a warehouse id of 0", ACCOUNT + "warehouse_ids = [0]\n", "accounts[0].warehouse_ids[0]"),
    ("a warehouse id beyond int64", ACCOUNT + "warehouse_ids = [99999999999999999999]\n",
     "accounts[0].warehouse_ids[0]"),
    ("a cancel reason beyond int64", ACCOUNT + "[policy.cancel]\nreason_id = 9223372036854775808\n",
     "policy.cancel.reason_id"),
    ("cancel reasons beyond int64",
     ACCOUNT + "[policy.cancel]\nreason_ids = [352, 9223372036854775808]\n",
     "policy.cancel.reason_ids[1]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "key"), [case[1:] for case in UNUSABLE], ids=[case[0] for case in UNUSABLE]
)
def test_check_offline_refuses_a_value_later_commands_cannot_use(
    tmp_path: Path, body: str, key: str
) -> None:
    config = write(tmp_path, body)
    assert_config_error(ozon_sync("--config", str(config), "check", "--offline"), key)
    assert_config_error(ozon_sync("--config", str(config), "once"), key)


def test_the_smallest_values_allowed_are_accepted(tmp_path: Path) -> None:
    body = "[ozon]\nmax_requests_per_second = 1\n" + ACCOUNT + "warehouse_ids = [1]\n"
    body += '[[calendars]]\nname = "main"\nworkdays = ["sat"]\nhours = ["10:00-11:00"]\n'
    result = ozon_sync("--config", str(write(tmp_path, body)), "check", "--offline")
    assert result.returncode == 0, explain(result)


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    config = write(tmp_path, ACCOUNT, bom=True)
    result = ozon_sync("--config", str(config), "check", "--offline")
    assert result.returncode == 0, explain(result)
    assert 'name = "shop-1"' in result.stdout
    assert ozon_sync("--config", str(config), "status", "--json").stdout.strip() == "[]"


def test_a_byte_order_mark_inside_the_file_is_still_invalid_toml(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[daemon]\nlog_format = "json"\n\ufeff' + ACCOUNT, encoding="utf-8")
    assert_config_error(ozon_sync("--config", str(config), "check", "--offline"), "invalid TOML")


@pytest.mark.parametrize("where", ["folder", "empty", "missing"])
def test_a_config_path_that_names_no_file_exits_78_on_one_line(tmp_path: Path, where: str) -> None:
    path = {"folder": str(tmp_path), "empty": "", "missing": str(tmp_path / "nope.toml")}[where]
    for command in (["check", "--offline"], ["status"]):
        result = run_cli("--config", path, *command, env=clean_env(), cwd=tmp_path, timeout=60)
        last = assert_config_error(result, "config")
        assert len(result.stderr.strip().splitlines()) == 1, explain(result)
        if where == "folder":
            assert str(tmp_path) in last and "folder" in last
        if where == "empty":
            assert "empty" in last
