"""The systemd units in systemd/: `systemd-analyze verify` finds nothing to say, `systemd-analyze
security` rates both services at most 2.0, the daemon unit is Type=notify and never restarts on
exit 78, the timer fires every 5 minutes, the sysusers snippet creates the static user, and
CPython runs a full cycle under MemoryDenyWriteExecute (the kernel's PR_SET_MDWE, the same rule).

The units name /opt/ozon-sync/bin/ozon-sync, which does not exist here, so each test works on a
copy in tmp_path whose ExecStart points at the installed command. `verify` does not resolve
User=, so the sysusers user need not exist on the test machine. Tests skip only where the
systemd tool they run is missing.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from daemon.sandbox import Sandbox
from tests.cli_helpers import clean_env, ozon_sync_command
from tests.conftest import REPO_ROOT

UNITS = REPO_ROOT / "systemd"
SERVICES = ["ozon-sync.service", "ozon-sync-once.service"]
ALL_UNITS = [*SERVICES, "ozon-sync-once.timer"]
INSTALLED = "/opt/ozon-sync/bin/ozon-sync"
MAX_EXPOSURE = 2.0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is missing")
# Keys that make up the hardening; the timer's service must set each exactly like the daemon.
HARDENING = {
    "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem",
    "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateUsers", "PrivateMounts", "PrivateIPC",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
    "ProtectClock", "ProtectHostname", "ProtectProc", "ProcSubset", "RestrictAddressFamilies",
    "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
    "MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallFilter", "UMask", "User",
    "Group", "StateDirectory", "ConfigurationDirectory", "ConfigurationDirectoryMode",
}  # fmt: skip


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """{section: [(key, value), ...]} in file order; repeated keys are kept (systemd merges)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [value for name, value in unit.get(section, []) if name == key]


def installed_command() -> str:
    command = ozon_sync_command()
    if len(command) != 1:
        pytest.skip("the ozon-sync console command is not installed")
    return command[0]


@pytest.fixture
def unit_copies(tmp_path: Path) -> Path:
    """All units copied to tmp_path, ExecStart rewritten to the installed ozon-sync."""
    command = installed_command()
    for name in ALL_UNITS:
        text = (UNITS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED, command), encoding="utf-8")
    return tmp_path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    env = clean_env(SYSTEMD_LOG_LEVEL="warning", SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="")
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_every_unit_names_the_venv_command_and_the_etc_config() -> None:
    for name in SERVICES:
        unit = parse_unit(UNITS / name)
        (exec_start,) = values(unit, "Service", "ExecStart")
        assert exec_start.startswith(f"{INSTALLED} --config /etc/ozon-sync/config.toml ")
        assert values(unit, "Service", "Environment") == [
            "OZON_SYNC_CONFIG=/etc/ozon-sync/config.toml"
        ]


@needs_analyze
@pytest.mark.parametrize("name", ALL_UNITS)
def test_systemd_analyze_verify_has_nothing_to_say_about_the_unit(
    name: str, unit_copies: Path
) -> None:
    # verify exits 0 even on a misspelled key; the warnings on stderr are what count.
    result = analyze("verify", "--man=no", str(unit_copies / name))
    assert result.stderr == ""
    assert result.returncode == 0


@needs_analyze
def test_verify_does_report_a_misspelled_directive(unit_copies: Path) -> None:
    # Guards the test above: the way we call verify does surface mistakes.
    unit = unit_copies / "ozon-sync.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSytem="))
    result = analyze("verify", "--man=no", str(unit))
    assert "Unknown key 'ProtectSytem'" in result.stderr


@needs_analyze
@pytest.mark.parametrize("name", SERVICES)
def test_the_service_exposure_level_is_at_most_two(name: str, unit_copies: Path) -> None:
    result = analyze("security", "--offline=true", "--no-pager", str(unit_copies / name))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


