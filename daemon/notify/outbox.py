"""Delivery of queued alerts to the notification routes through Apprise.

The outbox in the store is the source of truth: an alert is marked delivered for a route only
when Apprise reports success for that route; a failed route is retried later with backoff while
the other routes go on. Non-urgent alerts wait while a route is inside its quiet hours and go
out batched (one message per account and event) when the window ends; a reminder whose posting
is overdue or gone by then is dropped (the urgent alert covers it).

Every route gets messages within its service's own limit (`route_limit`: the Apprise plugin's
`body_maxlen`, in bytes for the services that count bytes, such as WeCom bots): a longer alert
goes out as numbered parts (`render_parts_with_postings`). The route is marked delivered only
when every part was accepted. After each accepted part the posting numbers it held are recorded
for every delivery merged into the message (`Store.mark_parts_sent`); when one part fails, the
alert stays due for that route and the next try renders and sends only the postings not yet
sent, in parts numbered afresh. So a posting reaches a route twice only when the process dies
between a part's acceptance and that record. A delivery whose postings were all sent (the
refused part held only the "and N more" line) is marked delivered without another message.

A posting whose warehouse has a working calendar gets its working time left at the moment of
sending (`working_seconds_left` in its payload item) for the message to show beside clock time.

Logs name a route as `notify[N]` with only the scheme and host of its URL (`Route.shown_as`),
never a token. Imports apprise, the store, notify.render, notify.routes and the working-time
arithmetic (`daemon.worktime`); never config, the Ozon client or the CLI.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from daemon.notify.render import (
    Message,
    MessageLimit,
    fit,
    has_deadline,
    parse_time,
    render_parts_with_postings,
)
from daemon.notify.routes import Route, Router
from daemon.redact import redact_text
from daemon.store import Delivery, Store
from daemon.worktime import WarehouseCalendars, working_seconds_left

__all__ = ["DeliveryReport", "Outbox", "apprise_send", "route_limit"]

log = structlog.get_logger(__name__)

RETRY_BASE = timedelta(seconds=15)
RETRY_CAP = timedelta(minutes=30)

Sender = Callable[[str, Message], Awaitable[bool]]
# Services whose limit (Apprise's body_maxlen) is a number of UTF-8 bytes, not characters: a
# WeCom group bot refuses a text over 2,048 bytes, which is ~680 Chinese characters.
BYTE_LIMITED_SCHEMES = frozenset({"wecombot"})


def route_limit(url: str) -> MessageLimit | None:
    """The message limit of the service behind the Apprise `url`: its plugin's `body_maxlen`
    (bytes for BYTE_LIMITED_SCHEMES, else characters), counting the title too when the
    service has no title field (`title_maxlen` 0: Apprise puts it in the body). None when
    Apprise does not know the URL or the plugin sets no limit."""
    import apprise

    # Only a question about the service: a URL Apprise cannot read is reported when it is
    # sent to (or by `check --notify`), not here as well (the demo's console:// route).
    quiet = logging.getLogger("apprise")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        instance = apprise.Apprise.instantiate(url)
    finally:
        quiet.setLevel(level)
    size = int(getattr(instance, "body_maxlen", 0) or 0) if instance is not None else 0
    if size <= 0:
        return None
    scheme = url.split("://", 1)[0].lower()
    return MessageLimit(
        size,
        "bytes" if scheme in BYTE_LIMITED_SCHEMES else "chars",
        title_in_body=int(getattr(instance, "title_maxlen", 0) or 0) <= 0,
    )


async def apprise_send(url: str, message: Message) -> bool:
    """Send `message` to one Apprise URL as plain text; True when Apprise reports success."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return False
    result = await notifier.async_notify(
        title=message.title, body=message.body, body_format=apprise.NotifyFormat.TEXT
    )
    return bool(result)


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next try after `attempts` failed ones: 15 s doubling, capped at 30 m."""
    delay: timedelta = RETRY_BASE * (2 ** max(0, attempts - 1))
    return min(RETRY_CAP, delay)


@dataclass
class DeliveryReport:
    """What one delivery round did, counted per (route index, outcome)."""

    sent: int = 0
    failed: int = 0
    postponed: int = 0
    dropped: int = 0
    messages: list[tuple[int, str, Message]] = field(default_factory=list)


class Outbox:
    """Delivers due alerts of `store` to the routes of `router`.

    `sender(url, message)` is Apprise by default (tests may pass another); `zone` and
    `language` shape the messages; `now()` gives aware UTC time; `on_result(event, result)`
    (result "sent", "failed" or "dropped") is called per message, for metrics; `calendars`
    give the working time left of postings whose warehouse has a working calendar.
    """

    def _count(self, event: str, result: str) -> None:
        if self.on_result is not None:
            self.on_result(event, result)

    def __init__(
        self,
        store: Store,
        router: Router,
        *,
        zone: ZoneInfo,
        language: str,
        now: Callable[[], datetime],
        sender: Sender = apprise_send,
        on_result: Callable[[str, str], object] | None = None,
        calendars: WarehouseCalendars | None = None,
    ) -> None:
        self.store = store
        self.calendars = calendars
        self.on_result = on_result
        self.router = router
        self.zone = zone
        self.language = language
        self.now = now
        self.sender = sender
        self._lock = asyncio.Lock()
        self._limits: dict[str, MessageLimit | None] = {}

    def _limit(self, route: Route) -> MessageLimit | None:
        if route.id not in self._limits:
            self._limits[route.id] = route_limit(route.url)
        return self._limits[route.id]

    async def send_now(self, event: str, message: Message) -> int:
        """Send `message` straight to every level-0 route that takes `event`, without the store
        (for `database_unwritable`: the outbox cannot be written then). No retry; returns how
        many routes accepted it; a failure is logged per route."""
        routes = [r for r in self.router.routes if event in r.events and r.level == 0]
        clean = Message(redact_text(message.title), redact_text(message.body))
        results = await asyncio.gather(*(self._send_once(route, clean) for route in routes))
        for route, error in zip(routes, results, strict=True):
            self._count(event, "failed" if error else "sent")
            where = {"alert": event, "route": f"notify[{route.index}]", "route_url": route.shown_as}
            if error:
                log.warning("alert_delivery_failed", **where, attempts=1, reason=error)
            else:
                log.info("alert_sent", **where, direct=True)
        return sum(1 for error in results if not error)

    async def _send_once(self, route: Route, message: Message) -> str:
        """Send one message to `route`; "" when accepted, else why not."""
        limit = self._limit(route)
        try:
            if await self.sender(route.url, fit(message, limit) if limit else message):
                return ""
        except Exception as err:  # noqa: BLE001 - a broken route must never stop the daemon
            return redact_text(f"{type(err).__name__}: {err}")
        return "the notification service did not accept the message"

    async def deliver_due(self) -> DeliveryReport:
        """Deliver every due alert to every route; one route failing never stops the others."""
        async with self._lock:
            report = DeliveryReport()
            now = self.now()
            dropped = self.store.drop_routes_except(
                [route.id for route in self.router.routes], "route removed from the config", now
            )
            report.dropped += dropped
            await asyncio.gather(
                *(self._deliver_route(route, now, report) for route in self.router.routes)
            )
            return report

    async def _deliver_route(self, route: Route, now: datetime, report: DeliveryReport) -> None:
        due = self.store.deliveries_due(now, route_id=route.id)
        if not due:
            return
        local = now.astimezone(self.zone)
        quiet = route.is_quiet(local)
        batches: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
        for delivery in due:
            alert = delivery.alert
            if _all_sent(delivery):
                self.store.mark_delivered(alert.id, route.id, now)
                log.info(
                    "alert_sent",
                    account=alert.account,
                    alert=alert.event,
                    route=f"notify[{route.index}]",
                    route_url=route.shown_as,
                    postings=0,
                    parts=0,
                )
                continue
            if quiet and not alert.urgent:
                until = route.quiet_until(local)
                self.store.postpone(alert.id, route.id, until)
                report.postponed += 1
                continue
            batches[(alert.account, alert.event)].append(delivery)
        for (account, event), deliveries in batches.items():
            payload = self._merge(deliveries, now)
            if payload is None:
                for delivery in deliveries:
                    self.store.drop(delivery.alert.id, route.id, "covered by a later alert", now)
                    report.dropped += 1
                self._count(event, "dropped")
                continue
            await self._send(route, account, event, deliveries, payload, now, report)

    def _merge(self, deliveries: Sequence[Delivery], now: datetime) -> dict[str, Any] | None:
        """One payload for alerts of the same account and event; stale reminders removed.

        A posting already sent to the route in an accepted part of an earlier try (for that
        alert) is left out. Returns None when nothing is left to say (every reminder's posting
        is overdue or gone).
        """
        first = deliveries[0].alert
        postings: dict[str, dict[str, Any]] = {}
        total = 0
        resumed = False
        for delivery in deliveries:
            payload = delivery.alert.payload
            items = payload.get("postings") or []
            left = [item for item in items if item["posting_number"] not in delivery.sent_postings]
            resumed = resumed or len(left) < len(items)
            total += int(payload.get("total") or len(items)) - (len(items) - len(left))
            for item in left:
                postings.setdefault(item["posting_number"], item)
        if first.event == "reminder" and "escalation" not in first.payload:
            fresh = {n: p for n, p in postings.items() if self._still_due(first.account, p, now)}
            total -= len(postings) - len(fresh)
            postings = fresh
            if not postings:
                return None
        merged = dict(first.payload)
        if len(deliveries) > 1 or first.event == "reminder" or resumed:
            merged["postings"] = list(postings.values())
            merged["total"] = max(total, len(postings))
        return merged

    def _with_working_time(self, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
        """`payload` with the working time left at `now` of each posting whose warehouse has a
        working calendar (`working_seconds_left`); the others as they are."""
        calendars, items = self.calendars, payload.get("postings") or []
        if not calendars or not items:
            return payload
        annotated = []
        for item in items:
            deadline = parse_time(item["shipment_date"])
            calendar = (
                calendars.for_warehouse(item["warehouse_id"]) if "warehouse_id" in item else None
            )  # a payload stored before warehouse ids were kept: its calendar is not known
            if calendar is not None and has_deadline(deadline):
                item = {
                    **item,
                    "working_seconds_left": working_seconds_left(calendar, now, deadline),
                }
            annotated.append(item)
        return {**payload, "postings": annotated}

    def _still_due(self, account: str, item: dict[str, Any], now: datetime) -> bool:
        if parse_time(item["shipment_date"]) <= now:
            return False
        cached = self.store.posting(item["posting_number"], now, account=account)
        return cached is None or cached.watched

    async def _send(
        self,
        route: Route,
        account: str,
        event: str,
        deliveries: Sequence[Delivery],
        payload: dict[str, Any],
        now: datetime,
        report: DeliveryReport,
    ) -> None:
        rendered = render_parts_with_postings(
            self._with_working_time(payload, now), now, self.zone, self.language,
            self._limit(route),
        )  # fmt: skip
        parts = [  # the payload was masked when stored; this covers what rendering added
            Message(redact_text(part.title), redact_text(part.body)) for part, _ in rendered
        ]
        ids = [delivery.alert.id for delivery in deliveries]
        sent = 0
        error = ""
        for part, (_, numbers) in zip(parts, rendered, strict=True):
            try:
                ok = await self.sender(route.url, part)
                error = "the notification service did not accept the message"
            except Exception as err:  # noqa: BLE001 - a broken route must never stop the daemon
                ok, error = False, f"{type(err).__name__}: {err}"
            if not ok:
                break
            sent += 1
            if len(parts) > 1 and numbers:  # a retry leaves these postings out
                self.store.mark_parts_sent(ids, route.id, numbers)
        if sent == len(parts):
            for alert_id in ids:
                self.store.mark_delivered(alert_id, route.id, now)
            report.sent += 1
            self._count(event, "sent")
            report.messages.extend((route.index, event, part) for part in parts)
            log.info(
                "alert_sent",
                account=account,
                alert=event,
                route=f"notify[{route.index}]",
                route_url=route.shown_as,
                postings=payload.get("total", 0),
                parts=len(parts),
            )
            return
        if len(parts) > 1:
            error = f"part {sent + 1} of {len(parts)}: {error}"
        attempts = max(delivery.attempts for delivery in deliveries) + 1
        next_try = now + retry_delay(attempts)
        for alert_id in ids:
            self.store.mark_failed(alert_id, route.id, error, next_try)
        report.failed += 1
        self._count(event, "failed")
        log.warning(
            "alert_delivery_failed",
            account=account,
            alert=event,
            route=f"notify[{route.index}]",
            route_url=route.shown_as,
            attempts=attempts,
            parts_sent=sent,
            parts=len(parts),
            next_try_at=next_try.isoformat(),
            reason=error,
        )


def _all_sent(delivery: Delivery) -> bool:
    """True when every posting of the alert already reached the route in accepted parts."""
    items = delivery.alert.payload.get("postings") or []
    return bool(items) and all(item["posting_number"] in delivery.sent_postings for item in items)
