"""Every shard's database seen as one, for the commands that only read or annotate them.

`run` and `once` with `[daemon] shard = "N/M"` (or `--shard`) each write their own database
(`ozon-sync-N.db` beside the configured path, see daemon.shards). `status`, `history`, `hold`,
`release`, `ack` and `check` read or annotate all of them, so a person never has to know which
shard owns an account:

- `status`: for each account, the database that synced it last (after M changed, an account
  moved to another shard is still in its old shard's database, with older data);
- `history`: every database's journal, merged newest first;
- `hold` / `ack`: the databases where the number names cached postings (`hold --force` of a
  number cached nowhere: every database, since any shard may sync it next); `release` and
  `hold --all` / `release --all`: every database;
- `run` / `once` of a shard whose database does not exist yet (M grew): the holds of the
  others are copied into it first (`carry_holds`), so no held posting is cancelled by its new
  shard.

`Databases.of(paths, fallback)` takes the files found (`shards.database_files`) and the path to
use when there is none yet. Imports the store, `hold` and the standard library.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from daemon import hold as holding
from daemon.models import AccountRatings
from daemon.store import CachedPosting, HistoryEntry, HoldAll, Mode, Store, SyncState

__all__ = ["Databases", "StatusView", "merge", "owners"]


@dataclass(frozen=True)
class StatusView:
    """What `status` shows, merged: postings soonest deadline first, each account's sync state,
    and the emergency stop in force (in any database), if any."""

    postings: list[CachedPosting]
    states: list[SyncState]
    hold_all: HoldAll | None
    ratings: dict[str, AccountRatings]  # each account's last rating answers, for the advice


def _synced(state: SyncState | None) -> datetime | None:
    return None if state is None else state.last_success_at


@dataclass(frozen=True)
class Databases:
    """The state databases a local command works on (one, or every shard's)."""

    paths: tuple[Path, ...]

    @classmethod
    def of(cls, found: Sequence[Path], fallback: Path) -> Databases:
        """`found` databases, or `fallback` alone when none exists yet."""
        return cls(tuple(found) or (fallback,))

    @contextmanager
    def open_all(self, mode: Mode) -> Iterator[list[Store]]:
        """Every database open in `mode` (the `board` command serves them all at once)."""
        with ExitStack() as stack:
            yield [stack.enter_context(Store.open(path, mode=mode)) for path in self.paths]

    # ------------------------------------------------------------------ reading

    def status(self, now: datetime, *, include_departed: bool) -> StatusView:
        """The merged status at `now` (see the module docstring)."""
        per_db: list[tuple[list[CachedPosting], list[SyncState]]] = []
        hold_all: HoldAll | None = None
        ratings: dict[tuple[int, str], AccountRatings] = {}
        with self.open_all("reader") as stores:
            for index, store in enumerate(stores):
                postings = store.postings(now, include_departed=include_departed)
                states = store.sync_states()
                per_db.append((postings, states))
                hold_all = hold_all or store.global_hold(now)
                for account in {p.account for p in postings} | {s.account for s in states}:
                    ratings[index, account] = store.account_ratings(account)
        postings, owner, states = merge(per_db)
        owned = {account: ratings[index, account] for account, index in owner.items()}
        return StatusView(postings, states, hold_all, owned)

    def history(self, limit: int) -> list[HistoryEntry]:
        """The newest `limit` journal entries of every database, newest first."""
        entries: list[HistoryEntry] = []
        with self.open_all("reader") as stores:
            for store in stores:
                entries += store.history(limit)
        if len(self.paths) > 1:
            entries.sort(key=lambda entry: entry.at, reverse=True)
        return entries[:limit]

    def global_hold(self, now: datetime) -> HoldAll | None:
        """The emergency stop in force at `now` in any database, or None."""
        with self.open_all("reader") as stores:
            return next((h for s in stores if (h := s.global_hold(now)) is not None), None)

    # ------------------------------------------------------------------ annotating

    def hold(
        self, text: str, until: datetime | None, now: datetime, *, force: bool
    ) -> holding.HoldTarget:
        """`hold POSTING` in the databases that cache what `text` names; with `force`, a number
        cached nowhere is held in every one. Raises HoldRefused like `hold.hold`."""
        with self.open_all("annotate") as stores:
            found = _targets(stores, text, now, "hold")
            if not found:
                # cached nowhere: the refusal (or, with force, the plain number) of the first
                target = holding.find_target(stores[0], text, now, force=force)
                found = [(store, target) for store in stores]
            for store, target in found:
                for number in target.numbers:
                    store.hold(number, until, now)
        return _merge([target for _, target in found])

    def acknowledge(self, text: str, by: str, now: datetime) -> holding.HoldTarget:
        """`ack POSTING` in the databases that cache what `text` names; raises HoldRefused."""
        with self.open_all("annotate") as stores:
            found = _targets(stores, text, now, "ack")
            if not found:
                holding.find_target(stores[0], text, now, verb="ack")  # raises the refusal
            for store, _ in found:
                holding.acknowledge(store, text, by, now)
        return _merge([target for _, target in found])

    def release(self, text: str) -> list[str]:
        """`release POSTING` in every database; the posting numbers released."""
        with self.open_all("annotate") as stores:
            released = [number for store in stores for number in holding.release(store, text)]
        return list(dict.fromkeys(released))

    def hold_all(self, until: datetime | None, now: datetime) -> None:
        """`hold --all` in every database."""
        with self.open_all("annotate") as stores:
            for store in stores:
                store.hold_all(until, now)

    def carry_holds(self, target: Path, now: datetime) -> int:
        """Copy the holds (and an emergency stop) in force at `now` in these databases into
        `target`, created if missing: the database of a shard that did not exist before M
        changed, whose accounts come from the others. Returns how many holds it copied."""
        carried = 0
        with self.open_all("reader") as stores, Store.open(target, mode="annotate") as new:
            for store in stores:
                for number, until in store.holds(now).own().items():
                    new.hold(number, until, now)
                    carried += 1
                stop = store.global_hold(now)
                if stop is not None and new.global_hold(now) is None:
                    new.hold_all(stop.until, now)
        return carried

    def release_all(self, now: datetime) -> bool:
        """`release --all` in every database; True when a stop was in force in any."""
        with self.open_all("annotate") as stores:
            return any([store.release_all(now) for store in stores])


def owners(
    per_db: Sequence[tuple[Sequence[CachedPosting], Sequence[SyncState]]],
) -> tuple[dict[str, int], list[SyncState]]:
    """Which database speaks for each account, given each database's (postings, sync states):
    the one that synced it last (an account moved to another shard after M changed is still in
    its old shard's database, with older data). Also those sync states, by account name."""
    best: dict[str, tuple[SyncState | None, int]] = {}
    for index, (postings, states) in enumerate(per_db):
        seen = {state.account: state for state in states}
        for account in {p.account for p in postings} | set(seen):
            state = seen.get(account)
            known = best.get(account)
            if known is None or _newer(_synced(state), _synced(known[0])):
                best[account] = (state, index)
    owner = {account: index for account, (_, index) in best.items()}
    states = sorted(
        (state for state, _ in best.values() if state is not None), key=lambda s: s.account
    )
    return owner, states


def merge(
    per_db: Sequence[tuple[Sequence[CachedPosting], Sequence[SyncState]]],
) -> tuple[list[CachedPosting], dict[str, int], list[SyncState]]:
    """Each database's (postings, sync states) as one: the postings of each account from the
    database that speaks for it (`owners`), soonest deadline first; that owner of each
    account; and the sync states, by account name."""
    owner, states = owners(per_db)
    postings = [
        item
        for index, (items, _) in enumerate(per_db)
        for item in items
        if owner.get(item.account) == index
    ]
    postings.sort(key=lambda item: (item.posting.shipment_date, item.posting_number))
    return postings, owner, states


def _newer(first: datetime | None, second: datetime | None) -> bool:
    return first is not None and (second is None or first > second)


def _targets(
    stores: list[Store], text: str, now: datetime, verb: Literal["hold", "ack"]
) -> list[tuple[Store, holding.HoldTarget]]:
    """(store, what `text` names there) for every store where it names cached postings."""
    found = []
    for store in stores:
        try:
            target = holding.find_target(store, text, now, verb=verb)
        except holding.HoldRefused:
            continue
        found.append((store, target))
    return found


def _merge(targets: list[holding.HoldTarget]) -> holding.HoldTarget:
    """One target naming what all of `targets` name (each number once)."""
    numbers = tuple(dict.fromkeys(n for target in targets for n in target.numbers))
    postings = tuple(p for target in targets for p in target.postings)
    order = next((target.order for target in targets if target.order), None)
    return holding.HoldTarget(numbers, order, postings)
