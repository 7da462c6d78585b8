"""Sorted keyset indexes of postings, one sorted list per status, maintained with bisect.

A key is a tuple of ints whose last element is the posting's internal id, e.g.
`(shipment_date, in_process_at, id)` for the unfulfilled list or `(in_process_at, id)` for the
full list. A page is read by bisecting each wanted status's list to the window and the cursor
and merging the slices lazily, so a request costs O(statuses * log n + page), never a sort or a
full scan.

This module imports only the standard library.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator

__all__ = ["MAX_KEY_PART", "Key", "StatusIndex"]

Key = tuple[int, ...]
MAX_KEY_PART = 2**62


class StatusIndex:
    """Keys grouped by status, each group a sorted list."""

    def __init__(self) -> None:
        self._lists: dict[str, list[Key]] = {}

    def add(self, status: str, key: Key) -> None:
        """Insert `key` into the list of `status`."""
        insort(self._lists.setdefault(status, []), key)

    def load(self, items: Iterable[tuple[str, Key]]) -> None:
        """Add many `(status, key)` pairs at once, sorting each list once (for start-up)."""
        for status, key in items:
            self._lists.setdefault(status, []).append(key)
        for keys in self._lists.values():
            keys.sort()

    def remove(self, status: str, key: Key) -> None:
        """Remove `key` from the list of `status`; raises KeyError when it is not there."""
        keys = self._lists.get(status, [])
        pos = bisect_left(keys, key)
        if pos == len(keys) or keys[pos] != key:
            raise KeyError(key)
        del keys[pos]

    def statuses(self) -> list[str]:
        """Return the statuses that have (or had) keys in this index."""
        return list(self._lists)

    def _bounds(self, keys: list[Key], low: int | None, high: int | None) -> tuple[int, int]:
        start = 0 if low is None else bisect_left(keys, (low,))
        end = len(keys) if high is None else bisect_right(keys, (high, MAX_KEY_PART, MAX_KEY_PART))
        return start, end

    def count(self, statuses: Iterable[str], low: int | None, high: int | None) -> int:
        """Count the keys of `statuses` whose first part lies in [low, high] (None = open)."""
        total = 0
        for status in statuses:
            keys = self._lists.get(status)
            if keys:
                start, end = self._bounds(keys, low, high)
                total += max(0, end - start)
        return total

    def scan(
        self,
        statuses: Iterable[str],
        low: int | None,
        high: int | None,
        after: Key | None = None,
        descending: bool = False,
    ) -> Iterator[Key]:
        """Yield keys of `statuses` with first part in [low, high], in key order.

        `after` is the last key of the previous page: only keys strictly after it (in the
        direction of travel) are yielded. The lists must not change while the iterator is used.
        """
        runs: list[Iterator[Key]] = []
        for status in statuses:
            keys = self._lists.get(status)
            if not keys:
                continue
            start, end = self._bounds(keys, low, high)
            if after is not None:
                if descending:
                    end = min(end, bisect_left(keys, after))
                else:
                    start = max(start, bisect_right(keys, after))
            if start < end:
                runs.append(_run(keys, start, end, descending))
        if len(runs) == 1:
            return runs[0]
        return heapq.merge(*runs, reverse=descending)


def _run(keys: list[Key], start: int, end: int, descending: bool) -> Iterator[Key]:
    if descending:
        for pos in range(end - 1, start - 1, -1):
            yield keys[pos]
    else:
        for pos in range(start, end):
            yield keys[pos]
