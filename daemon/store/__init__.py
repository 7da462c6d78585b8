"""The SQLite state cache: domain verbs only; no SQL anywhere else in the daemon.

Open it once per process and keep it open::

    with Store.open(path, mode="writer") as store:      # run/once; "reader": status/history;
        ...                                              # "annotate": hold/release

Every text a verb writes that may come from outside (an error, a reason, an alert payload) is
masked against every registered secret first (`daemon.redact`): nothing the database keeps,
and so nothing `status` or `history` shows, can hold one.

Every verb is synchronous and takes `now` (aware datetime) when it needs a time: the store
never reads the clock. Small verbs are short transactions fine to call on the event loop; the
bulk ones (`upsert_postings`, `mark_departed`, `postings`, `prune`) should run through
`asyncio.to_thread`: every thread gets its own connection.

Verbs (see each docstring):

- Postings: `upsert_postings(account, postings, now) -> UpsertResult` (new / changed with
  previous status and deadline / unchanged count; unchanged rows are not written),
  `mark_departed(account, postings, now) -> int`, `postings(now, *, account, include_departed)
  -> list[CachedPosting]` (pass a `DecodedPostings` as `decoded` to re-read only what
  changed), `posting(number, now, *, account)`, `watched_numbers(account)`.
- Reports on them (read-only, `reports`): `posting_history(number, *, account)`,
  `deadline_moves(account, after, before)`, `digest_counts(account, now) -> DigestCounts`,
  `watched_due_between(account, start, end) -> list[Posting]`.
- Postings by number: `posting_numbers(prefix="") -> list[str]` (any account, departed too).
- Holds (by posting number, any account, cached or not): `hold(number, until, now)`,
  `release(number) -> bool`, `holds(now) -> Holds` (a mapping number -> until that counts
  every posting as held during the emergency stop), `is_held(number, now) -> bool` (its own
  hold or the emergency stop: ask it before every cancel request). The emergency stop
  (`hold --all`): `hold_all(until, now)`, `release_all(now) -> bool`,
  `global_hold(now) -> HoldAll | None`; while it lasts `postings`/`posting` show every posting
  held.
- Acknowledgements (who took a posting in hand, for its current deadline):
  `acknowledge(account, number, shipment_date, by, now)`, `acknowledged_numbers(account)`;
  `postings`/`posting` show the one in force as `acknowledged_by`/`acknowledged_at`, and
  `history` each one as `acknowledged`. Escalations (nobody acknowledged; the next level
  was told): `record_escalations(account, [(number, deadline, level, reason)], now)`,
  written by the alerts path with the alert; `history` shows each as `escalated`.
- Alert ledger: `record_alert_keys(account, keys, now) -> list[tuple]` (only the new ones
  may alert), `fired_keys(account, posting_numbers=None) -> set[tuple]` (equal to the
  LedgerKeys of daemon.models), `fired_times(account, keys) -> {key: datetime}` (when each
  recorded key was recorded).
- Actions: `claim_action(account, number, kind, now, *, dry_run, reason, client_id="") ->
  int | None` (a claim is the shop's: one per Client-Id and posting; none after a claim
  whose outcome was ever unknown),
  `finish_action(id, "done" | "failed" | "unknown" | "skipped", now, *, reason)`,
  `record_skipped(account, number, kind, now, *, reason, dry_run=False) -> int` (a planned
  action decided against without a claim; history: `cancel_skipped`),
  `record_planned(account, kind, [(number, reason)], now) -> list[str]` (dry-run plans, done
  at once, each posting once), `open_actions(account=None, *, client_id="")`,
  `latest_action(account, number, kind)`, `may_have_acted(account, number, kind, *,
  client_id="")` (a request may have reached Ozon: its cancellation is ours, and no other
  request may follow), `acted_among(account, numbers, kind, *, client_id="") -> set[str]`
  (the same for many postings in one query).
- Sync state: `record_sync_success(account, now) -> bool` (True: recovered),
  `record_sync_failure(account, error, now) -> bool` (True: streak started),
  `mark_api_error_alerted(account) -> bool`, `get_sync_state(account)`, `sync_states()`.
- Outbox: `enqueue_alert(account, event, numbers, now, *, urgent, payload, routes, reason,
  dry_run, not_before, staged) -> int`, `staged_alerts(account)`, `discard_staged(ids)`,
  `deliveries_due(now, *, route_id, limit)`, `routes_due(now)`,
  `mark_delivered(id, route, now)`, `mark_parts_sent(ids, route, numbers)`,
  `mark_failed(id, route, error, next_try_at)`,
  `postpone(id, route, until)`, `drop(id, route, reason, now)`,
  `drop_routes_except(routes, reason, now)`, `record_sent(id, now)`, `pending_deliveries()`,
  `alert(id)`.
- Journal and upkeep: `history(limit=50) -> list[HistoryEntry]`, `prune(older_than)`.
- Ozon's numbers (`daemon.store.ratings`): `record_ratings(account, summary, index, now)`,
  `account_ratings(account) -> AccountRatings`, `unnoted_denials(account)`,
  `mark_denials_noted(account)`, `warehouse_figures(account, since, now)`.

Errors: the StoreError tree in `daemon.store.errors` (the CLI maps StoreLockedError to exit 73,
every other StoreError to 74). A database damaged where SQLite's integrity check does not look
(a table, column or index dropped; a value that cannot be decoded) raises StoreCorruptError,
except a cached posting's JSON copy: that posting is shown from its status and deadline columns
with a warning, and a store that may write marks it to be rewritten by the next sync.
Misuse (a naive datetime, an unknown action id, a write on a
reader) raises ValueError or RuntimeError: bugs, not operating conditions.

Layout: base (open, checks, connections), schema (migrations), lock (writer lock), errors,
records (returned values), cached (rows read back as cached postings), postings / reports /
holds / acks / journal / outbox / ratings (the verbs).
Imports only the standard library, sqlite-utils, msgspec (the codec of daemon.models' Structs)
and daemon.models; never config, policy, ozon, notify or anything above them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import msgspec

from daemon.store.acks import AckVerbs
from daemon.store.base import DEFAULT_BUSY_TIMEOUT, FULL_CHECK_MAX_BYTES, Mode
from daemon.store.errors import (
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreSchemaError,
    StoreUnavailableError,
    StoreUnwritableError,
)
from daemon.store.history import HistoryVerbs
from daemon.store.holds import HoldVerbs
from daemon.store.journal import JournalVerbs
from daemon.store.outbox import OutboxVerbs
from daemon.store.postings import DecodedPostings, PostingVerbs
from daemon.store.ratings import RatingVerbs, WarehouseFigures
from daemon.store.records import (
    Action,
    ActionOutcome,
    Alert,
    CachedPosting,
    DamagedValue,
    Delivery,
    DigestCounts,
    HistoryEntry,
    HoldAll,
    Holds,
    PostingChange,
    PruneResult,
    SyncState,
    UpsertResult,
    json_timestamp,
)
from daemon.store.reports import ReportVerbs
from daemon.store.syncstate import SyncStateVerbs

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "FULL_CHECK_MAX_BYTES",
    "Action",
    "ActionOutcome",
    "Alert",
    "CachedPosting",
    "DecodedPostings",
    "Delivery",
    "DigestCounts",
    "HistoryEntry",
    "HoldAll",
    "Holds",
    "Mode",
    "PostingChange",
    "PruneResult",
    "Store",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreSchemaError",
    "StoreUnavailableError",
    "StoreUnwritableError",
    "SyncState",
    "UpsertResult",
    "WarehouseFigures",
    "json_timestamp",
]


class Store(
    PostingVerbs,
    ReportVerbs,
    HoldVerbs,
    AckVerbs,
    JournalVerbs,
    OutboxVerbs,
    RatingVerbs,
    SyncStateVerbs,
    HistoryVerbs,
):
    """The state cache of one database file; open it with `Store.open(path, mode=...)`.

    Every public verb turns a value it cannot decode (a row damaged outside ozon-sync, which
    SQLite's integrity check does not see) into StoreCorruptError naming the file; a cached
    posting that cannot be decoded is the exception: see `postings`."""


def _naming_the_file(verb: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(verb)
    def guarded(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return verb(self, *args, **kwargs)
        except (DamagedValue, msgspec.DecodeError) as err:  # stored by us: damaged since
            raise StoreCorruptError(
                f'the state database "{self.path}" holds a value that cannot be read ({err}); '
                "ozon-sync left it untouched: restore a backup, or move it aside to start an "
                "empty one",
                path=self.path,
            ) from err

    return guarded


for _name, _verb in inspect.getmembers(Store, inspect.isfunction):
    if not _name.startswith("_") and _name not in {"close", "transaction"}:
        setattr(Store, _name, _naming_the_file(_verb))
