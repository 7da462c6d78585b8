"""Scenarios: the postings a sandbox starts with and the events that happen to them over time.

- `demo`: twelve hand-made postings covering every case the daemon reacts to, with an event
  every few seconds in the first ~20 s (a new posting, a shipment, a buyer's cancellation, a moved
  deadline, a split, a hand-over), for `ozon-sync demo`.
- `bulk`: N generated postings (deterministic for a seed), deadlines relative to the start: cancel
  candidates overdue by more than 48 h (some allowing reason 402, some not), overdue by hours, due
  within 1 h / 4 h / 24 h, later, blocked by missing data (a mark, a customs declaration
  number or a country of origin), and finished ones (delivering, delivered, cancelled); plus an
  event every 15 s during the first hour.
- `empty`: no postings (tests add their own).

This module imports only the standard library and the sandbox's model, lifecycle and events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from daemon.sandbox.clock import US_PER_S
from daemon.sandbox.events import Event, EventKind
from daemon.sandbox.lifecycle import (
    ACTIONS_BLOCKED,
    ACTIONS_DELIVER,
    ACTIONS_PACKAGING,
    BUYER_REASON,
)
from daemon.sandbox.model import Route, SimCancellation, SimPosting, SimProduct

__all__ = ["CATALOG", "ROUTES", "SCENARIOS", "Scenario", "build", "one_posting"]

SCENARIOS = ("bulk", "demo", "empty")
_MIN = 60 * US_PER_S
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR

ROUTES = (
    Route(1020001234567000, "Ozon delivery self drop-off, Khimki", 1020001234567000,
          "Main FBS warehouse", 24, "Ozon delivery"),
    Route(1020001234567001, "Ozon delivery courier pick-up, Khimki", 1020001234567000,
          "Main FBS warehouse", 24, "Ozon delivery"),
    Route(1020001987654000, "Ozon delivery self drop-off, Kazan", 1020001987654000,
          "Kazan FBS warehouse", 24, "Ozon delivery"),
    Route(1020002555000001, "Ozon Express courier, Moscow", 1020002555000000,
          "Express dark store Moscow", 24, "Ozon delivery", is_express=True),
    Route(1020003777000001, "Seller's own courier, Novosibirsk", 1020003777000000,
          "rFBS warehouse Novosibirsk", 1001, "Seller's own delivery", "non_integrated"),
)  # fmt: skip
_ROUTE_WEIGHTS = (35, 15, 25, 10, 15)

CATALOG = (
    SimProduct(1658203344, "MUG-330-BLUE", "Ceramic mug 330 ml, blue", 1, "590", 0.41, "blue",
               ("120.00", "110.00", "410", "90.00")),
    SimProduct(1702299810, "TEA-GRN-100", "Green tea, 100 g", 1, "349", 0.12, ""),
    SimProduct(1811122233, "SHOE-K-31", "Kids sneakers, size 31", 1, "2190", 0.55, "navy"),
    SimProduct(1590011223, "LAMP-7W", "Desk lamp LED 7W", 1, "1490", 0.9, "white"),
    SimProduct(1733400121, "TWL-BATH-70", "Bath towel 70x140 cm, cotton", 1, "890", 0.45, "grey"),
    SimProduct(1744455667, "CHG-USBC-65", "USB-C charger 65 W", 1, "1990", 0.2, "black"),
    SimProduct(1755512340, "BOT-STEEL-500", "Steel water bottle 500 ml", 1, "1150", 0.33, "green"),
    SimProduct(1766623451, "NB-A5-DOT", "Notebook A5, dotted, 96 sheets", 1, "420", 0.25, ""),
    SimProduct(1777734562, "SOCK-W-3P", "Wool socks, 3 pairs, size 39-42", 1, "760", 0.18, "beige"),
    SimProduct(1788845673, "PAN-28-GRN", "Frying pan 28 cm, granite coating", 1, "2890", 1.4, ""),
    SimProduct(1799956784, "KBD-MECH-87", "Mechanical keyboard, 87 keys", 1, "5490", 0.95, "white"),
    SimProduct(1800067895, "HNY-BUCK-500", "Buckwheat honey 500 g", 1, "650", 0.6, ""),
    SimProduct(1811178906, "CASE-IP15-CLR", "Phone case, clear, iPhone 15", 1, "390", 0.05, ""),
    SimProduct(1822289017, "LEGO-CITY-60", "Building set, city fire station", 1, "6990", 1.8, ""),
    SimProduct(1833390128, "CRM-HAND-75", "Hand cream 75 ml, shea butter", 1, "299", 0.09, ""),
    SimProduct(1844401239, "TSH-M-BLK", "Cotton T-shirt, men, M", 1, "990", 0.2, "black"),
)  # fmt: skip


@dataclass
class Scenario:
    """The postings a sandbox starts with and the events scheduled for later."""

    postings: list[SimPosting] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class _Maker:
    """Builds realistic postings with unique numbers and ids from one seeded random source."""

    def __init__(self, rng: random.Random, now_us: int) -> None:
        self.rng = rng
        self.now = now_us
        self.next_id = 1_302_214_000
        self.next_order_id = 41_900_000_000
        self.taken: set[str] = set()
        self.blocked = 0  # blocked postings made so far

    def number(self) -> str:
        while True:
            number = f"{self.rng.randrange(10**7, 10**8)}-{self.rng.randrange(1, 10**4):04d}-1"
            if number not in self.taken:
                self.taken.add(number)
                return number

    def products(self) -> tuple[SimProduct, ...]:
        lines = self.rng.choices((1, 2, 3), weights=(70, 22, 8))[0]
        picked = self.rng.sample(CATALOG, lines)
        return tuple(
            SimProduct(p.sku, p.offer_id, p.name, self.rng.choice((1, 1, 1, 2)), p.price,
                       p.weight, p.color, p.dimensions)
            for p in picked
        )  # fmt: skip

    def posting(
        self,
        ship_us: int,
        status: str = "awaiting_packaging",
        substatus: str = "posting_created",
        *,
        number: str | None = None,
        route: Route | None = None,
        products: tuple[SimProduct, ...] | None = None,
        actions: tuple[str, ...] = ACTIONS_PACKAGING,
        reasons: tuple[int, ...] = (352, 400, 402),
        changed_us: int | None = None,
    ) -> SimPosting:
        rng = self.rng
        ship_us -= ship_us % _MIN
        in_process = min(ship_us - rng.randrange(18 * _HOUR, 72 * _HOUR), self.now - _MIN)
        in_process -= in_process % US_PER_S
        self.next_id += rng.randrange(1, 50)
        self.next_order_id += rng.randrange(1, 5000)
        return SimPosting(
            id=self.next_id,
            posting_number=number or self.number(),
            order_id=self.next_order_id,
            status=status,
            substatus=substatus,
            route=route or rng.choices(ROUTES, weights=_ROUTE_WEIGHTS)[0],
            products=products or self.products(),
            in_process_at=in_process,
            shipment_date=ship_us,
            last_changed=in_process if changed_us is None else changed_us,
            available_actions=actions,
            reasons=reasons if "cancel" in actions else (),
            delivery_type=rng.choice(("PVZ", "PVZ", "Courier", "Postamat")),
            payment=rng.choice(("Bank card", "SBP", "Ozon Card")),
            premium=rng.random() < 0.15,
        )

    def between(self, low: int, high: int) -> int:
        return self.rng.randrange(min(low, high - 1), high)


def _finished(maker: _Maker, kind: str) -> SimPosting:
    """A posting that already left the watch: delivering, delivered or cancelled."""
    rng, now = maker.rng, maker.now
    if kind == "delivering":
        ship = now - rng.randrange(6 * _HOUR, 5 * _DAY)
        handed = ship - rng.randrange(0, 6 * _HOUR)
        posting = maker.posting(ship, "delivering", "posting_on_way_to_city", actions=(),
                                changed_us=handed)  # fmt: skip
        posting.delivering_date = handed
        return posting
    if kind == "delivered":
        ship = now - rng.randrange(3 * _DAY, 12 * _DAY)
        posting = maker.posting(ship, "delivered", "posting_delivered", actions=(),
                                changed_us=ship + rng.randrange(_DAY, 3 * _DAY))  # fmt: skip
        posting.delivering_date = ship - _HOUR
        return posting
    ship = now + rng.randrange(-3 * _DAY, 5 * _DAY)
    posting = maker.posting(ship, "cancelled", "posting_canceled", actions=())
    posting.last_changed = maker.between(posting.in_process_at, now)
    by, reason = rng.choice((("client", BUYER_REASON), ("seller", 352), ("ozon", 667)))
    initiator = {"client": "Покупатель", "seller": "Продавец", "ozon": "Ozon"}[by]
    title = {BUYER_REASON: "Покупатель отменил заказ", 352: "Товар закончился на складе продавца",
             667: "Заказ утерян службой доставки"}[reason]  # fmt: skip
    posting.cancellation = SimCancellation(reason, title, by, initiator, by == "seller")
    return posting


# (weight %, bucket): see the module docstring.
_BUCKETS = (
    (1.5, "cancel_402"), (1.5, "cancel_no_402"), (5.0, "overdue_hours"), (2.0, "overdue_deliver"),
    (5.0, "due_1h"), (10.0, "due_4h"), (25.0, "due_24h"), (37.0, "later"), (2.0, "blocked"),
    (5.0, "delivering"), (3.0, "delivered"), (3.0, "cancelled"),
)  # fmt: skip
# The data a blocked posting lacks: a mark, a customs declaration number, a country of origin.
_MISSING = (
    "products_requiring_mandatory_mark", "products_requiring_gtd", "products_requiring_country",
)  # fmt: skip
_DUE_RANGES = {
    "overdue_hours": (-12 * _HOUR, -15 * _MIN), "due_1h": (2 * _MIN, _HOUR),
    "due_4h": (_HOUR, 4 * _HOUR), "due_24h": (4 * _HOUR, _DAY), "later": (_DAY, 10 * _DAY),
}  # fmt: skip


def _generated(maker: _Maker, bucket: str) -> SimPosting:
    rng, now = maker.rng, maker.now
    if bucket in ("delivering", "delivered", "cancelled"):
        return _finished(maker, bucket)
    if bucket in ("cancel_402", "cancel_no_402"):
        ship = now - rng.randrange(49 * _HOUR, 5 * _DAY)
        reasons = (352, 400, 402) if bucket == "cancel_402" else (352, 400)
        return maker.posting(ship, reasons=reasons)
    if bucket == "overdue_deliver":
        ship = now - rng.randrange(_HOUR, 20 * _HOUR)
        posting = maker.posting(ship, "awaiting_deliver", "posting_not_in_carriage",
                                actions=ACTIONS_DELIVER, reasons=(352, 402))  # fmt: skip
        posting.last_changed = maker.between(posting.in_process_at, now)
        return posting
    if bucket == "blocked":
        posting = maker.posting(now + rng.randrange(2 * _HOUR, 30 * _HOUR), actions=ACTIONS_BLOCKED)
        # What is missing takes turns (not a random draw: every other posting of a seed stays
        # as it was before requirements other than marks existed).
        missing = _MISSING[maker.blocked % len(_MISSING)]
        maker.blocked += 1
        if missing == "products_requiring_mandatory_mark":
            posting.mandatory_mark_skus = (posting.products[0].sku,)
        else:
            posting.needs = ((missing, posting.products[0].sku),)
        return posting
    low, high = _DUE_RANGES[bucket]
    ship = now + rng.randrange(low, high)
    if bucket != "overdue_hours" and rng.random() < 0.2:
        substatus = rng.choice(
            ("posting_transferring_to_delivery", "posting_in_carriage", "posting_not_in_carriage")
        )
        posting = maker.posting(ship, "awaiting_deliver", substatus, actions=ACTIONS_DELIVER,
                                reasons=(352, 402))  # fmt: skip
        posting.last_changed = maker.between(posting.in_process_at, now)
        return posting
    return maker.posting(ship)


def _bulk_events(maker: _Maker, postings: list[SimPosting]) -> list[Event]:
    rng = maker.rng
    packaging = [p.posting_number for p in postings if p.status == "awaiting_packaging"]
    events: list[Event] = []
    if not packaging:
        return events
    kinds: tuple[EventKind, ...] = (
        "ship", "cancel_by_buyer", "move_deadline", "split", "new_posting",
    )  # fmt: skip
    for step in range(1, 241):
        kind = rng.choices(kinds, weights=(35, 15, 20, 10, 20))[0]
        offset = step * 15.0
        if kind == "new_posting":
            template = maker.posting(maker.now + _DAY)
            deadline = rng.uniform(0.5, 48) * 3600
            events.append(Event(offset, kind, template=template, deadline_in_s=deadline))
        elif kind == "move_deadline":
            shift = rng.choice((-1, 1)) * rng.uniform(1, 24) * 3600
            events.append(Event(offset, kind, rng.choice(packaging), shift_s=shift))
        else:
            events.append(Event(offset, kind, rng.choice(packaging)))
    return events


def _bulk(count: int, now_us: int, seed: int) -> Scenario:
    maker = _Maker(random.Random(seed), now_us)
    weights = [weight for weight, _ in _BUCKETS]
    names = [name for _, name in _BUCKETS]
    buckets = maker.rng.choices(names, weights=weights, k=count)
    postings = [_generated(maker, bucket) for bucket in buckets]
    return Scenario(postings, _bulk_events(maker, postings))


def _demo(now_us: int, seed: int) -> Scenario:
    maker = _Maker(random.Random(seed), now_us)
    r0, r1, r2 = ROUTES[0], ROUTES[2], ROUTES[4]
    c = CATALOG

    def at(hours: float) -> int:
        return now_us + round(hours * _HOUR)

    def one(i: int) -> tuple[SimProduct, ...]:
        return (c[i],)

    mk = maker.posting
    postings = [
        mk(at(-50), number="10000001-0001-1", route=r0, products=one(0)),
        mk(at(-72), number="10000002-0002-1", route=r1, products=one(1), reasons=(352, 400)),
        mk(at(-3), number="10000003-0003-1", route=r0, products=one(2)),
        mk(at(0.75), number="10000004-0004-1", route=r0, products=one(3)),
        mk(at(3), number="10000005-0005-1", route=r1, products=one(4)),
        mk(at(20), number="10000006-0006-1", route=r2, products=one(5)),
        mk(at(72), number="10000007-0007-1", route=r0, products=one(6)),
        mk(at(2), "awaiting_deliver", "posting_not_in_carriage", number="10000008-0008-1",
           route=r1, products=one(7), actions=ACTIONS_DELIVER, reasons=(352, 402)),
        mk(at(5), number="10000009-0009-1", route=r0, products=one(8), actions=ACTIONS_BLOCKED),
        _finished(maker, "delivering"),
        _finished(maker, "cancelled"),
        mk(at(10), number="10000012-0012-1", route=r0, products=(c[9], c[10])),
    ]  # fmt: skip
    postings[8].mandatory_mark_skus = (c[8].sku,)
    postings[8].needs = (("products_requiring_gtd", c[8].sku),)
    postings[9].posting_number, postings[10].posting_number = "10000010-0010-1", "10000011-0011-1"
    new = mk(at(24), number="10000013-0013-1", route=r2, products=one(11))
    events = [
        Event(3, "new_posting", template=new, deadline_in_s=50 * 60),
        Event(6, "ship", "10000005-0005-1"),
        Event(9, "cancel_by_buyer", "10000006-0006-1"),
        Event(12, "move_deadline", "10000007-0007-1", deadline_in_s=2 * 3600),
        Event(15, "split", "10000012-0012-1"),
        Event(18, "hand_over", "10000008-0008-1"),
    ]
    return Scenario(postings, events)


def build(name: str, postings: int, now_us: int, seed: int) -> Scenario:
    """Build the scenario `name` (`bulk`, `demo` or `empty`) relative to `now_us`.

    `postings` is the count for `bulk` (ignored otherwise). Deterministic for a given seed and
    start time. Raises ValueError for an unknown name or a negative count.
    """
    if name == "bulk":
        if postings < 0:
            raise ValueError("the number of postings cannot be negative")
        return _bulk(postings, now_us, seed)
    if name == "demo":
        return _demo(now_us, seed)
    if name == "empty":
        return Scenario()
    raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")


def one_posting(
    rng: random.Random,
    now_us: int,
    shipment_us: int,
    *,
    posting_number: str | None = None,
    status: str = "awaiting_packaging",
    reasons: tuple[int, ...] = (352, 400, 402),
    warehouse_id: int | None = None,
) -> SimPosting:
    """Make one realistic posting that Ozon sends at `now_us`, due at `shipment_us`.

    `status` may be `awaiting_packaging` (can be shipped or cancelled), `awaiting_deliver` or any
    other status (no actions). Raises ValueError for a `warehouse_id` no route uses.
    """
    route = None
    if warehouse_id is not None:
        route = next((r for r in ROUTES if r.warehouse_id == warehouse_id), None)
        if route is None:
            known = sorted({r.warehouse_id for r in ROUTES})
            raise ValueError(f"unknown warehouse_id {warehouse_id}; the sandbox has {known}")
    substatus: str = "posting_created"
    actions: tuple[str, ...] = ACTIONS_PACKAGING
    if status == "awaiting_deliver":
        substatus, actions = "posting_transferring_to_delivery", ACTIONS_DELIVER
    elif status != "awaiting_packaging":
        substatus, actions = "", ()
    maker = _Maker(rng, now_us)
    posting = maker.posting(
        shipment_us, status, substatus, number=posting_number, route=route, actions=actions,
        reasons=reasons,
    )  # fmt: skip
    posting.in_process_at = posting.last_changed = now_us
    posting.shipment_date = shipment_us
    return posting
