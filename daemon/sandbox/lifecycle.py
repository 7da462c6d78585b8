"""What happens to a posting at Ozon: shipping, hand-over, cancellations, deadline moves, splits.

Each transition sets the status, substatus, available actions and cancellation block the way
Ozon's answers show them, through `PostingStore.update` (which moves `last_changed`).
Transitions that do not fit the posting's state raise `TransitionError`.

This module imports only the standard library and the sandbox's model and store.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.sandbox.model import CANCEL_REASONS, SimCancellation, SimPosting, SimProduct
from daemon.sandbox.store import PostingStore

__all__ = [
    "ACTIONS_BLOCKED",
    "ACTIONS_DELIVER",
    "ACTIONS_PACKAGING",
    "BUYER_REASON",
    "TransitionError",
    "cancel",
    "hand_over",
    "in_carriage",
    "move_deadline",
    "pack",
    "ship",
    "split",
]

ACTIONS_PACKAGING = ("cancel", "has_barcode_for_printing", "product_cancel", "ship", "ship_async")
ACTIONS_BLOCKED = ("cancel", "product_cancel", "ship_with_additional_info")
ACTIONS_DELIVER = ("cancel", "label_download", "label_download_small")
BUYER_REASON = 501
_INITIATORS = {"seller": "Продавец", "client": "Покупатель", "ozon": "Ozon"}


class TransitionError(ValueError):
    """The posting is not in a state that allows this change."""


def _expect(posting: SimPosting, *statuses: str) -> None:
    if posting.status not in statuses:
        raise TransitionError(
            f"posting {posting.posting_number} is {posting.status}, not {' or '.join(statuses)}"
        )


def ship(store: PostingStore, posting: SimPosting, at_us: int) -> None:
    """Assemble the posting: awaiting_packaging -> awaiting_deliver (requirements now met)."""
    _expect(posting, "awaiting_packaging")
    store.update(
        posting,
        at_us,
        status="awaiting_deliver",
        substatus="posting_transferring_to_delivery",
        available_actions=ACTIONS_DELIVER,
        reasons=tuple(r for r in posting.reasons if r != 400),
        mandatory_mark_skus=(),
        needs=(),
    )


def pack(store: PostingStore, posting: SimPosting, at_us: int) -> None:
    """Assemble the posting without starting the hand-over: awaiting_packaging ->
    awaiting_deliver with substatus `posting_not_in_carriage` (not in a carriage yet)."""
    _expect(posting, "awaiting_packaging")
    store.update(
        posting,
        at_us,
        status="awaiting_deliver",
        substatus="posting_not_in_carriage",
        available_actions=ACTIONS_DELIVER,
        reasons=tuple(r for r in posting.reasons if r != 400),
        mandatory_mark_skus=(),
        needs=(),
    )


def in_carriage(store: PostingStore, posting: SimPosting, at_us: int) -> None:
    """The assembled posting is put in a carriage for hand-over: awaiting_deliver with the
    hand-over substatus `posting_in_carriage` (an awaiting_packaging posting is assembled too)."""
    _expect(posting, "awaiting_packaging", "awaiting_deliver")
    store.update(
        posting,
        at_us,
        status="awaiting_deliver",
        substatus="posting_in_carriage",
        available_actions=ACTIONS_DELIVER,
        reasons=tuple(r for r in posting.reasons if r != 400),
        mandatory_mark_skus=(),
        needs=(),
    )


def hand_over(store: PostingStore, posting: SimPosting, at_us: int) -> None:
    """Hand the posting to delivery: awaiting_deliver -> delivering, `delivering_date` set."""
    _expect(posting, "awaiting_deliver")
    store.update(
        posting,
        at_us,
        status="delivering",
        substatus="posting_on_way_to_city",
        available_actions=(),
        reasons=(),
        delivering_date=at_us,
    )


def cancel(store: PostingStore, posting: SimPosting, at_us: int, by: str, reason_id: int) -> None:
    """Cancel the posting on behalf of `by` (`seller`, `client` or `ozon`) with `reason_id`.

    A seller's cancellation counts against the seller's rating, as Ozon reports it.
    Raises TransitionError when the posting is already finished.
    """
    if posting.status in ("cancelled", "delivered", "cancelled_from_split_pending"):
        raise TransitionError(f"posting {posting.posting_number} is already {posting.status}")
    title = CANCEL_REASONS.get(reason_id, ("", "", False))[0]
    store.update(
        posting,
        at_us,
        status="cancelled",
        substatus="posting_canceled",
        available_actions=(),
        reasons=(),
        cancellation=SimCancellation(
            reason_id=reason_id,
            reason=title,
            cancellation_type=by,
            initiator=_INITIATORS.get(by, by),
            affect_rating=by == "seller",
            after_ship=posting.status in ("delivering", "driver_pickup"),
        ),
    )


def move_deadline(store: PostingStore, posting: SimPosting, at_us: int, new_us: int) -> None:
    """Ozon moves the posting's `shipment_date` to `new_us` (not a status change)."""
    _expect(posting, "awaiting_packaging", "awaiting_deliver", "awaiting_approve")
    store.update(posting, at_us, shipment_date=new_us)


def _split_products(products: tuple[SimProduct, ...], parts: int) -> list[tuple[SimProduct, ...]]:
    if len(products) >= parts:
        return [products[i::parts] for i in range(parts)]
    first = products[0]
    if len(products) == 1 and first.quantity >= parts:
        share, extra = divmod(first.quantity, parts)
        return [(replace(first, quantity=share + (i < extra)),) for i in range(parts)]
    return [tuple(replace(p, quantity=1) for p in products) for _ in range(parts)]


def split(store: PostingStore, posting: SimPosting, at_us: int, parts: int = 2) -> list[str]:
    """Split the posting into `parts` new postings (`-2`, `-3`... of the same order).

    The parent moves to `cancelled_from_split_pending`; the parts inherit its deadline,
    warehouse, actions and cancel reasons. Returns the new posting numbers.
    """
    _expect(posting, "awaiting_packaging", "awaiting_approve")
    if parts < 2:
        raise ValueError("a split makes at least two postings")
    numbers: list[str] = []
    suffix = 2
    while len(numbers) < parts:
        candidate = f"{posting.order_number}-{suffix}"
        if store.get(candidate) is None:
            numbers.append(candidate)
        suffix += 1
    for number, products in zip(numbers, _split_products(posting.products, parts), strict=True):
        store.add(
            replace(
                posting,
                id=store.new_id(),
                posting_number=number,
                products=products,
                substatus="posting_created",
                previous_substatus="posting_split_pending",
                last_changed=at_us,
                parent_posting_number=posting.posting_number,
                related=(posting.posting_number,),
                cache={},
            )
        )
    store.update(
        posting,
        at_us,
        status="cancelled_from_split_pending",
        substatus="posting_canceled",
        available_actions=(),
        reasons=(),
        related=tuple(numbers),
    )
    return numbers
