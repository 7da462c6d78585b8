"""The daily digest as a message: the account's counts, Ozon's ratings and per-warehouse
figures (`notify.details`). PURE: no I/O, no clock.

Imports only the standard library, the message's building blocks (`notify.text`) and the
digest's lines (`notify.details`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.notify.details import digest_lines
from daemon.notify.text import Message, clean, words

__all__ = ["render_digest"]


def render_digest(alert: Mapping[str, Any], account: str, language: str) -> Message:
    """The digest alert of `account` (payload `alert["digest"]`) as one message."""
    w = words(language)
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
    body = "\n".join(
        [f"{w['account']}: {account}"]
        + [f"{name}: {value}" for name, value in rows]
        + digest_lines(counts, language, clean)  # Ozon's ratings, per-warehouse figures
    )
    overdue = counts.get("overdue", 0)
    title = f"[{account}] {w['digest']}: {counts.get('watched', 0)} / {overdue} {w['overdue']}"
    return Message(title=title, body=body)
