"""Decisions -> ledger keys + outbox rows, written in the same transaction as the change that
caused them. The only module that writes either (see `daemon.alerts` for the whole path).

    with batch(store, account, now) as alerts:                 # one store transaction
        store.finish_action(claim, "done", now)                # the change ...
        alerts.add(Event.CANCELLED, key, posting, reason)      # ... and what it tells people
    # both committed, or neither

Only decisions whose ledger key is new become alerts, one outbox row per event (and dry-run
flag, and escalation level) of the batch. Rows of a cycle are staged: `release(...)` at the
end of the cycle merges each account's staged rows of one event into one row and gives it its
routes, so one cycle sends one message per account and event, while each row was durable from
its own commit. A batch given `routes` writes final rows at once (one-off alerts: digest, key
expiry).

Escalations (`AlertBatch.escalate`, daemon.escalation decides them) are alerts of their event
(`overdue` or `reminder`) for the routes of their level only (`routes(account, event, level)`),
always urgent, with `escalation: {"level": N, "after": "30m"}` in the payload; each new one is
journalled for `history` (`escalated`) in the same transaction.

Imports the store, the models and `daemon.alerts`; never config, ozon, policy or notify.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from daemon.alerts import URGENT, Event
from daemon.models import LedgerKey, Posting
from daemon.policy_keys import format_step, rfc3339
from daemon.store import Alert as StoredAlert
from daemon.store import Store

__all__ = [
    "PAYLOAD_POSTINGS",
    "AlertBatch",
    "Details",
    "RouteResolver",
    "batch",
    "commit",
    "escalation_level",
    "mark",
    "no_routes",
    "posting_payload",
    "release",
]

log = structlog.get_logger(__name__)

PAYLOAD_POSTINGS = 50  # postings described in one alert's payload (the message lists 20)
RECORD_CHUNK = 10_000  # ledger keys per store call when recording many


class RouteResolver(Protocol):
    """`routes(account, event, level)`: the ids of the notification routes an alert goes to
    (level 0: the alert itself; 1, 2: its escalation to that level)."""

    def __call__(self, account: str, event: str, level: int = 0, /) -> Sequence[str]: ...


def no_routes(_account: str, _event: str, _level: int = 0) -> Sequence[str]:
    """A RouteResolver for no route at all: alerts only go to the log."""
    return ()


def _routes(routes: RouteResolver, account: str, event: str, level: int) -> Sequence[str]:
    """`routes(account, event)`, with the level only for an escalation (a resolver written
    before escalation takes two arguments)."""
    return routes(account, event, level) if level else routes(account, event)


def escalation_level(payload: dict[str, Any]) -> int:
    """The escalation level of an alert's payload (0: not an escalation)."""
    escalation = payload.get("escalation")
    return int(escalation.get("level", 0)) if isinstance(escalation, dict) else 0


Details = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None
"""What an alert shows of a posting besides its deadline (`daemon.alert_facts`), or a function
giving it: called only for the postings a payload describes (the first PAYLOAD_POSTINGS)."""


def posting_payload(posting: Posting, reason: str = "", details: Details = None) -> dict[str, Any]:
    """What the renderer needs to show one posting (`details`: what the event shows besides,
    such as the ship-or-cancel advice of an overdue alert; see `daemon.alert_facts`)."""
    if callable(details):
        details = details()
    payload = {
        "posting_number": posting.posting_number,
        "status": posting.status,
        "substatus": posting.substatus,
        "warehouse": posting.warehouse_name,
        "warehouse_id": posting.warehouse_id,  # its working calendar, when one applies
        "shipment_date": rfc3339(posting.shipment_date),
        "reason": reason,
    }
    if details:
        payload.update(details)
    return payload


class _Item:
    """One decision about a posting."""

    __slots__ = ("details", "key", "posting", "reason")

    def __init__(self, key: LedgerKey, posting: Posting, reason: str, details: Details) -> None:
        self.key = key
        self.posting = posting
        self.reason = reason
        self.details = details


