"""The values the store's verbs return, and how timestamps are written to the database.

Timestamps are stored as fixed-width RFC 3339 UTC text with microseconds and `Z`
(`2026-05-01T09:30:00.000000Z`), so text order is time order. JSON output uses whole seconds
(`2026-05-01T09:30:00Z`). Naive datetimes are refused: the store never guesses a time zone.

Imports only the standard library and daemon.models.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from daemon.models import Posting

__all__ = [
    "Action",
    "ActionOutcome",
    "Alert",
    "CachedPosting",
    "Delivery",
    "DigestCounts",
    "HistoryEntry",
    "HoldAll",
    "Holds",
    "PostingChange",
    "PruneResult",
    "SyncState",
    "UpsertResult",
    "from_text",
    "json_timestamp",
    "to_text",
]

# "skipped": a planned action decided against without acting (history: `cancel_skipped`).
ActionOutcome = Literal["done", "failed", "unknown", "skipped"]


def to_text(moment: datetime) -> str:
    """`moment` (timezone-aware) as stored text; raises ValueError for a naive datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the store needs timezone-aware datetimes, got naive {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=4096)
def from_text(text: str) -> datetime:
    """A stored timestamp back as an aware UTC datetime. Cached: reads of many postings
    repeat the same few times (the syncs that first saw or changed them)."""
    return datetime.fromisoformat(text).astimezone(UTC)


def optional_from_text(text: str | None) -> datetime | None:
    """Like `from_text`, passing None through."""
    return None if text is None else from_text(text)


@functools.lru_cache(maxsize=4096)
def json_timestamp(moment: datetime) -> str:
    """`moment` as RFC 3339 UTC with `Z`, whole seconds: the shape of `--json` output.
    Cached: many postings share a deadline (and isoformat is several times faster than
    strftime)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True, slots=True)
class PostingChange:
    """A cached posting whose content changed in this upsert, with what it was before."""

    posting: Posting
    previous_status: str
    previous_shipment_date: datetime
    was_watched: bool

    @property
    def status_changed(self) -> bool:
        """True when Ozon reports a different status than before."""
        return self.posting.status != self.previous_status

    @property
    def deadline_changed(self) -> bool:
        """True when Ozon moved the posting's shipment_date."""
        return self.posting.shipment_date != self.previous_shipment_date


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What `upsert_postings` did: postings seen for the first time, changed ones, the rest."""

    new: tuple[Posting, ...] = ()
    changed: tuple[PostingChange, ...] = ()
    unchanged: int = 0

    @property
    def written(self) -> int:
        """How many posting rows were written (new + changed)."""
        return len(self.new) + len(self.changed)


@dataclass(frozen=True, slots=True)
class CachedPosting:
    """A posting as cached for one account, with the store's own facts about it."""

    account: str
    posting: Posting
    watched: bool
    held: bool
    held_until: datetime | None
    first_seen: datetime
    last_changed: datetime
    departed_at: datetime | None = None
    departure: str | None = None  # "shipped" | "cancelled" | "split" once departed
    acknowledged_by: str | None = None  # who took it in hand, for its current deadline
    acknowledged_at: datetime | None = None

    @property
    def posting_number(self) -> str:
        """The posting's number."""
        return self.posting.posting_number

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds from `now` to the deadline; negative when overdue."""
        return int((self.posting.shipment_date - now).total_seconds() // 1)


@dataclass(frozen=True, slots=True)
class SyncState:
    """Per-account sync bookkeeping. `last_success_at` is also when postings were last seen."""

    account: str
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    last_error: str = ""
    api_error_alerted: bool = False


def later_end(first: datetime | None, second: datetime | None) -> datetime | None:
    """The later of two hold ends, where None (no expiry) is the latest of all."""
    if first is None or second is None:
        return None
    return max(first, second)


@dataclass(frozen=True, slots=True)
class HoldAll:
    """The emergency stop (`hold --all`): set at `held_at`, in force until `until` (None: until
    `release --all`). While it lasts no posting of any account is cancelled."""

    until: datetime | None
    held_at: datetime


class Holds(Mapping[str, "datetime | None"]):
    """The holds in force at one moment: posting number -> until (None: no expiry).

    While `hold_all` is set every posting number counts as held: `number in holds` is True for
    any number and `holds[number]` (`holds.get(number)`) is the later end of its own hold and
    the global one. Iteration and `len` cover the postings held one by one.
    """

    __slots__ = ("_by_posting", "hold_all")

    def __init__(
        self, by_posting: Mapping[str, datetime | None], hold_all: HoldAll | None = None
    ) -> None:
        self._by_posting = dict(by_posting)
        self.hold_all = hold_all

    def __contains__(self, number: object) -> bool:
        return self.hold_all is not None or number in self._by_posting

    def __getitem__(self, number: str) -> datetime | None:
        if self.hold_all is None:
            return self._by_posting[number]
        if number in self._by_posting:
            return later_end(self._by_posting[number], self.hold_all.until)
        return self.hold_all.until

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_posting)

    def own(self) -> dict[str, datetime | None]:
        """Each held posting's own end (None: no expiry), the emergency stop left aside."""
        return dict(self._by_posting)

    def __len__(self) -> int:
        return len(self._by_posting)

    def __repr__(self) -> str:
        return f"Holds({self._by_posting!r}, hold_all={self.hold_all!r})"


@dataclass(frozen=True, slots=True)
class Action:
    """One row of the action journal: a claim and, once known, its outcome."""

    id: int
    account: str
    posting_number: str
    kind: str
    dry_run: bool
    reason: str
    claimed_at: datetime
    outcome: ActionOutcome | None = None
    outcome_reason: str = ""
    unknown_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert in the outbox. `payload` is the renderer's JSON data, decoded."""

    id: int
    account: str
    event: str
    posting_numbers: tuple[str, ...]
    urgent: bool
    dry_run: bool
    reason: str
    payload: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert still to be delivered to one route."""

    alert: Alert
    route_id: str
    attempts: int
    next_try_at: datetime
    last_error: str = ""
    # posting numbers already carried to the route in accepted parts (`mark_parts_sent`)
    sent_postings: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One element of `history`: an alert message sent or a step of a cancellation action."""

    at: datetime
    account: str
    event: str
    posting_numbers: tuple[str, ...]
    dry_run: bool
    reason: str
    kind: Literal["alert", "action"] = "alert"  # a message sent, or a cancellation step

    def as_json(self) -> dict[str, Any]:
        """The element as `history --json` prints it (CONTRACT section 5, plus `kind`)."""
        return {
            "at": json_timestamp(self.at),
            "account": self.account,
            "event": self.event,
            "posting_numbers": list(self.posting_numbers),
            "dry_run": self.dry_run,
            "reason": self.reason,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class DigestCounts:
    """Counts for one account's daily digest, all from the cache."""

    watched: int = 0
    due_within_24h: int = 0
    overdue: int = 0
    cancelled_last_24h: int = 0
    shipped_late_last_24h: int = 0
    shipped_last_14d: int = 0
    shipped_late_last_14d: int = 0

    @property
    def late_share_14d(self) -> float | None:
        """Share of postings shipped after their deadline over 14 days; None if none shipped."""
        if not self.shipped_last_14d:
            return None
        return self.shipped_late_last_14d / self.shipped_last_14d


@dataclass(frozen=True, slots=True)
class PruneResult:
    """How many rows `prune` deleted, per kind of record."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All rows deleted."""
        return sum(self.counts.values())
