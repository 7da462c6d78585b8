"""Scheduled scenario events and the timeline that applies them lazily as sandbox time passes.

An event happens at an offset (seconds) from the sandbox start. Nothing runs in the background:
before answering a request the app asks the timeline for the events that are due and applies
them, each at its own scheduled moment (so `last_changed_status_date` is when it happened, not
when somebody looked). An event that no longer fits its posting (shipped by a test already, say)
is skipped.

This module imports only the standard library and the sandbox's clock, model, store and
lifecycle modules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from daemon.sandbox import lifecycle
from daemon.sandbox.clock import US_PER_S
from daemon.sandbox.model import SimPosting
from daemon.sandbox.store import PostingStore

__all__ = ["Event", "EventKind", "Timeline", "apply_event"]

EventKind = Literal[
    "ship",
    "pack",
    "in_carriage",
    "hand_over",
    "cancel_by_buyer",
    "cancel_by_seller",
    "move_deadline",
    "split",
    "new_posting",
]


@dataclass(frozen=True, slots=True)
class Event:
    """One scheduled change.

    `move_deadline` sets the deadline to `deadline_in_s` after the event when that is given,
    else shifts it by `shift_s`. `new_posting` adds `template` (a posting whose times are
    replaced: in process at the event, due `deadline_in_s` after it). `split` makes `parts`.
    """

    offset_s: float
    kind: EventKind
    posting_number: str = ""
    shift_s: float = 0.0
    deadline_in_s: float | None = None
    parts: int = 2
    template: SimPosting | None = None
    reason_id: int = 0


def apply_event(store: PostingStore, event: Event, at_us: int) -> bool:
    """Apply `event` at sandbox time `at_us`; return False when it no longer fits (skipped)."""
    if event.kind == "new_posting":
        if event.template is None or store.get(event.template.posting_number) is not None:
            return False
        due = at_us + round((event.deadline_in_s or 0.0) * US_PER_S)
        store.add(
            replace(
                event.template,
                id=store.new_id(),
                in_process_at=at_us,
                shipment_date=due,
                last_changed=at_us,
                cache={},
            )
        )
        return True
    posting = store.get(event.posting_number)
    if posting is None:
        return False
    try:
        if event.kind == "ship":
            lifecycle.ship(store, posting, at_us)
        elif event.kind == "pack":
            lifecycle.pack(store, posting, at_us)
        elif event.kind == "in_carriage":
            lifecycle.in_carriage(store, posting, at_us)
        elif event.kind == "hand_over":
            lifecycle.hand_over(store, posting, at_us)
        elif event.kind == "cancel_by_buyer":
            lifecycle.cancel(store, posting, at_us, "client", lifecycle.BUYER_REASON)
        elif event.kind == "cancel_by_seller":
            lifecycle.cancel(store, posting, at_us, "seller", event.reason_id)
        elif event.kind == "split":
            lifecycle.split(store, posting, at_us, event.parts)
        else:
            if event.deadline_in_s is not None:
                new = at_us + round(event.deadline_in_s * US_PER_S)
            else:
                new = posting.shipment_date + round(event.shift_s * US_PER_S)
            lifecycle.move_deadline(store, posting, at_us, new - new % US_PER_S)
    except lifecycle.TransitionError:
        return False
    return True


class Timeline:
    """Events sorted by time, consumed as they fall due. Not thread-safe (the app locks)."""

    def __init__(self, start_us: int, events: list[Event]) -> None:
        self.start_us = start_us
        self._pending = sorted(events, key=lambda event: event.offset_s, reverse=True)
        self.applied: list[tuple[Event, bool]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def at_us(self, event: Event) -> int:
        """Return the sandbox time at which `event` happens."""
        return self.start_us + round(event.offset_s * US_PER_S)

    def apply_due(self, store: PostingStore, now_us: int) -> int:
        """Apply every event due by `now_us`, oldest first; return how many were due."""
        due = 0
        while self._pending and self.at_us(self._pending[-1]) <= now_us:
            event = self._pending.pop()
            self.applied.append((event, apply_event(store, event, self.at_us(event))))
            due += 1
        return due

    def add(self, event: Event) -> None:
        """Schedule one more event (its offset counts from the sandbox start)."""
        self._pending.append(event)
        self._pending.sort(key=lambda item: item.offset_s, reverse=True)

    def add_at(self, event: Event, at_us: int) -> None:
        """Schedule `event` (its own offset ignored) to happen at sandbox time `at_us`."""
        self.add(replace(event, offset_s=(at_us - self.start_us) / US_PER_S))

    def pending(self, kind: EventKind, posting_number: str) -> bool:
        """True while an event of `kind` for `posting_number` waits to happen."""
        return any(e.kind == kind and e.posting_number == posting_number for e in self._pending)
