"""The secrets of a config, each read from its one source (environment, file, systemd
credential, inline): `resolve_secrets(config)` -> `ResolvedSecrets`. Only commands that talk to
Ozon or to the notification routes call it, so that commands which only read the local database
never touch a secret. Secrets are `Secret` objects whose repr never shows the value.

Imports the standard library, `daemon.config_checks` (what makes a URL unusable),
`daemon.config_problems` (`ConfigError`) and `daemon.secrets`. It reads a `Config` through the
`SecretSources` protocol: `daemon.config` imports this module (and re-exports its names), never
the reverse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from daemon.config_checks import url_problem
from daemon.config_problems import ConfigError
from daemon.secrets import Secret, api_key_problem, read_secret


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Sourced(Protocol):
    def secret_fields(self) -> dict[str, str]: ...


class SecretSources(Protocol):
    """What `resolve_secrets` reads of a `daemon.config.Config`."""

    @property
    def path(self) -> Path | None: ...

    @property
    def accounts(self) -> Sequence[_Named]: ...

    @property
    def notify(self) -> Sequence[object]: ...

    @property
    def health(self) -> _Sourced: ...


@dataclass(frozen=True)
class ResolvedSecrets:
    """Every secret of a config, read from its source: api keys by account name, route URLs by
    route index, the heartbeat URL (None when not configured). Values are `Secret`s."""

    api_keys: Mapping[str, Secret]
    route_urls: tuple[Secret, ...]
    heartbeat_url: Secret | None

    def all_values(self) -> list[str]:
        """Every secret value (for the log redaction filter)."""
        values = [secret.reveal() for secret in self.api_keys.values()]
        values += [secret.reveal() for secret in self.route_urls]
        if self.heartbeat_url is not None:
            values.append(self.heartbeat_url.reveal())
        return [value for value in values if value]


def resolve_secrets(
    config: SecretSources,
    env: Mapping[str, str] | None = None,
    *,
    accounts: bool = True,
    routes: bool = True,
) -> ResolvedSecrets:
    """Read every secret of `config` from its one source.

    Raises ConfigError naming each account or route whose variable, file or credential is
    missing or empty. The values never appear in an error message.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    keys: dict[str, Secret] = {}
    if accounts:
        for index, account in enumerate(config.accounts):
            value = read_secret(
                account,
                "api_key",
                f"accounts[{index}]",
                f'account "{account.name}"',
                env,
                problems,
                api_key_problem,
            )
            if value is not None:
                keys[account.name] = value
    urls: list[Secret] = []
    if routes:
        for index, route in enumerate(config.notify):
            value = read_secret(
                route, "url", f"notify[{index}]", f"notification route {index}", env, problems,
                url_problem,
            )  # fmt: skip
            urls.append(value if value is not None else Secret(""))
    heartbeat = None
    if routes and config.health.secret_fields():
        heartbeat = read_secret(
            config.health, "heartbeat_url", "health", "[health]", env, problems,
            lambda url: url_problem(url, http=True),
        )  # fmt: skip
    if problems:
        raise ConfigError(config.path, problems)
    return ResolvedSecrets(api_keys=keys, route_urls=tuple(urls), heartbeat_url=heartbeat)
