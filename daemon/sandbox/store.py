"""The sandbox's postings: a dict by number, three sorted indexes and a cache of JSON bytes.

Indexes (all kept up to date on every change, never rebuilt):
- `open_index`: postings in an unfulfilled-list status, keyed `(shipment_date, in_process_at, id)`;
- `all_index`: every posting, keyed `(in_process_at, id)` (the `/v4/posting/fbs/list` order);
- `changed`: `(last_changed, id)` pairs, to answer `last_changed_status_date` windows cheaply.

Each posting's JSON is serialized once per shape and tariff step and kept until the posting
changes. The store is
not thread-safe by itself: the sandbox app holds one lock around every use.

This module imports only the standard library and the sandbox's model, index and wire modules.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any

from daemon.sandbox import wire
from daemon.sandbox.index import MAX_KEY_PART, Key, StatusIndex
from daemon.sandbox.model import UNFULFILLED_STATUSES, SimPosting

__all__ = ["PostingStore", "list_key", "open_key"]


def open_key(posting: SimPosting) -> Key:
    """The unfulfilled-list keyset key: `(shipment_date, in_process_at, id)`."""
    return (posting.shipment_date, posting.in_process_at, posting.id)


def list_key(posting: SimPosting) -> Key:
    """The `/v4/posting/fbs/list` keyset key: `(in_process_at, id)`."""
    return (posting.in_process_at, posting.id)


class PostingStore:
    """All postings of one simulated seller account, indexed for keyset paging."""

    def __init__(self) -> None:
        self._by_number: dict[str, SimPosting] = {}
        self._by_id: dict[int, SimPosting] = {}
        self.open_index = StatusIndex()
        self.all_index = StatusIndex()
        self._changed: list[tuple[int, int]] = []
        self.version = 0
        self.next_id = 1_300_000_000

    def __len__(self) -> int:
        return len(self._by_number)

    def new_id(self) -> int:
        """Return a fresh internal posting id."""
        self.next_id += 1
        return self.next_id

    def add(self, posting: SimPosting) -> None:
        """Add a new posting; raises ValueError when its number or id is already taken."""
        if posting.posting_number in self._by_number or posting.id in self._by_id:
            raise ValueError(f"posting {posting.posting_number} already exists")
        self._by_number[posting.posting_number] = posting
        self._by_id[posting.id] = posting
        self.next_id = max(self.next_id, posting.id)
        self._index(posting)
        self.version += 1

    def load(self, postings: list[SimPosting]) -> None:
        """Add many new postings at once (sorting each index once); ValueError on a duplicate."""
        for posting in postings:
            if posting.posting_number in self._by_number or posting.id in self._by_id:
                raise ValueError(f"posting {posting.posting_number} already exists")
            self._by_number[posting.posting_number] = posting
            self._by_id[posting.id] = posting
            self.next_id = max(self.next_id, posting.id)
        self.open_index.load(
            (p.status, open_key(p)) for p in postings if p.status in UNFULFILLED_STATUSES
        )
        self.all_index.load((p.status, list_key(p)) for p in postings)
        self._changed.extend((p.last_changed, p.id) for p in postings)
        self._changed.sort()
        self.version += 1

    def get(self, posting_number: str) -> SimPosting | None:
        """Return the posting with this number, or None."""
        return self._by_number.get(posting_number)

    def by_id(self, posting_id: int) -> SimPosting:
        """Return the posting with this internal id; raises KeyError when there is none."""
        return self._by_id[posting_id]

    def numbers(self, status: str | None = None) -> list[str]:
        """Return posting numbers (of one status, or all) in insertion order."""
        return [
            number
            for number, posting in self._by_number.items()
            if status is None or posting.status == status
        ]

    def update(self, posting: SimPosting, at_us: int, **changes: Any) -> None:
        """Change fields of `posting` and keep every index and the cache right.

        A change of `status` or `substatus` moves `last_changed` to `at_us` (the moment Ozon
        changed it) and records the old substatus as `previous_substatus`.
        Raises AttributeError for an unknown field.
        """
        for name in changes:
            if not hasattr(posting, name) or name in ("id", "posting_number", "cache"):
                raise AttributeError(f"cannot change {name!r} of a posting")
        self._unindex(posting)
        old_status, old_substatus = posting.status, posting.substatus
        for name, value in changes.items():
            setattr(posting, name, value)
        if (posting.status, posting.substatus) != (old_status, old_substatus):
            posting.last_changed = at_us
            posting.previous_substatus = old_substatus
        posting.cache.clear()
        self._index(posting)
        self.version += 1

    def _index(self, posting: SimPosting) -> None:
        if posting.status in UNFULFILLED_STATUSES:
            self.open_index.add(posting.status, open_key(posting))
        self.all_index.add(posting.status, list_key(posting))
        insort(self._changed, (posting.last_changed, posting.id))

    def _unindex(self, posting: SimPosting) -> None:
        if posting.status in UNFULFILLED_STATUSES:
            self.open_index.remove(posting.status, open_key(posting))
        self.all_index.remove(posting.status, list_key(posting))
        pair = (posting.last_changed, posting.id)
        pos = bisect_left(self._changed, pair)
        if pos < len(self._changed) and self._changed[pos] == pair:
            del self._changed[pos]

    def changed_between(self, low: int | None, high: int | None) -> list[SimPosting]:
        """Return postings whose last status change lies in [low, high] (None = open end)."""
        start = 0 if low is None else bisect_left(self._changed, (low,))
        end = (
            len(self._changed)
            if high is None
            else bisect_right(self._changed, (high, MAX_KEY_PART))
        )
        return [self._by_id[pid] for _, pid in self._changed[start:end]]

    def v4_bytes(self, posting: SimPosting, flags: int, now_us: int) -> bytes:
        """Return the posting's v4 list JSON for these `with` flags at sandbox time `now_us`
        (serialized once per tariff step: the answer changes when the next step starts)."""
        cache_key = ("v4", flags, wire.step_index(posting, now_us))
        data = posting.cache.get(cache_key)
        if data is None:
            data = posting.cache[cache_key] = wire.posting_v4(posting, flags, now_us)
        return data

    def get_bytes(self, posting: SimPosting, flags: int, now_us: int) -> bytes:
        """Return the whole `/v3/posting/fbs/get` answer for these `with` flags at `now_us`
        (cached like `v4_bytes`)."""
        cache_key = ("v3", flags, wire.step_index(posting, now_us))
        data = posting.cache.get(cache_key)
        if data is None:
            data = posting.cache[cache_key] = wire.encode(
                {"result": wire.posting_get(posting, flags, now_us)}
            )
        return data

    def all(self) -> list[SimPosting]:
        """Every posting, in insertion order."""
        return list(self._by_number.values())
