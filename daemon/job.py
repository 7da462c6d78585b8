"""What one account's work needs, handed to the cycle, the cancel executor, the digest and the
key check: `AccountJob`.

Imports the Ozon client (its type), the policy's rules, `daemon.alerts.batch` (the route
resolver) and `daemon.logs` (findings); never config, the store or the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from daemon.alerts.batch import RouteResolver, no_routes
from daemon.logs import Findings
from daemon.ozon.client import OzonClient
from daemon.policy_rules import Rules

__all__ = ["AccountJob"]


@dataclass(frozen=True)
class AccountJob:
    """One account, wired up: its Ozon client, its rules, the warehouses it watches, and
    `routes(account, event)` naming the route ids an alert goes to. `dry_run` forces a dry run
    whatever the rules say; only the cancel executor reads it (and `rules.cancel.enabled`),
    where the cancel request would be sent. `wake_horizon`: the cycle lists the events due this
    soon, for precise wake-ups. `live_rules`: see `current_rules`. `findings`: what was already
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
    findings: Findings = field(default_factory=Findings, compare=False, repr=False)

    def current_rules(self) -> Rules:
        """The account's rules as configured right now: a SIGHUP reload publishes its rules
        through `live_rules` before the cycle in flight ends, so the cancel executor, which asks
        before every request, obeys e.g. `enabled = false` at once. `rules` without it."""
        return self.rules if self.live_rules is None else self.live_rules()
