"""Alert messages for people on a phone: pure text in English, Chinese or Russian.

PURE: `render(alert, now, zone, language)` turns one outbox alert (its JSON payload, see
`AlertPayload`) into a short title and a plain-text body. No I/O, no clock: `now` is passed in,
so "time left" is correct at the moment of sending. The text holds no Markdown or HTML markup,
and text that comes from Ozon (warehouse names, reasons) is cleaned of characters that a
Markdown parser would take as markup, so no route can mangle it.

Payload (built by the cycle, stored in the outbox as JSON):
    {"event": "reminder", "account": "shop-1", "total": 3,
     "postings": [{"posting_number", "status", "warehouse", "shipment_date" (RFC 3339),
                   "reason", ...}, ...],        # the most urgent first; may be cut short
     "reason": "...",                            # account-level events (api_error, ...)
     "digest": {...}}                            # digest counts, for event "digest"

Imports only the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["MAX_LISTED", "Message", "parse_time", "render", "render_test_message"]

MAX_LISTED = 20
MOSCOW = ZoneInfo("Europe/Moscow")
_MARKUP = re.compile(r"[*_`\[\]~|#\\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Message:
    """A rendered alert: a short title and a plain-text body."""

    title: str
    body: str


def parse_time(text: str) -> datetime:
    """Parse the RFC 3339 UTC text the payloads carry into an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def clean(text: str) -> str:
    """Text from outside (Ozon, error messages) made safe for any parser: no markup
    characters, no control characters, no line breaks."""
    text = _CONTROL.sub(" ", text).replace("\n", " ").replace("->", "→")
    return _MARKUP.sub(" ", text).strip()


# ---------------------------------------------------------------- words per language

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "reminder": "Ship soon",
        "overdue": "OVERDUE",
        "would_cancel": "Would cancel",
        "cancelled": "Cancelled by ozon-sync",
        "cancel_failed": "Cancellation FAILED",
        "deadline_changed": "Deadline moved",
        "cancelled_elsewhere": "Cancelled outside ozon-sync",
        "api_error": "Ozon API not working",
        "recovered": "Ozon API working again",
        "key_expiring": "API key expires soon",
        "digest": "Daily summary",
        "test": "Test message",
        "postings": "postings",
        "posting": "posting",
        "left": "left",
        "late": "late",
        "overdue_by": "overdue by",
        "deadline": "deadline",
        "warehouse": "warehouse",
        "status": "status",
        "reason": "reason",
        "more": "and {n} more",
        "account": "account",
        "next": "most urgent",
        "test_body": "ozon-sync can reach this route. Alerts for account(s) {accounts} "
        "will arrive here.",
        "d_watched": "watched postings",
        "d_due": "due in the next 24 h",
        "d_overdue": "overdue now",
        "d_cancelled": "cancelled in the last 24 h",
        "d_late": "shipped late in the last 24 h",
        "d_share": "shipped after the deadline, last 14 days",
        "d_none": "no data yet",
    },
    "zh": {
        "reminder": "即将到发货截止时间",
        "overdue": "已超时未发货",
        "would_cancel": "建议取消（未执行）",
        "cancelled": "ozon-sync 已取消",
        "cancel_failed": "取消失败",
        "deadline_changed": "发货截止时间已变更",
        "cancelled_elsewhere": "订单已在别处取消",
        "api_error": "Ozon API 无法访问",
        "recovered": "Ozon API 已恢复",
        "key_expiring": "API 密钥即将过期",
        "digest": "每日汇总",
        "test": "测试消息",
        "postings": "个货件",
        "posting": "个货件",
        "left": "剩余",
        "late": "超时",
        "overdue_by": "已超时",
        "deadline": "截止",
        "warehouse": "仓库",
        "status": "状态",
        "reason": "原因",
        "more": "还有 {n} 个",
        "account": "店铺",
        "next": "最紧急",
        "test_body": "ozon-sync 可以访问此通知渠道。店铺 {accounts} 的提醒将发送到这里。",
        "d_watched": "监控中的货件",
        "d_due": "24 小时内到期",
        "d_overdue": "当前已超时",
        "d_cancelled": "过去 24 小时取消",
        "d_late": "过去 24 小时延迟发货",
        "d_share": "近 14 天超时发货比例",
        "d_none": "暂无数据",
    },
    "ru": {
        "reminder": "Скоро срок отгрузки",
        "overdue": "ПРОСРОЧЕНО",
        "would_cancel": "Отменил бы (не отменено)",
        "cancelled": "Отменено ozon-sync",
        "cancel_failed": "Отмена НЕ удалась",
        "deadline_changed": "Срок отгрузки изменён",
        "cancelled_elsewhere": "Отменено вне ozon-sync",
        "api_error": "Ozon API не отвечает",
        "recovered": "Ozon API снова работает",
        "key_expiring": "API-ключ скоро истекает",
        "digest": "Сводка за день",
        "test": "Тестовое сообщение",
        "postings": "отправлений",
        "posting": "отправление",
        "left": "осталось",
        "late": "просрочка",
        "overdue_by": "просрочено на",
        "deadline": "срок",
        "warehouse": "склад",
        "status": "статус",
        "reason": "причина",
        "more": "и ещё {n}",
        "account": "магазин",
        "next": "ближайший срок",
        "test_body": "ozon-sync может отправлять сюда. Уведомления магазинов {accounts} "
        "будут приходить сюда.",
        "d_watched": "отправлений под наблюдением",
        "d_due": "срок в ближайшие 24 ч",
        "d_overdue": "просрочено сейчас",
        "d_cancelled": "отменено за 24 ч",
        "d_late": "отгружено с опозданием за 24 ч",
        "d_share": "доля отгруженных после срока, 14 дней",
        "d_none": "данных пока нет",
    },
}

