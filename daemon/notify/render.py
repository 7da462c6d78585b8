"""Alert messages for people on a phone: pure text in English, Chinese or Russian.

PURE: `render(alert, now, zone, language)` turns one outbox alert (its JSON payload, see
`AlertPayload`) into a short title and a plain-text body. No I/O, no clock: `now` is passed in,
so "time left" is correct at the moment of sending. The text holds no Markdown or HTML markup,
and text that comes from outside (posting numbers, statuses, warehouse names, reasons, error
texts) goes through `clean`: no markup, control, line-separator or bidi characters, and at most
FIELD_CAP characters per field (REASON_CAP for an account-level error text).

`render_parts(alert, ..., limit)` keeps a message within one route's `MessageLimit` (WeCom bots
take 2,048 bytes, Telegram 4,096 characters): an alert over it becomes numbered parts, "(1/3)"
in each title, split between postings, never inside one posting's lines; every part names the
account. A posting deadline of year 2100 or later is Ozon's "no deadline" and shown as such.

Payload (built by the cycle, stored in the outbox as JSON):
    {"event": "reminder", "account": "shop-1", "total": 3,
     "postings": [{"posting_number", "status", "warehouse", "shipment_date" (RFC 3339),
                   "reason", "working_seconds_left" (when a calendar applies; the outbox
                   adds it at sending time), ...}, ...],  # the most urgent first; may be cut
     "reason": "...",                            # account-level events (api_error, ...)
     "digest": {...}}                            # digest counts, for event "digest", with
                                                 # "closed_days" (notify.calendar_text)

Imports only the standard library, the building blocks of a message (`notify.text`, whose
public names it re-exports), the digest's message (`notify.digest`), the calendar lines
(`notify.calendar_text`) and the event-specific lines (`notify.details`: the advice, a tariff
step, missing data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from daemon.notify.calendar_text import closed_days_text
from daemon.notify.details import detail_lines
from daemon.notify.digest import render_digest
from daemon.notify.text import (
    FIELD_CAP,
    MAX_LISTED,
    MOSCOW,
    REASON_CAP,
    Message,
    MessageLimit,
    clean,
    deadline_text,
    has_deadline,
    parse_time,
    plain,
    span,
    status_text,
    words,
)

__all__ = [
    "FIELD_CAP",
    "MAX_LISTED",
    "MOSCOW",
    "REASON_CAP",
    "Message",
    "MessageLimit",
    "clean",
    "deadline_text",
    "fit",
    "has_deadline",
    "parse_time",
    "plain",
    "render",
    "render_database_unwritable",
    "render_parts",
    "render_parts_with_postings",
    "render_test_message",
    "span",
    "status_text",
]

_PART_RESERVE = " (99/99)"  # room kept in a part's title for its number


def _deadline_line(
    deadline: datetime, now: datetime, zone: ZoneInfo, language: str, working: object = None
) -> str:
    """The deadline, the time left and, when `working` (seconds) is given and the deadline is
    ahead, the working time left beside it."""
    w = words(language)
    if not has_deadline(deadline):
        return f"{w['deadline']}: {w['no_deadline']}"
    line = (
        f"{w['deadline']}: {deadline_text(deadline, zone)}, {_left_text(deadline, now, language)}"
    )
    if isinstance(working, int) and not isinstance(working, bool) and deadline > now:
        span_text = span(timedelta(seconds=max(0, working)), language)
        line += w["working_left"].format(span=span_text)
    return line


def _left_text(deadline: datetime, now: datetime, language: str) -> str:
    w = words(language)
    if not has_deadline(deadline):
        return w["no_deadline"]
    delta = deadline - now
    if delta > timedelta(0):
        return (
            f"{span(delta, language)} {w['left']}"
            if language != "zh"
            else (f"{w['left']} {span(delta, language)}")
        )
    return f"{w['overdue_by']} {span(delta, language)}"


def _posting_lines(
    item: Mapping[str, Any], now: datetime, zone: ZoneInfo, language: str, event: str
) -> list[str]:
    w = words(language)
    deadline = parse_time(item["shipment_date"])
    head = (
        f"{clean(str(item['posting_number']))} | "
        f"{status_text(str(item.get('status', '')), language)}"
        f" | {w['warehouse']}: {clean(str(item.get('warehouse') or '-'))}"
    )
    working = item.get("working_seconds_left")
    lines = [head, "  " + _deadline_line(deadline, now, zone, language, working)]
    if event in {
        "would_cancel",
        "cancelled",
        "cancel_failed",
        "cancelled_elsewhere",
        "deadline_changed",
    } and item.get("reason"):
        lines.append(f"  {w['reason']}: {clean(str(item['reason']))}")
    lines += detail_lines(item, event, zone, language, clean)  # advice, tariff, missing data
    return lines


def render(
    alert: Mapping[str, Any], now: datetime, zone: ZoneInfo, language: str = "en"
) -> Message:
    """Render one outbox alert for people, as one message whatever its length.

    `alert` is the payload described in the module docstring; `now` is aware UTC. Postings
    are listed most urgent first, at most MAX_LISTED, then "and N more".
    """
    return _compose(alert, now, zone, language).whole()


def render_parts(
    alert: Mapping[str, Any],
    now: datetime,
    zone: ZoneInfo,
    language: str,
    limit: MessageLimit | None,
) -> list[Message]:
    """Render one outbox alert as the messages one route takes: `[render(...)]` when it fits
    `limit` (or there is none), else numbered parts, each within `limit`, split between the
    postings' blocks of lines (a block is cut only if it alone is over the limit)."""
    return [message for message, _ in render_parts_with_postings(alert, now, zone, language, limit)]


