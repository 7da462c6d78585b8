"""An account's outage as two log lines, not one per retry (like Home Assistant's coordinator).

`Outage.note(path, error)` is told the outcome of every attempt of one account's requests. A
failed attempt (no usable answer: transport error, 429, 5xx, a cancel of unknown outcome) is
not an outage by itself: a request that fails and then succeeds within its budget logs nothing
here. When the attempts have kept failing (OUTAGE_ATTEMPTS in a row, or for OUTAGE_AFTER
seconds) it logs one warning `ozon_unavailable` with the reason; the next answer (a success or
Ozon's own error, which is an answer too) logs one info `ozon_recovered` with how long it
lasted. The `api_error` / `recovered` alerts are the cycle's business, not this module's.

This module imports structlog, the standard library and `daemon.ozon.errors`.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from daemon.ozon.errors import (
    OzonAPIError,
    OzonCancelOutcomeUnknown,
    OzonError,
    OzonRateLimited,
    OzonTransportError,
)

__all__ = ["OUTAGE_AFTER", "OUTAGE_ATTEMPTS", "Outage"]

log = structlog.get_logger(__name__)

OUTAGE_ATTEMPTS = 3  # failed attempts in a row that make an outage...
OUTAGE_AFTER = 30.0  # ... or seconds of failing attempts

_FAILURES = (OzonTransportError, OzonRateLimited, OzonCancelOutcomeUnknown)


class Outage:
    """The run of failed attempts of one account (`client_id`), timed by `clock` (seconds)."""

    def __init__(self, client_id: str, clock: Callable[[], float]) -> None:
        self._client_id, self._clock = client_id, clock
        self.failures, self.since, self.reported = 0, 0.0, False

    def note(self, path: str, error: OzonError | None) -> None:
        """Note one attempt on `path`: `error` None (an answer) or the OzonError it raised.

        Logs `ozon_unavailable` (warning) when the failures become an outage and
        `ozon_recovered` (info) at the first answer after one; nothing otherwise.
        """
        now = self._clock()
        if isinstance(error, _FAILURES):
            self.since = self.since if self.failures else now
            self.failures += 1
            if self.reported or (
                self.failures < OUTAGE_ATTEMPTS and now - self.since < OUTAGE_AFTER
            ):
                return
            self.reported = True
            log.warning(
                "ozon_unavailable",
                client_id=self._client_id,
                path=path,
                status=getattr(error, "status", None),
                attempts=self.failures,
                duration=round(now - self.since, 1),
                reason=str(error),
            )
        elif error is None or isinstance(error, OzonAPIError):
            if self.reported:
                duration = round(now - self.since, 1)
                log.info("ozon_recovered", client_id=self._client_id, duration=duration)
            self.failures, self.reported = 0, False
