"""The config file itself: which one to use (`default_config_path`) and its text read as TOML
(`read_toml`), every problem a `ConfigError` naming the file or file:line:column.
`daemon.config` validates what it returns.

Imports the standard library, `daemon.config_problems` and `daemon.secrets` (`reason`) only.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daemon.config_problems import ConfigError
from daemon.secrets import reason

SYSTEM_CONFIG_PATH = Path("/etc/ozon-sync/config.toml")


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file to use when `--config` is not given (CONTRACT section 2)."""
    env = os.environ if env is None else env
    if env.get("OZON_SYNC_CONFIG"):
        return Path(env["OZON_SYNC_CONFIG"])
    local = Path("config.toml")
    try:
        if local.is_file():
            return local
    except OSError:  # e.g. `sudo -u ozon-sync ozon-sync status` from a folder it cannot read
        pass
    return SYSTEM_CONFIG_PATH


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML data of the file at `path`.

    Raises ConfigError naming the file when it cannot be read, or file:line:column for a TOML
    syntax error.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is no TOML error
    except FileNotFoundError:
        raise ConfigError(path, [f"file {path} does not exist"]) from None
    except IsADirectoryError:
        raise ConfigError(path, [f"{path} is a folder, not a config file"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(path, [f"file {path} cannot be read ({reason(err)})"]) from None
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(
            path, [f"{path}: invalid TOML: arrays or tables nested too deeply"]
        ) from None
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        position = _TOML_POSITION.search(message)
        if position:
            message = message[: position.start()]
            line, column = position.groups()
            where = f"{path}:{line}:{column}"
        else:
            where = str(path)
        raise ConfigError(path, [f"{where}: invalid TOML: {message}"]) from None
    return raw