def render_parts_with_postings(
    alert: Mapping[str, Any],
    now: datetime,
    zone: ZoneInfo,
    language: str,
    limit: MessageLimit | None,
) -> list[tuple[Message, tuple[str, ...]]]:
    """As `render_parts`, each part with the posting numbers (as in the payload) whose lines it
    holds: empty for an alert without postings and for the "and N more" line."""
    draft = _compose(alert, now, zone, language)
    whole = draft.whole()
    every = tuple(number for numbers in draft.numbers for number in numbers)
    if limit is None or limit.fits(whole):
        return [(whole, every)]
    if len(draft.blocks) < 2:
        return [(_cut(whole, limit), every)]
    room = draft.title + _PART_RESERVE
    groups: list[list[int]] = []
    current: list[int] = []
    for index, block in enumerate(draft.blocks):
        blocks = [draft.blocks[i] for i in current]
        if current and not limit.fits(Message(room, draft.body([*blocks, block]))):
            groups.append(current)
            current = []
        current.append(index)
    groups.append(current)
    count = len(groups)
    return [
        (
            _cut(
                Message(
                    f"{draft.title} ({number}/{count})",
                    draft.body([draft.blocks[i] for i in group]),
                ),
                limit,
            ),
            tuple(posting for i in group for posting in draft.numbers[i]),
        )
        for number, group in enumerate(groups, start=1)
    ]


def fit(message: Message, limit: MessageLimit) -> Message:
    """`message` shortened (ending in "…") so that a route with `limit` takes it whole."""
    return _cut(message, limit)


def _cut(message: Message, limit: MessageLimit) -> Message:
    """`message` with its body (then its title) shortened to fit `limit`, ending in "…"."""
    if limit.fits(message):
        return message
    body = message.body
    low, high = 0, len(body)  # the longest body prefix that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if limit.fits(Message(message.title, body[:middle].rstrip() + "…")):
            low = middle
        else:
            high = middle - 1
    cut = Message(message.title, body[:low].rstrip() + "…")
    if limit.fits(cut):
        return cut
    title = message.title
    while title and not limit.fits(Message(title + "…", "…")):
        title = title[: len(title) // 2]
    return Message(title + "…", "…")


@dataclass(frozen=True)
class _Draft:
    """A rendered alert before it becomes messages: its title, its first block (the account)
    and one block of lines per posting (the "and N more" line is the last block); `numbers`
    gives, per block, the posting numbers it shows (none for "and N more")."""

    title: str
    head: str
    blocks: tuple[str, ...]
    numbers: tuple[tuple[str, ...], ...] = ()

    def body(self, blocks: Sequence[str]) -> str:
        return "\n\n".join([self.head, *blocks])

    def whole(self) -> Message:
        return Message(title=self.title, body=self.body(self.blocks))


def _compose(alert: Mapping[str, Any], now: datetime, zone: ZoneInfo, language: str) -> _Draft:
    w = words(language)
    event = str(alert["event"])
    account = clean(str(alert.get("account", "")))
    postings: Sequence[Mapping[str, Any]] = alert.get("postings") or []
    if event == "digest":
        digest = render_digest(alert, account, language)
        days = closed_days_text(alert, language, lambda moment: deadline_text(moment, zone), clean)
        return _Draft(digest.title, digest.body + days, ())
    if not postings:
        reason = clean(str(alert.get("reason", "")), REASON_CAP)
        head = f"{w['account']}: {account}\n{reason}".strip()
        return _Draft(f"[{account}] {w[event]}", head, ())
    ordered = sorted(
        postings, key=lambda item: (str(item["shipment_date"]), str(item["posting_number"]))
    )
    total = int(alert.get("total") or len(ordered))
    first = parse_time(ordered[0]["shipment_date"])
    noun = w["posting"] if total == 1 else w["postings"]
    title = (
        f"[{account}] {w[event]}: {total} {noun}, {w['next']} {_left_text(first, now, language)}"
    )
    head = f"{w['account']}: {account}"
    escalation = alert.get("escalation")
    if isinstance(escalation, Mapping):  # nobody acknowledged: told to the next level
        level = int(escalation.get("level", 1))
        after = span(timedelta(seconds=int(escalation.get("after_seconds", 0))), language)
        title = f"{w['escalated'].format(level=level)} · {title}"
        head += "\n" + w["not_acked"].format(after=after)
    blocks = [
        "\n".join(_posting_lines(item, now, zone, language, event)) for item in ordered[:MAX_LISTED]
    ]
    numbers: list[tuple[str, ...]] = [
        (str(item["posting_number"]),) for item in ordered[:MAX_LISTED]
    ]
    if total > MAX_LISTED:
        blocks.append(w["more"].format(n=total - MAX_LISTED))
        numbers.append(())
    if event == "at_risk":
        head += f"\n{w['at_risk_note']}"
    return _Draft(title, head, tuple(blocks), tuple(numbers))


def render_test_message(accounts: Sequence[str], language: str = "en") -> Message:
    """The message `check --notify` sends to every route."""
    w = words(language)
    names = ", ".join(clean(name) for name in accounts) or "-"
    return Message(title=f"ozon-sync: {w['test']}", body=w["test_body"].format(accounts=names))


def render_database_unwritable(reason: str, cycles: int, language: str = "en") -> Message:
    """The message `run` sends straight to every route when the state database refuses a
    write (`database_unwritable`); `reason` is the store's one-line error (no secret in it),
    `cycles` the failed cycles after which the daemon stops."""
    w = words(language)
    body = w["db_body"].format(reason=clean(reason, REASON_CAP), cycles=cycles)
    return Message(title=f"ozon-sync: {w['database_unwritable']}", body=body)
