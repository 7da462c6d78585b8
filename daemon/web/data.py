"""What the board's endpoints read and write, over the state store (or every shard's).

`BoardData` answers in the shapes of the contract: the postings as `status --json` elements
(daemon.views.status_json: one serializer for the CLI and the board), each account's last
successful sync, and the acknowledge / hold / release verbs through daemon.hold, the same code
the `ack`, `hold` and `release` commands run. Given several stores (the `board` command with
shards: every shard's database), it shows them merged as `status` does: each account from the
database that synced it last (daemon.merged.merge), the emergency stop of any; a verb acts in
every database that caches the posting. Every method is synchronous and may wait on
SQLite: the app calls them through `asyncio.to_thread`, so a slow read or a write waiting
behind a cycle's bulk write never stalls the daemon's event loop.

Imports the store, daemon.hold, daemon.merged, daemon.views, daemon.worktime (calendar type),
msgspec and the standard library.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from daemon import hold as holding
from daemon.merged import merge, owners
from daemon.models import AccountRatings
from daemon.store import CachedPosting, DecodedPostings, Store, SyncState, json_timestamp
from daemon.views import STALE_AFTER_INTERVALS, ElementMemo, status_json
from daemon.worktime import WarehouseCalendars

__all__ = ["BoardData", "UnknownPosting"]

GZIP_LEVEL = 1  # the fastest level already sends a twentieth of the bytes
FORGET_AFTER = 120.0  # seconds without a read: the decoded postings are let go (~2 KB each)


class UnknownPosting(LookupError):
    """No cached posting has this number (404)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BoardData:
    """The board's view of one state store, or of several merged (every shard's database).

    `accounts` are the configured account names (an account that never synced is reported as
    such), `poll_interval` decides when data is stale (older than STALE_AFTER_INTERVALS of
    it), `calendars` give `working_seconds_left` as `status --json` has it; `now` is the clock,
    `monotonic` the one that decides when unread decoded postings are let go.
    """

    def __init__(
        self,
        stores: Store | Sequence[Store],
        *,
        accounts: Sequence[str] = (),
        poll_interval: timedelta = timedelta(minutes=5),
        calendars: WarehouseCalendars | None = None,
        now: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stores = (stores,) if isinstance(stores, Store) else tuple(stores)
        if not self.stores:
            raise ValueError("the board needs a store")
        self.accounts = tuple(accounts)
        self.poll_interval = poll_interval
        self.calendars = calendars
        self.now = now
        self._monotonic = monotonic
        # only changed postings are decoded again, per store
        self._decoded = [DecodedPostings() for _ in self.stores]
        self._elements = ElementMemo()  # each element's fixed part is built once
        self._last_read = monotonic()

    # -- reads -------------------------------------------------------------------------------

    def postings_json(self, *, compress: bool = False) -> bytes:
        """Every watched posting as a JSON array of `status --json` elements, most urgent
        first (overdue ones, then by time left), encoded; gzip-compressed with `compress`."""
        now = self.now()
        self._last_read = self._monotonic()
        postings, owner = self._postings(now)
        data = msgspec.json.encode(
            status_json(
                postings, now, self.calendars, self._ratings(postings, owner), self._elements
            )
        )
        return gzip.compress(data, GZIP_LEVEL, mtime=0) if compress else data

    def _postings(self, now: datetime) -> tuple[list[CachedPosting], dict[str, int]]:
        """The watched postings at `now`, soonest deadline first, and which store speaks for
        each account: with several stores, the one that synced it last (its postings alone
        are shown)."""
        if len(self.stores) == 1:
            return self.stores[0].postings(now, decoded=self._decoded[0]), {}
        per_store = [
            (store.postings(now, decoded=decoded), store.sync_states())
            for store, decoded in zip(self.stores, self._decoded, strict=True)
        ]
        postings, owner, _ = merge(per_store)
        return postings, owner

    def forget_if_idle(self) -> None:
        """Let the decoded postings go when no screen read them for FORGET_AFTER seconds:
        a board nobody looks at holds no memory for them (the next read decodes again)."""
        idle = self._monotonic() - self._last_read > FORGET_AFTER
        if idle and any(decoded.entries for decoded in self._decoded):
            self._decoded = [DecodedPostings() for _ in self.stores]
            self._elements = ElementMemo()

    def _accounts(self) -> tuple[dict[str, int], list[SyncState]]:
        """Which store speaks for each account (the one that synced it last), and the sync
        state it keeps of each, by account name."""
        return owners([((), store.sync_states()) for store in self.stores])

    def element(self, posting_number: str) -> dict[str, Any]:
        """The cached posting `posting_number` as a `status --json` element; raises
        UnknownPosting when no cached posting has that number."""
        now = self.now()
        found = [c for store in self.stores if (c := store.posting(posting_number, now))]
        if not found:
            raise UnknownPosting(f"no cached posting is numbered {posting_number}")
        cached = found[0]
        owner, _ = self._accounts()
        if len(found) > 1:  # in two shards' databases: the account's current one speaks
            current = self.stores[owner.get(cached.account, 0)].posting(posting_number, now)
            cached = current or cached
        return status_json([cached], now, self.calendars, self._ratings([cached], owner))[0]

    def _ratings(
        self, postings: Sequence[CachedPosting], owner: dict[str, int]
    ) -> dict[str, AccountRatings]:
        """The kept ratings of the postings' accounts (each from the store that speaks for
        it, see `_accounts`), for the elements' `advice`."""
        return {
            name: self.stores[owner.get(name, 0)].account_ratings(name)
            for name in {p.account for p in postings}
        }

    def sync(self) -> dict[str, Any]:
        """Each account's last successful sync and whether its data is stale, the poll
        interval, and the emergency stop (`hold --all`) when it is in force (in any store)."""
        now = self.now()
        states = {state.account: state for state in self._accounts()[1]}
        stale_after = STALE_AFTER_INTERVALS * self.poll_interval
        accounts = []
        for name in dict.fromkeys([*self.accounts, *states]):
            state = states.get(name)
            last = state.last_success_at if state is not None else None
            accounts.append(
                {
                    "account": name,
                    "last_success_at": json_timestamp(last) if last else None,
                    "seconds_since": int((now - last).total_seconds()) if last else None,
                    "stale": last is None or now - last > stale_after,
                    "consecutive_failures": state.consecutive_failures if state else 0,
                }
            )
        stop = next((h for s in self.stores if (h := s.global_hold(now)) is not None), None)
        return {
            "now": json_timestamp(now),
            "poll_interval": int(self.poll_interval.total_seconds()),
            "stale_after": int(stale_after.total_seconds()),
            "accounts": accounts,
            "hold_all": None
            if stop is None
            else {
                "since": json_timestamp(stop.held_at),
                "until": json_timestamp(stop.until) if stop.until else None,
            },
        }

    # -- writes: the same code as `ack`, `hold` and `release` ----------------------------------

    def _caching(self, posting_number: str) -> list[Store]:
        """The stores that cache `posting_number`; raises UnknownPosting when none does."""
        now = self.now()
        stores = [store for store in self.stores if store.posting(posting_number, now)]
        if not stores:
            raise UnknownPosting(f"no cached posting is numbered {posting_number}")
        return stores

    def acknowledge(self, posting_number: str, by: str) -> dict[str, Any]:
        """`ack POSTING --by BY` for one cached posting; returns its updated element. Raises
        UnknownPosting, or ValueError for a bad name (see daemon.hold.ack_name)."""
        name = holding.ack_name(by)
        for store in self._caching(posting_number):
            try:
                holding.acknowledge(store, posting_number, name, self.now())
            except holding.HoldRefused as err:  # pruned in between
                raise UnknownPosting(str(err)) from err
        return self.element(posting_number)

    def hold(self, posting_number: str, duration: timedelta | None) -> dict[str, Any]:
        """`hold POSTING [--for DURATION]` for one cached posting; returns its updated
        element. Raises UnknownPosting."""
        stores = self._caching(posting_number)
        now = self.now()
        until = None if duration is None else now + duration
        for store in stores:
            try:
                holding.hold(store, posting_number, until, now)
            except holding.HoldRefused as err:  # pruned in between
                raise UnknownPosting(str(err)) from err
        return self.element(posting_number)

    def release(self, posting_number: str) -> dict[str, Any]:
        """`release POSTING` for one cached posting; returns its updated element. Raises
        UnknownPosting."""
        for store in self._caching(posting_number):
            holding.release(store, posting_number)
        return self.element(posting_number)
