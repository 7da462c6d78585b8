"""`ozon-sync check`: prove that a config can work, locally and against Ozon.

The offline part validates notification URLs with Apprise, checks that the database folder is
writable and prints the effective config with every secret masked. It raises ConfigError (bad
route URL) or DatabaseFolderError; the CLI maps them to exit codes.

Imports config, logs and apprise; never the store or the CLI.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from daemon.config import Config, ConfigError, ResolvedSecrets

__all__ = ["DatabaseFolderError", "check_offline", "to_toml"]

log = structlog.get_logger(__name__)


class DatabaseFolderError(Exception):
    """The folder of the state database does not exist or is not writable."""


def check_offline(config: Config, secrets: ResolvedSecrets, out: TextIO) -> None:
    """Validate what can be validated without the network and print the masked config.

    Raises ConfigError when a notification URL is not one Apprise understands, and
    DatabaseFolderError when the database cannot be created or written where configured.
    """
    problems = [
        f"notify[{index}].{_url_field(config, index)}: not a notification URL Apprise knows "
        "(see https://github.com/caronc/apprise/wiki)"
        for index, url in enumerate(secrets.route_urls)
        if not apprise_accepts(url.reveal())
    ]
    if problems:
        raise ConfigError(config.path, problems)
    for index, account in enumerate(config.accounts):
        if account.api_key is not None:
            log.warning(
                "inline_api_key",
                account=account.name,
                reason=f"accounts[{index}].api_key holds the key in the config file; prefer "
                "api_key_credential (systemd) or api_key_file",
            )
    database = config.database_path()
    check_database_folder(database)
    out.write(to_toml(config.masked()))
    out.write(f"\n# database: {database}\n# config is valid\n")


def _url_field(config: Config, index: int) -> str:
    fields = config.notify[index].secret_fields()
    return next(iter(fields.values()))


def apprise_accepts(url: str) -> bool:
    """True when Apprise recognises `url` as a notification service URL."""
    import apprise

    return apprise.Apprise().add(url) is True


def check_database_folder(database: Path) -> None:
    """Raise DatabaseFolderError unless `database` exists and is writable, or can be created."""
    if database.exists():
        if not os.access(database, os.R_OK | os.W_OK):
            raise DatabaseFolderError(f"state database {database} is not writable by this user")
        return
    folder = database.parent
    if not folder.is_dir():
        raise DatabaseFolderError(
            f"folder {folder} of the state database does not exist; create it or set "
            "daemon.database"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ozon-sync-check-"):
            pass
    except OSError as err:
        raise DatabaseFolderError(
            f"folder {folder} of the state database is not writable ({err.strerror})"
        ) from None


# ---------------------------------------------------------------- a small TOML writer


def to_toml(data: Mapping[str, Any]) -> str:
    """Render plain config data (tables, arrays of tables, scalars, lists) as TOML text."""
    lines: list[str] = []
    _table(lines, (), data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(lines: list[str], path: tuple[str, ...], data: Mapping[str, Any]) -> None:
    nested: list[tuple[str, Any]] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping) or (
            isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value)
        ):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    for key, value in nested:
        sub = (*path, key)
        if isinstance(value, Mapping):
            lines.append(f"\n[{'.'.join(sub)}]")
            _table(lines, sub, value)
        else:
            for item in value:
                lines.append(f"\n[[{'.'.join(sub)}]]")
                _table(lines, sub, item)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