_STATUSES: dict[str, dict[str, str]] = {
    "en": {
        "awaiting_packaging": "awaiting packaging",
        "awaiting_deliver": "awaiting hand-over",
        "awaiting_approve": "awaiting approval",
        "awaiting_registration": "awaiting registration",
        "acceptance_in_progress": "acceptance in progress",
        "cancelled": "cancelled",
        "delivering": "delivering",
    },
    "zh": {
        "awaiting_packaging": "等待打包",
        "awaiting_deliver": "等待交运",
        "awaiting_approve": "等待确认",
        "awaiting_registration": "等待登记",
        "acceptance_in_progress": "验收中",
        "cancelled": "已取消",
        "delivering": "配送中",
    },
    "ru": {
        "awaiting_packaging": "ожидает сборки",
        "awaiting_deliver": "ожидает отгрузки",
        "awaiting_approve": "ожидает подтверждения",
        "awaiting_registration": "ожидает регистрации",
        "acceptance_in_progress": "идёт приёмка",
        "cancelled": "отменено",
        "delivering": "доставляется",
    },
}

_UNITS = {
    "en": ("d", "h", "m", "s"),
    "zh": ("天", "小时", "分", "秒"),
    "ru": ("д", "ч", "мин", "с"),
}


def _words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["en"])


def span(delta: timedelta, language: str) -> str:
    """A duration for people, two largest units: "2d 3h", "2天3小时", "2д 3ч"."""
    seconds = abs(int(delta.total_seconds()))
    units = _UNITS.get(language, _UNITS["en"])
    counts: list[tuple[int, str]] = []
    for size, unit in zip((86400, 3600, 60, 1), units, strict=True):
        count, seconds = divmod(seconds, size)
        counts.append((count, unit))
    first = next((index for index, (count, _) in enumerate(counts) if count), 3)
    parts = [f"{count}{unit}" for count, unit in counts[first : first + 2] if count]
    joiner = "" if language == "zh" else " "
    return joiner.join(parts) or f"0{units[3]}"


def status_text(status: str, language: str) -> str:
    """Ozon's status in words of `language` (the raw value when there is no translation)."""
    return _STATUSES.get(language, _STATUSES["en"]).get(status, status.replace("_", " "))


