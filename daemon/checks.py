"""`ozon-sync check`: prove that a config can work, locally and against Ozon.

The offline part validates notification URLs with Apprise, checks that the database folder is
writable and prints the effective config with every secret masked. It raises ConfigError (bad
route URL) or DatabaseFolderError; the CLI maps them to exit codes.

The online part makes one cheap read per account (exit 77 / 75 decided by the CLI).
Imports config, the Ozon client, health (for the loopback warning) and apprise; never the store
or the CLI.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
import structlog

from daemon.config import Config, ConfigError, ResolvedSecrets
from daemon.engine import make_client
from daemon.health import NOT_LOOPBACK, is_loopback, split_listen
from daemon.notify.outbox import Sender, apprise_send
from daemon.notify.render import render_test_message
from daemon.notify.routes import describe_url
from daemon.ozon.client import OzonClient, key_expires_soon
from daemon.ozon.errors import OzonAuthError, OzonError

__all__ = [
    "AccountCheck",
    "DatabaseFolderError",
    "RouteCheck",
    "check_accounts",
    "check_offline",
    "check_routes",
    "to_toml",
]

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
    listen = config.health.listen
    if listen and not is_loopback(split_listen(listen)[0]):
        log.warning("health_listen_not_loopback", listen=listen, reason=NOT_LOOPBACK)
    for reason in escalation_warnings(config):
        log.warning("escalation_goes_nowhere", reason=reason)
    database = config.database_path()
    check_database_folder(database)
    out.write(to_toml(config.masked()))
    out.write(f"\n# database: {database}\n# config is valid\n")


def escalation_warnings(config: Config) -> list[str]:
    """What makes a valid escalation setting do nothing: a level that `escalate_after` reaches
    but no route has, or a route whose level no account's `escalate_after` reaches."""
    reached = max((len(config.rules_for(a).escalate_after) for a in config.accounts), default=0)
    levels = {route.level for route in config.notify}
    warnings = [
        f"policy.escalate_after reaches level {level}, but no [[notify]] route has "
        f"level = {level}: those escalations only go to the log"
        for level in range(1, reached + 1)
        if level not in levels
    ]
    warnings += [
        f"notify[{index}].level = {route.level}, but no account's escalate_after reaches that "
        "level: this route gets nothing"
        for index, route in enumerate(config.notify)
        if route.level > reached
    ]
    return warnings


def _url_field(config: Config, index: int) -> str:
    fields = config.notify[index].secret_fields()
    return next(iter(fields.values()))


def apprise_accepts(url: str) -> bool:
    """True when Apprise recognises `url` as a notification service URL."""
    import apprise

    try:
        return apprise.Apprise().add(url) is True
    except Exception:  # noqa: BLE001 - whatever Apprise chokes on, it does not know the URL
        return False


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


# ---------------------------------------------------------------- online: one read per account


@dataclass(frozen=True)
class AccountCheck:
    """The online check of one account: exit code 0 (fine), 77 (key rejected) or 75
    (Ozon unreachable or unreadable), with a one-line description."""

    account: str
    exit_code: int
    message: str

    def line(self) -> str:
        """`account: message`, for stdout and the last stderr line."""
        return f'account "{self.account}": {self.message}'


EXIT_PRIORITY = (74, 77, 75)  # with several failures, `check` exits with the first that applies


def first_failure(results: Sequence[AccountCheck]) -> AccountCheck | None:
    """The failed check that decides `check`'s exit code (CONTRACT section 2), or None."""
    failed = [result for result in results if result.exit_code]
    return min(failed, key=lambda r: EXIT_PRIORITY.index(r.exit_code), default=None)


async def check_accounts(
    config: Config,
    secrets: ResolvedSecrets,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[AccountCheck]:
    """One cheap authenticated read per account (a one-posting page of the unfulfilled list),
    then the key's expiry from /v1/roles (only a warning when that is refused). Accounts are
    checked concurrently; never raises for Ozon errors."""
    return list(
        await asyncio.gather(
            *(
                _check_account(config, secrets, index, now, transport)
                for index in range(len(config.accounts))
            )
        )
    )


async def _check_account(
    config: Config,
    secrets: ResolvedSecrets,
    index: int,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None,
) -> AccountCheck:
    account = config.accounts[index]
    client = make_client(config, account, secrets, transport=transport)
    async with client:
        try:
            listing = client.list_unfulfilled(
                cutoff_from=now - timedelta(days=1), cutoff_to=now + timedelta(days=1), page_size=1
            )
            async for _page in listing:
                break
        except OzonAuthError as err:
            return AccountCheck(
                account.name,
                77,
                f"{err}; see accounts[{index}].{next(iter(account.secret_fields().values()))}",
            )
        except OzonError as err:
            return AccountCheck(account.name, 75, f"Ozon could not be used: {err}")
        expiry = await _key_expiry(client, account.name, now)
    return AccountCheck(account.name, 0, f"API key works{expiry}")


async def _key_expiry(client: OzonClient, account: str, now: datetime) -> str:
    try:
        info = await client.key_info()
    except OzonError as err:
        log.warning("key_info_unavailable", account=account, reason=str(err))
        return " (its expiry could not be read)"
    if info.expires_at is None:
        return ""
    if key_expires_soon(info, now):
        log.warning(
            "key_expiring",
            account=account,
            expires_at=info.expires_at.isoformat(),
            reason="the API key expires within 7 days; create a new one in the seller account",
        )
        return f"; WARNING: it expires {info.expires_at:%Y-%m-%d %H:%M} UTC, within 7 days"
    return f"; it expires {info.expires_at:%Y-%m-%d} UTC"


# ---------------------------------------------------------------- --notify: test each route


@dataclass(frozen=True)
class RouteCheck:
    """The test message to one route: whether Apprise reported success."""

    index: int
    shown_as: str
    ok: bool

    def line(self) -> str:
        """`notify[0] (json://127.0.0.1:8080): OK`: only the scheme and host of the URL."""
        return f"notify[{self.index}] ({self.shown_as}): {'OK' if self.ok else 'FAILED'}"


async def check_routes(
    config: Config, secrets: ResolvedSecrets, sender: Sender = apprise_send
) -> list[RouteCheck]:
    """Send the test message to every route concurrently and report each route's result."""

    async def one(index: int) -> RouteCheck:
        route = config.notify[index]
        url = secrets.route_urls[index].reveal()
        accounts = route.accounts or [account.name for account in config.accounts]
        message = render_test_message(accounts, config.daemon.language)
        try:
            ok = await sender(url, message)
        except Exception as err:  # noqa: BLE001 - one broken route must not hide the others
            log.warning(
                "route_test_failed",
                route=f"notify[{index}]",
                route_url=describe_url(url),
                reason=type(err).__name__,
            )
            ok = False
        return RouteCheck(index, describe_url(url), ok)

    return list(await asyncio.gather(*(one(index) for index in range(len(config.notify)))))