class AlertBatch:
    """What one transaction tells people about one account: alerts about postings (`add`),
    account-wide alerts (`note`) and ledger keys that make no alert (`mark`). `counts` holds
    the alerts written per event once committed."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.marks: list[LedgerKey] = []
        self.items: dict[tuple[Event, bool, int], list[_Item]] = {}  # event, dry run, level
        self.afters: dict[int, timedelta] = {}  # escalation level -> its escalate_after
        self.notes: list[tuple[Event, str, LedgerKey | None, dict[str, Any]]] = []
        self.counts: dict[str, int] = {}

    def add(
        self,
        event: Event,
        key: LedgerKey,
        posting: Posting,
        reason: str,
        *,
        dry_run: bool = False,
        details: Details = None,
    ) -> None:
        """Alert `event` about `posting` with `reason` (and `details` for the renderer: see
        `posting_payload`), unless `key` is in the ledger already."""
        self.items.setdefault((event, dry_run, 0), []).append(_Item(key, posting, reason, details))

    def escalate(
        self,
        event: Event,
        key: LedgerKey,
        posting: Posting,
        reason: str,
        *,
        level: int,
        after: timedelta,
    ) -> None:
        """Escalate `event` about `posting` to the level-`level` routes (urgent), saying
        nobody acknowledged it within `after`, unless `key` is in the ledger already."""
        if level < 1:
            raise ValueError(f"an escalation has a level of 1 or more, not {level}")
        self.items.setdefault((event, False, level), []).append(_Item(key, posting, reason, None))
        self.afters[level] = after

    def mark(self, keys: Iterable[LedgerKey]) -> None:
        """Record ledger keys that make no alert (steps a later alert covers)."""
        self.marks.extend(keys)

    def note(
        self, event: Event, reason: str, *, key: LedgerKey | None = None, **details: Any
    ) -> None:
        """Alert an account-wide `event` (`details` go into the payload), unless `key` is given
        and in the ledger already."""
        self.notes.append((event, reason, key, details))

    def __bool__(self) -> bool:
        return bool(self.marks or self.items or self.notes)


@contextmanager
def batch(
    store: Store, account: str, now: datetime, *, routes: RouteResolver | None = None
) -> Iterator[AlertBatch]:
    """A store transaction with an AlertBatch for `account`, committed at the end of the
    block together with whatever the block wrote; nothing of either when it raises. Rows are
    staged for `release` unless `routes` is given."""
    alerts = AlertBatch(account)
    with store.transaction():
        yield alerts
        commit(store, alerts, now, routes=routes)


def commit(
    store: Store, alerts: AlertBatch, now: datetime, *, routes: RouteResolver | None = None
) -> dict[str, int]:
    """Record `alerts`' ledger keys and write an outbox row per event for the new ones (in the
    caller's transaction when there is one). Returns, and keeps in `alerts.counts`, the
    alerts written per event."""
    if not alerts:
        return alerts.counts
    account, counts = alerts.account, alerts.counts
    keys = list(alerts.marks)
    keys += [item.key for items in alerts.items.values() for item in items]
    keys += [key for _, _, key, _ in alerts.notes if key is not None]
    with store.transaction():
        new = set(_record(store, account, keys, now))
        for (event, dry_run, level), items in alerts.items.items():
            fresh = _fresh(items, new)
            if not fresh:
                continue
            payload: dict[str, Any] = {
                "event": event.value,
                "account": account,
                "total": len(fresh),
                "postings": [
                    posting_payload(i.posting, i.reason, i.details)
                    for i in fresh[:PAYLOAD_POSTINGS]
                ],
            }
            if level:
                after = alerts.afters[level]
                payload["escalation"] = {
                    "level": level,
                    "after": format_step(after),
                    "after_seconds": int(after.total_seconds()),
                }
                store.record_escalations(
                    account,
                    [(i.posting.posting_number, i.posting.shipment_date, level, i.reason)
                     for i in fresh],
                    now,
                )  # fmt: skip
            reason = fresh[0].reason if len(fresh) == 1 else f"{len(fresh)} postings"
            numbers = [item.posting.posting_number for item in fresh]
            _write(store, account, event, numbers, payload, reason, now, dry_run, routes, level)
            counts[event.value] = counts.get(event.value, 0) + len(fresh)
        for event, reason, key, details in alerts.notes:
            if key is not None and key not in new:
                continue
            payload = {"event": event.value, "account": account, "total": 0, "postings": [],
                       "reason": reason, **details}  # fmt: skip
            _write(store, account, event, (), payload, reason, now, False, routes, 0)
            counts[event.value] = counts.get(event.value, 0) + 1
    return counts


def mark(store: Store, account: str, keys: Sequence[LedgerKey], now: datetime) -> list[LedgerKey]:
    """Record ledger keys that make no alert on their own; returns those that were new."""
    return [LedgerKey(*key) for key in _record(store, account, keys, now)]


def release(store: Store, now: datetime, routes: RouteResolver, account: str | None = None) -> int:
    """Turn the staged rows (of `account`, else of every account) into one outbox row per
    account, event, dry-run flag and escalation level, with the routes
    `routes(account, event, level)` names (logged: with no route the log line is the
    delivery). Returns how many rows were released."""
    if not store.staged_alerts(account):  # the common case: no write transaction for nothing
        return 0
    with store.transaction():
        staged = store.staged_alerts(account)
        groups: dict[tuple[str, str, bool, int], list[StoredAlert]] = {}
        for row in staged:
            group = (row.account, row.event, row.dry_run, escalation_level(row.payload))
            groups.setdefault(group, []).append(row)
        for (owner, event, dry_run, level), rows in groups.items():
            numbers = list(dict.fromkeys(n for row in rows for n in row.posting_numbers))
            payload, reason = _merged(rows, numbers)
            _queue(store, owner, Event(event), numbers, payload, reason, now, dry_run,
                   _routes(routes, owner, event, level), level)  # fmt: skip
        store.discard_staged(row.id for row in staged)
    return len(groups)


# -- inside ------------------------------------------------------------------------------------


def _record(
    store: Store, account: str, keys: Sequence[LedgerKey], now: datetime
) -> list[tuple[str, str, str]]:
    """Record ledger keys, a chunk at a time (a first sync records one or more per posting),
    in ledger order (in-order B-tree inserts cost a third of random ones); the new ones."""
    if not keys:
        return []
    ordered = sorted(keys)
    new: list[tuple[str, str, str]] = []
    with store.transaction():
        for start in range(0, len(ordered), RECORD_CHUNK):
            chunk = ordered[start : start + RECORD_CHUNK]
            new += store.record_alert_keys(account, chunk, now)
    return new


def _fresh(items: Sequence[_Item], new: set[tuple[str, str, str]]) -> list[_Item]:
    """The items whose key was new, each key once, soonest deadline first."""
    seen: set[LedgerKey] = set()
    fresh = []
    for item in items:
        if item.key in new and item.key not in seen:
            seen.add(item.key)
            fresh.append(item)
    fresh.sort(key=lambda i: (i.posting.shipment_date, i.posting.posting_number))
    return fresh


def _write(
    store: Store,
    account: str,
    event: Event,
    numbers: Sequence[str],
    payload: dict[str, Any],
    reason: str,
    now: datetime,
    dry_run: bool,
    routes: RouteResolver | None,
    level: int,
) -> None:
    if routes is None:
        store.enqueue_alert(
            account, event.value, numbers, now, urgent=event in URGENT or level > 0,
            payload=payload, reason=reason, dry_run=dry_run, staged=True,
        )  # fmt: skip
    else:
        _queue(store, account, event, numbers, payload, reason, now, dry_run,
               _routes(routes, account, event.value, level), level)  # fmt: skip


def _queue(
    store: Store,
    account: str,
    event: Event,
    numbers: Sequence[str],
    payload: dict[str, Any],
    reason: str,
    now: datetime,
    dry_run: bool,
    routes: Sequence[str],
    level: int = 0,
) -> int:
    """Put one alert in the outbox for `routes` and log it; with no route the log line is
    its delivery (recorded as sent). An escalation (`level` > 0) is urgent. Returns its id."""
    routes = list(routes)
    alert_id = store.enqueue_alert(account, event.value, numbers, now,
                                   urgent=event in URGENT or level > 0, payload=payload,
                                   routes=routes, reason=reason, dry_run=dry_run)  # fmt: skip
    log.info(
        "alert_queued",
        account=account,
        alert=event.value,
        escalation=level,
        postings=len(numbers),
        posting_numbers=list(numbers[:20]),
        routes=len(routes),
        reason=reason,
        dry_run=dry_run,
    )
    if not routes:  # no route takes it: the log line above is its delivery
        store.record_sent(alert_id, now)
    return alert_id


def _merged(rows: Sequence[StoredAlert], numbers: Sequence[str]) -> tuple[dict[str, Any], str]:
    """One payload and reason for the staged rows of one account and event."""
    if len(rows) == 1 or not numbers:
        return rows[-1].payload, rows[-1].reason
    described: dict[str, dict[str, Any]] = {}
    for row in rows:
        for item in row.payload.get("postings") or []:
            described.setdefault(item["posting_number"], item)
    first = heapq.nsmallest(PAYLOAD_POSTINGS, described.values(), key=_described_order)
    payload = dict(rows[0].payload)
    payload.update(total=len(numbers), postings=first)
    if len(numbers) == 1:
        return payload, next(row.reason for row in rows if row.posting_numbers)
    return payload, f"{len(numbers)} postings"


def _described_order(item: dict[str, Any]) -> tuple[datetime, str]:
    moment = datetime.fromisoformat(str(item["shipment_date"]).replace("Z", "+00:00"))
    return moment, str(item["posting_number"])
