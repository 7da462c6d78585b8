"""Notification routes: which alerts go where, under a stable id that holds no secret.

A route is one `[[notify]]` table with its URL resolved. Its id is a short hash of the URL, so
the outbox can remember deliveries per route across restarts without storing the URL (which
holds tokens). `Router.route_ids(account, event, level)` applies the route's `events` and
`accounts` filters and its escalation `level`: a level-0 route takes the alerts themselves, a
level-1 or level-2 route only their escalations to its level. Wherever a route is shown
(check, logs) it is `shown_as`: `notify[N]` and only the
scheme and host of its URL (`describe_url`), never a path, query or user part, which hold the
tokens.

Imports the standard library and `daemon.redact` only (the URL arrives already resolved).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from daemon.redact import network_host

__all__ = ["QuietSchedule", "Route", "Router", "describe_url", "route_id"]


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}\Z")


def describe_url(url: str) -> str:
    """`url` as it may be shown: its scheme and, when that is a network host (a DNS name with a
    dot, an IP address or localhost, with its port), its host: `json://127.0.0.1:8080`,
    `mailto://gmail.com`. For the many services whose "host" is a token (`tgram://BOT_TOKEN/`,
    `wecombot://KEY`, `discord://ID/TOKEN`) only the scheme: `tgram://`."""
    scheme, found, rest = url.partition("://")
    if not found or not _SCHEME.match(scheme):
        return "(not a URL)"
    try:
        parts = urlsplit(f"x://{rest}")
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{scheme.lower()}://"
    if not network_host(host):
        return f"{scheme.lower()}://"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme.lower()}://{shown}" + (f":{port}" if port else "")


class QuietSchedule(Protocol):
    """Quiet hours given by a schedule rather than a daily window (a working calendar's
    closed hours: `quiet_hours = "calendar:NAME"`)."""

    def is_quiet(self, now: datetime) -> bool:
        """True when the route is quiet at the aware instant `now`."""

    def quiet_until(self, now: datetime) -> datetime:
        """When the quiet time around `now` ends (given it is quiet then)."""


def route_id(url: str) -> str:
    """A stable id for the route with this URL: 12 hex digits of its SHA-256, never the URL."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Route:
    """One notification route. `url` is the resolved Apprise URL (a secret: never log it);
    `events` and `accounts` are its filters (empty accounts = all); `quiet_hours` a local
    (start, end) window, a schedule, or None."""

    index: int
    url: str = field(repr=False)
    events: frozenset[str]
    accounts: frozenset[str] = frozenset()
    quiet_hours: tuple[time, time] | QuietSchedule | None = None
    label: str = ""  # how logs name the route's URL; "" = `describe_url(url)`
    level: int = 0  # 0: alerts; 1, 2: only escalations of that level

    @property
    def shown_as(self) -> str:
        """How checks and logs show the route's URL: `label`, else scheme and host only."""
        return self.label or describe_url(self.url)

    @property
    def id(self) -> str:
        """The route's stable id (see `route_id`); an escalation level is part of it, so the
        same URL at level 0 and at level 1 are two routes (their deliveries never merge)."""
        return route_id(self.url if not self.level else f"{self.url}\nlevel {self.level}")

    def takes(self, account: str, event: str) -> bool:
        """True when this route wants `event` alerts of `account`."""
        return event in self.events and (not self.accounts or account in self.accounts)

    def is_quiet(self, local: datetime) -> bool:
        """True when the local wall-clock time `local` is inside the route's quiet hours."""
        if self.quiet_hours is None:
            return False
        if not isinstance(self.quiet_hours, tuple):
            return self.quiet_hours.is_quiet(local)
        start, end = self.quiet_hours
        moment = local.time().replace(tzinfo=None)
        if start < end:
            return start <= moment < end
        return moment >= start or moment < end

    def quiet_until(self, local: datetime) -> datetime:
        """The local moment the current quiet window ends (given `local` is inside it)."""
        assert self.quiet_hours is not None  # noqa: S101 - callers check is_quiet first
        if not isinstance(self.quiet_hours, tuple):
            return self.quiet_hours.quiet_until(local)
        end = self.quiet_hours[1]
        candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate


class Router:
    """All routes of a config; answers which route ids take an account's event."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._by_id = {route.id: route for route in self.routes}

    def route_ids(self, account: str, event: str, level: int = 0) -> list[str]:
        """Ids of the routes that take `event` alerts of `account` (`level` > 0: their
        escalation to that level), in config order."""
        return [
            route.id
            for route in self.routes
            if route.level == level and route.takes(account, event)
        ]

    def get(self, route_id: str) -> Route | None:
        """The route with this id, or None when the config no longer has it."""
        return self._by_id.get(route_id)