def test_the_daemon_unit_is_type_notify_with_watchdog_and_no_restart_on_exit_78() -> None:
    unit = parse_unit(UNITS / "ozon-sync.service")
    service = dict(unit["Service"])
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["ExecStart"].endswith(" run")
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(service["WatchdogSec"]) >= 30
    assert service["Restart"] == "on-failure"
    assert "78" in service["RestartPreventExitStatus"].split()
    assert service["TimeoutStopSec"] == "45"
    assert (service["User"], service["Group"]) == ("ozon-sync", "ozon-sync")
    assert service["ConfigurationDirectoryMode"] == "0750"
    assert values(unit, "Service", "IPAddressDeny") == []
    assert values(unit, "Install", "WantedBy") == ["multi-user.target"]


def test_the_daemon_unit_shows_loadcredential_as_a_commented_example() -> None:
    text = (UNITS / "ozon-sync.service").read_text()
    assert "#LoadCredential=shop-1:/etc/ozon-sync/credentials/shop-1" in text
    assert 'api_key_credential = "shop-1"' in text


def test_the_once_service_is_a_oneshot_with_the_daemon_s_hardening() -> None:
    daemon = parse_unit(UNITS / "ozon-sync.service")["Service"]
    once = parse_unit(UNITS / "ozon-sync-once.service")
    assert dict(once["Service"])["Type"] == "oneshot"
    assert dict(once["Service"])["ExecStart"].endswith(" once")
    assert "Install" not in once  # started by the timer only
    hardening = sorted(item for item in daemon if item[0] in HARDENING)
    assert {key for key, _ in hardening} == HARDENING
    assert sorted(item for item in once["Service"] if item[0] in HARDENING) == hardening


@needs_analyze
def test_the_timer_fires_every_five_minutes_and_catches_up_after_downtime() -> None:
    timer = parse_unit(UNITS / "ozon-sync-once.timer")
    settings = dict(timer["Timer"])
    assert settings["Persistent"] == "true"
    assert settings["Unit"] == "ozon-sync-once.service"
    result = analyze("calendar", "--iterations=3", settings["OnCalendar"])
    assert result.returncode == 0, result.stderr
    found = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\S+ \S+)", result.stdout)
    times = [datetime.fromisoformat(text) for text in found]
    assert len(times) == 3
    assert {later - earlier for earlier, later in itertools.pairwise(times)} == {
        timedelta(minutes=5)
    }


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers missing")
def test_the_sysusers_snippet_creates_a_static_ozon_sync_user_and_group(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(UNITS / "sysusers.d" / "ozon-sync.conf")],
        capture_output=True,
        text=True,
        env=clean_env(SYSTEMD_LOG_LEVEL="warning"),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    passwd = [line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()]
    group = [line.split(":") for line in (tmp_path / "etc/group").read_text().splitlines()]
    (user,) = [entry for entry in passwd if entry[0] == "ozon-sync"]
    assert [entry[0] for entry in group if entry[2] == user[3]] == ["ozon-sync"]
    assert int(user[2]) < 1000  # a system user
    assert user[5] == "/var/lib/ozon-sync"
    assert user[6].endswith("nologin")


PR_SET_MDWE = 65  # Linux >= 6.3: refuse memory that is (or becomes) writable and executable
MDWE_RUNNER = """
import ctypes, mmap, ssl, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(3)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit(4)  # not enforced
except PermissionError:
    pass
ssl.create_default_context()
from daemon.cli import main
sys.argv = ["ozon-sync", *sys.argv[1:]]
main()
"""


def mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(66, 0, 0, 0, 0) >= 0)  # PR_GET_MDWE


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not mdwe_supported(),
    reason="needs Linux >= 6.3 for PR_SET_MDWE",
)
def test_a_full_cycle_runs_under_memory_deny_write_execute(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        textwrap.dedent(f"""
            [daemon]
            database = "state.db"
            log_format = "json"
            [ozon]
            base_url = "{sandbox.base_url}"
            [[accounts]]
            name = "shop-1"
            client_id = "{sandbox.client_id}"
            api_key_env = "OZON_MDWE_KEY"
        """)
    )
    runner = tmp_path / "mdwe_runner.py"
    runner.write_text(MDWE_RUNNER)
    env = clean_env(OZON_MDWE_KEY=sandbox.api_key, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, str(runner), "--config", str(config), "once"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode not in (3, 4), "PR_SET_MDWE was not applied"
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"event": "cycle_finished"' in result.stderr
    assert os.path.exists(tmp_path / "state.db")
