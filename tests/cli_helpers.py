"""Run the installed `ozon-sync` command as a separate process, as users and outside tests do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def ozon_sync_command() -> list[str]:
    """The installed console command next to this Python, else `python -m daemon`."""
    script = Path(sys.executable).parent / "ozon-sync"
    if script.exists():
        return [str(script)]
    found = shutil.which("ozon-sync")
    return [found] if found else [sys.executable, "-m", "daemon"]


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without ozon-sync and systemd variables, plus `extra`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OZON_", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "NOTIFY_"))
    }
    env.update(extra)
    return env


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `ozon-sync ARGS` to completion and capture stdout and stderr as text."""
    return subprocess.run(
        [*ozon_sync_command(), *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def last_stderr_line(result: subprocess.CompletedProcess[str]) -> str:
    """The last non-empty line the process wrote on stderr."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""
