"""What one account's work needs, handed to the cycle, the cancel executor, the digest and the
key check: `AccountJob`.

Imports the Ozon client (its type), the policy's rules, `daemon.alerts.batch` (the route
resolver), the working calendars' type (`daemon.worktime`) and `daemon.logs` (findings);
never config, the store or the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from daemon.alerts.batch import RouteResolver, no_routes
from daemon.logs import Findings
from daemon.ozon.client import OzonClient
from daemon.policy_rules import Rules
from daemon.worktime import WarehouseCalendars

__all__ = ["AccountJob"]


@dataclass(frozen=True)
class AccountJob:
    """One account, wired up: its Ozon client, its rules, the warehouses it watches, and
    `routes(account, event)` naming the route ids an alert goes to. `dry_run` forces a dry run
    whatever the rules say; only the cancel executor reads it (and `rules.cancel.enabled`),
    where the cancel request would be sent. `wake_horizon`: the cycle lists the events due this
    soon, for precise wake-ups. `live_rules`: see `current_rules`. `shop`: the names of the
    config's entries with this account's Client-Id (itself included; empty when not known),
    for the cancel claims they share. `calendars`: the working calendar of each warehouse
    (`[[calendars]]`; empty: clock time everywhere). `findings`: what was already
    logged as a warning about this account (a posting not found, its key's expiry unreadable),
    so it is logged once, not every cycle (kept for the life of the job: a reload forgets)."""

    name: str
    client: OzonClient
    rules: Rules
    warehouse_ids: tuple[int, ...] = ()
    routes: RouteResolver = no_routes
    dry_run: bool = False
    wake_horizon: timedelta = timedelta(0)
    live_rules: Callable[[], Rules] | None = None
    shop: tuple[str, ...] = ()
    calendars: WarehouseCalendars = field(default_factory=WarehouseCalendars)
    findings: Findings = field(default_factory=Findings, compare=False, repr=False)

    def current_rules(self) -> Rules:
        """The account's rules as configured right now: a SIGHUP reload publishes its rules
        through `live_rules` before the cycle in flight ends, so the cancel executor, which asks
        before every request, obeys e.g. `enabled = false` at once. `rules` without it."""
        return self.rules if self.live_rules is None else self.live_rules()
