"""Request bodies and cursor paging of the v4 posting lists, for `daemon.ozon.client`.

`Listing` iterates the pages of one list request; the helpers write what the bodies need:
RFC 3339 UTC times, int64 ids as decimal strings (as the official 2026 document declares them
in list filters), header-safe values, a period within Ozon's one-year limit, and the optional
status and warehouse filters.

This module imports the standard library and `daemon.ozon`'s errors and parse modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from daemon.ozon.errors import OzonProtocolError
from daemon.ozon.parse import Page

__all__ = [
    "MAX_PERIOD",
    "Listing",
    "add_filters",
    "check_period",
    "header_safe",
    "ids",
    "rfc3339",
]

MAX_PERIOD = timedelta(days=365)  # Ozon: a list period may not exceed one year


def rfc3339(value: datetime) -> str:
    """An aware datetime as UTC RFC 3339 text (`2026-11-26T10:00:00Z`); naive is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware: {value!r}")
    text = value.astimezone(UTC).isoformat(
        timespec="microseconds" if value.microsecond else "seconds"
    )
    return text.removesuffix("+00:00") + "Z"


def ids(values: Sequence[int | str], name: str) -> list[str]:
    """int64 ids as the 2026 document declares them in request filters: decimal strings."""
    try:
        return [str(int(value)) for value in values]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be integer ids: {list(values)!r}") from None


def header_safe(value: str, name: str) -> str:
    if not value or not value.isascii() or not value.isprintable() or value != value.strip():
        # Never echo the value: it may be the Api-Key.
        raise ValueError(f"{name} must be non-empty printable ASCII without surrounding spaces")
    return value


MAX_PAGES = 5000
"""The most pages one listing reads (500,000 postings at 100 a page, far beyond any shop's
unfulfilled postings): an API answering `has_next: true` with a new cursor forever ends the
listing as unreadable instead of keeping a cycle (and `once`) running without end."""


class Listing:
    """An async iterator over the pages of one v4 list request (cursor paging).

    `completed` becomes True only once Ozon said `has_next: false`; an OzonError while paging
    propagates from the iteration and leaves it False. A cursor that repeats (or an empty one
    with `has_next: true`), or more than MAX_PAGES pages, raises OzonProtocolError instead of
    looping. Iterate once.
    """

    def __init__(self, fetch: Callable[[str], Awaitable[Page]], path: str) -> None:
        self._fetch = fetch
        self._path = path
        self._cursor = ""
        self._seen: set[str] = set()
        self._done = False
        self.completed = False
        self.pages = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Page:
        if self._done:
            raise StopAsyncIteration
        try:
            page = await self._fetch(self._cursor)
        except BaseException:
            self._done = True
            raise
        self.pages += 1
        if not page.has_next:
            self._done = True
            self.completed = True
            return page
        if not page.cursor or page.cursor in self._seen:
            self._done = True
            raise OzonProtocolError(
                200,
                None,
                f"has_next is true but the cursor {'is empty' if not page.cursor else 'repeats'}"
                f" (page {self.pages}); stopped paging instead of looping",
                self._path,
                field="cursor",
            )
        if self.pages >= MAX_PAGES:
            self._done = True
            raise OzonProtocolError(
                200,
                None,
                f"has_next is still true after {MAX_PAGES} pages; stopped paging instead of "
                "reading without end",
                self._path,
                field="cursor",
            )
        self._seen.add(page.cursor)
        self._cursor = page.cursor
        return page


def check_period(start: datetime, end: datetime, name: str) -> None:
    for value in (start, end):
        rfc3339(value)  # refuses naive datetimes
    if start > end:
        raise ValueError(f"{name} window is reversed: {start} > {end}")
    if end - start > MAX_PERIOD:
        raise ValueError(f"{name} window is longer than Ozon's one-year limit: {start}..{end}")


def add_filters(
    query: dict[str, Any], statuses: Sequence[str], warehouse_ids: Sequence[int | str]
) -> None:
    if isinstance(statuses, str):
        raise ValueError(f"statuses must be a list of statuses, not one string: {statuses!r}")
    if statuses:
        query["statuses"] = list(statuses)
    if warehouse_ids:
        query["warehouse_ids"] = ids(warehouse_ids, "warehouse_ids")