def deadline_text(moment: datetime, zone: ZoneInfo) -> str:
    """`moment` in the configured zone and in Moscow time: "2026-11-26 18:00 Asia/Shanghai
    (13:00 MSK)"; only once when the zone is Moscow's."""
    local = moment.astimezone(zone)
    moscow = moment.astimezone(MOSCOW)
    if local.utcoffset() == moscow.utcoffset() and zone.key == MOSCOW.key:
        return f"{moscow:%Y-%m-%d %H:%M} MSK"
    same_day = local.date() == moscow.date()
    msk = f"{moscow:%H:%M}" if same_day else f"{moscow:%Y-%m-%d %H:%M}"
    return f"{local:%Y-%m-%d %H:%M} {zone.key} ({msk} MSK)"


def _left_text(deadline: datetime, now: datetime, language: str) -> str:
    w = _words(language)
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
    w = _words(language)
    deadline = parse_time(item["shipment_date"])
    head = (
        f"{clean(item['posting_number'])} | {status_text(item.get('status', ''), language)}"
        f" | {w['warehouse']}: {clean(item.get('warehouse') or '-')}"
    )
    lines = [
        head,
        f"  {w['deadline']}: {deadline_text(deadline, zone)}, "
        f"{_left_text(deadline, now, language)}",
    ]
    if event in {
        "would_cancel",
        "cancelled",
        "cancel_failed",
        "cancelled_elsewhere",
        "deadline_changed",
    } and item.get("reason"):
        lines.append(f"  {w['reason']}: {clean(str(item['reason']))}")
    return lines


def render(
    alert: Mapping[str, Any], now: datetime, zone: ZoneInfo, language: str = "en"
) -> Message:
    """Render one outbox alert for people.

    `alert` is the payload described in the module docstring; `now` is aware UTC. Postings
    are listed most urgent first, at most MAX_LISTED, then "and N more".
    """
    w = _words(language)
    event = str(alert["event"])
    account = clean(str(alert.get("account", "")))
    postings: Sequence[Mapping[str, Any]] = alert.get("postings") or []
    if event == "digest":
        return _render_digest(alert, account, language)
    if not postings:
        reason = clean(str(alert.get("reason", "")))
        return Message(
            title=f"[{account}] {w[event]}",
            body=f"{w['account']}: {account}\n{reason}".strip(),
        )
    ordered = sorted(postings, key=lambda item: (item["shipment_date"], item["posting_number"]))
    total = int(alert.get("total") or len(ordered))
    first = parse_time(ordered[0]["shipment_date"])
    noun = w["posting"] if total == 1 else w["postings"]
    title = (
        f"[{account}] {w[event]}: {total} {noun}, {w['next']} {_left_text(first, now, language)}"
    )
    lines = [f"{w['account']}: {account}"]
    for item in ordered[:MAX_LISTED]:
        lines.append("")
        lines.extend(_posting_lines(item, now, zone, language, event))
    if total > MAX_LISTED:
        lines.append("")
        lines.append(w["more"].format(n=total - MAX_LISTED))
    return Message(title=title, body="\n".join(lines))


def _render_digest(alert: Mapping[str, Any], account: str, language: str) -> Message:
    w = _words(language)
    counts: Mapping[str, Any] = alert.get("digest") or {}
    share = counts.get("late_share_14d")
    share_text = f"{share * 100:.1f}%" if isinstance(share, int | float) else w["d_none"]
    rows = [
        (w["d_watched"], counts.get("watched", 0)),
        (w["d_due"], counts.get("due_24h", 0)),
        (w["d_overdue"], counts.get("overdue", 0)),
        (w["d_cancelled"], counts.get("cancelled_24h", 0)),
        (w["d_late"], counts.get("shipped_late_24h", 0)),
        (w["d_share"], share_text),
    ]
    body = "\n".join([f"{w['account']}: {account}"] + [f"{name}: {value}" for name, value in rows])
    overdue = counts.get("overdue", 0)
    title = f"[{account}] {w['digest']}: {counts.get('watched', 0)} / {overdue} {w['overdue']}"
    return Message(title=title, body=body)


def render_test_message(accounts: Sequence[str], language: str = "en") -> Message:
    """The message `check --notify` sends to every route."""
    w = _words(language)
    names = ", ".join(clean(name) for name in accounts) or "-"
    return Message(title=f"ozon-sync: {w['test']}", body=w["test_body"].format(accounts=names))
