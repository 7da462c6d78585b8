"""Prometheus metrics of the daemon, in a registry of their own (never the global one).

`Metrics` has one method per thing the service, the cycle and the Ozon client report:

- `cycle_finished(account, ok, duration)`: `ozon_sync_cycles_total{account,result}` and
  `ozon_sync_cycle_duration_seconds{account}`
- `api_request(path, status, retried)` or `on_request(event)` (the OzonClient callback):
  `ozon_sync_api_requests_total{method,path,status}` (status "none": no response),
  `ozon_sync_api_retries_total{method,path}`, `ozon_sync_api_request_duration_seconds{method,path}`
- `alert(event, result)`: `ozon_sync_alerts_total{event,result}` (sent, failed, dropped)
- `cancellation(result)`: `ozon_sync_cancellations_total{result}`
- `set_postings(account, watched, overdue)`: `ozon_sync_watched_postings{account}`,
  `ozon_sync_overdue_postings{account}`
- `sync_succeeded(account, at)`: `ozon_sync_last_success_timestamp_seconds{account}`

Every method is cheap and thread-safe (prometheus-client locks), so it may be called from the
event loop while the HTTP thread scrapes. `render()` gives the text exposition format.

This module imports only prometheus-client and the standard library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["NO_RESPONSE", "Metrics", "RequestLike"]

NO_RESPONSE = "none"  # the status label of an attempt that got no HTTP response
CYCLE_RESULTS = ("ok", "failed")
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RequestLike(Protocol):
    """What `on_request` reads: the Ozon client's RequestEvent has these attributes."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def duration(self) -> float: ...
    @property
    def retried(self) -> bool: ...


class Metrics:
    """The daemon's metrics; `accounts` pre-creates their series so they show up at zero."""

    def __init__(self, accounts: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._cycles = Counter(
            "ozon_sync_cycles",
            "Sync cycles finished, by account and result",
            ["account", "result"],
            registry=r,
        )
        self._cycle_seconds = Histogram(
            "ozon_sync_cycle_duration_seconds",
            "How long a sync cycle took",
            ["account"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._requests = Counter(
            "ozon_sync_api_requests",
            "HTTP attempts to the Ozon Seller API, by outcome",
            ["method", "path", "status"],
            registry=r,
        )
        self._retries = Counter(
            "ozon_sync_api_retries",
            "Ozon API attempts that were followed by a retry",
            ["method", "path"],
            registry=r,
        )
        self._request_seconds = Histogram(
            "ozon_sync_api_request_duration_seconds",
            "How long one Ozon API attempt took",
            ["method", "path"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self._alerts = Counter(
            "ozon_sync_alerts",
            "Alert deliveries by event and result (sent, failed, dropped)",
            ["event", "result"],
            registry=r,
        )
        self._cancellations = Counter(
            "ozon_sync_cancellations", "Cancellation attempts by result", ["result"], registry=r
        )
        self._watched = Gauge(
            "ozon_sync_watched_postings",
            "Postings that still have to leave",
            ["account"],
            registry=r,
        )
        self._overdue = Gauge(
            "ozon_sync_overdue_postings",
            "Watched postings past their shipment_date",
            ["account"],
            registry=r,
        )
        self._last_success = Gauge(
            "ozon_sync_last_success_timestamp_seconds",
            "Unix time of the account's last successful sync",
            ["account"],
            registry=r,
        )
        for account in accounts:
            self.add_account(account)

    def add_account(self, account: str) -> None:
        """Create the account's series (cycles at 0), so alerts on rate() work from the start."""
        for result in CYCLE_RESULTS:
            self._cycles.labels(account=account, result=result)
        self._watched.labels(account=account)
        self._overdue.labels(account=account)

    def forget_account(self, account: str) -> None:
        """Drop every series of an account removed from the config (after a reload)."""
        for result in CYCLE_RESULTS:
            _remove(self._cycles, account, result)
        for metric in (self._cycle_seconds, self._watched, self._overdue, self._last_success):
            _remove(metric, account)

    def cycle_finished(self, account: str, ok: bool, duration: float) -> None:
        """Count one finished cycle of `account` (ok or failed) and observe its `duration` (s)."""
        self._cycles.labels(account=account, result="ok" if ok else "failed").inc()
        self._cycle_seconds.labels(account=account).observe(duration)

    def api_request(
        self,
        path: str,
        status: int | None,
        retried: bool,
        *,
        method: str = "POST",
        duration: float | None = None,
    ) -> None:
        """Count one HTTP attempt to Ozon: `status` None means no response came."""
        label = NO_RESPONSE if status is None else str(status)
        self._requests.labels(method=method, path=path, status=label).inc()
        if retried:
            self._retries.labels(method=method, path=path).inc()
        if duration is not None:
            self._request_seconds.labels(method=method, path=path).observe(duration)

    def on_request(self, event: RequestLike) -> None:
        """The Ozon client's `on_request` callback: records a RequestEvent."""
        self.api_request(
            event.path, event.status, event.retried, method=event.method, duration=event.duration
        )

    def alert(self, event: str, result: str) -> None:
        """Count one alert delivery: `event` an event name, `result` sent, failed or dropped."""
        self._alerts.labels(event=event, result=result).inc()

    def cancellation(self, result: str) -> None:
        """Count one cancellation attempt by `result` (e.g. cancelled, failed, unknown, skipped)."""
        self._cancellations.labels(result=result).inc()

    def set_postings(self, account: str, watched: int, overdue: int) -> None:
        """Set how many postings `account` has watched and how many of them are overdue."""
        self._watched.labels(account=account).set(watched)
        self._overdue.labels(account=account).set(overdue)

    def sync_succeeded(self, account: str, at: datetime) -> None:
        """Record the time (aware) of `account`'s last successful sync."""
        self._last_success.labels(account=account).set(at.timestamp())

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)


def _remove(metric: Counter | Gauge | Histogram, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # the series was never created
        metric.remove(*labels)
