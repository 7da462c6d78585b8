"""The simulated Ozon account: state, one lock, and the way every API request is answered.

`SandboxApp.handle` is the whole request flow, in order: added latency; apply what fell due
(scenario events, late cancels, `change_at` knob entries, each at its own moment); dropped
connections and 5xx answers (knobs); Client-Id/Api-Key check (403); rate limit per Client-Id
over a sliding 1 s window (429 with `retry-after: 1`), and the `cancel_429_for` knob; a method
forbidden to this key (403); the method itself (`methods`); broken JSON (knob); and the call is
recorded (cancel requests also per posting, see `cancel_requests`). The app also offers the
Python verbs tests use (ship, cancel_by_buyer, move_deadline, split, add_posting, advance,
change_at) and the `/__sandbox__/...` admin answers.

This module imports only the standard library and the sandbox's own modules; it does no I/O.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from daemon.sandbox import lifecycle, scenario, wire
from daemon.sandbox.body import BadRequest, parse_body
from daemon.sandbox.clock import US_PER_S, Clock, format_us, from_us, parse_rfc3339, to_us
from daemon.sandbox.events import Timeline
from daemon.sandbox.knobs import Knobs
from daemon.sandbox.methods import METHODS, OBSOLETE, Answer, State, apply_change
from daemon.sandbox.paging import Pager
from daemon.sandbox.store import PostingStore

__all__ = ["Call", "SandboxApp", "SandboxOptions"]

BAD_KEY = "Invalid Api-Key, please check the key and try again"
MISSING_ROLE = "Api-Key is missing a required role for a method"
RATE_LIMITED = "You have reached request rate limit per second"
CANCEL_PATH = "/v2/posting/fbs/cancel"


@dataclass(frozen=True)
class SandboxOptions:
    """How to start a sandbox. `knobs` are the initial knob values (copied, not shared).

    `clock` returns the sandbox's "now" (default: real UTC time); `monotonic` times the rate
    limit window (tests inject fakes). `max_calls` bounds the recorded call list. `prewarm`
    serializes every posting once at start so the first paging is as fast as the next.
    `clients` is how many accounts the sandbox serves (daemon.sandbox.tenants); each app is
    one of them.
    """

    scenario: str = "bulk"
    postings: int = 1000
    seed: int = 1
    port: int = 0
    client_id: str = "100500"
    api_key: str = "sandbox-api-key-0000-0000"
    knobs: Knobs = field(default_factory=Knobs)
    events: bool = True
    prewarm: bool = True
    max_calls: int = 100_000
    clients: int = 1
    clock: Callable[[], datetime] | None = None
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Call:
    """One recorded API request: its path, parsed body (None if unreadable), sandbox time,
    Client-Id, and the HTTP status answered (0 = connection dropped without an answer)."""

    path: str
    body: Any
    at: datetime
    client_id: str
    status: int


def _echo_key(body: bytes, api_key: str) -> bytes:
    """An error body whose message ends with the Api-Key of the request (knob echo_api_key)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        data["message"] = f"{data.get('message', '')} (Api-Key: {api_key})"
        return wire.encode(data)
    return body


class SandboxApp:
    """One simulated seller account behind the Seller API. Thread-safe: one lock for all."""

    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self.clock = Clock(options.clock)
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        start = self.clock.now_us()
        built = scenario.build(options.scenario, options.postings, start, options.seed)
        store = PostingStore()
        store.load(built.postings)
        if options.prewarm:
            for posting in built.postings:
                store.v4_bytes(posting, 0, start)
        self.knobs = copy.deepcopy(options.knobs)
        self.timeline = Timeline(start, built.events if options.events else [])
        self.state = State(store, Pager(store), self.knobs, start, self.timeline)
        self._calls: deque[Call] = deque(maxlen=options.max_calls)
        self._cancels: dict[str, list[int]] = {}
        self._windows: dict[str, deque[float]] = {}
        self._rng = random.Random(options.seed)
        # When the cancel_429_for window ends (sandbox time), and the knob value it was armed
        # from: a knob value different from that one was set since, and re-arms the window.
        self._no_cancel_until = start
        self._no_cancel_seen: float | None = None
        self._arm_knobs(start)

    @property
    def store(self) -> PostingStore:
        """The postings (use under `lock`)."""
        return self.state.store

    @property
    def calls(self) -> list[Call]:
        """A copy of the recorded API calls, oldest first."""
        with self.lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        """Forget the recorded calls."""
        with self.lock:
            self._calls.clear()

    def cancel_requests(self) -> dict[str, list[int]]:
        """Every cancel request ever received, per posting number: the HTTP status of each
        answer in order (0 = connection dropped). Not bounded like `calls`, never cleared."""
        with self.lock:
            return {number: list(statuses) for number, statuses in self._cancels.items()}

    def _now(self) -> int:
        """The sandbox time, after applying everything that fell due by then, in time order."""
        now = self.clock.now_us()
        self._arm_knobs(now)
        for at_us, entry in self._due_changes(now):
            self.timeline.apply_due(self.store, at_us)
            # An entry naming a posting that cannot change that way leaves it as it is.
            with contextlib.suppress(KeyError, lifecycle.TransitionError):
                apply_change(self.state, entry["posting_number"], entry["change"], at_us)
        self.timeline.apply_due(self.store, now)
        return now

    def _arm_knobs(self, now: int) -> None:
        """Turn the time-relative knobs into moments: `change_at` entries given `after` N s get
        their `at`; a newly set `cancel_429_for` starts its window; the window counts down."""
        knobs = self.knobs
        if any("after" in entry for entry in knobs.change_at):
            knobs.change_at = [_armed(entry, now) for entry in knobs.change_at]
        if knobs.cancel_429_for != self._no_cancel_seen:
            self._no_cancel_until = now + round(knobs.cancel_429_for * US_PER_S)
        knobs.cancel_429_for = max(0, self._no_cancel_until - now) / US_PER_S
        self._no_cancel_seen = knobs.cancel_429_for

    def _due_changes(self, now: int) -> list[tuple[int, dict[str, Any]]]:
        """Remove the `change_at` entries due by `now` from the knob; return them, oldest first."""
        entries = [(parse_rfc3339(entry["at"]), entry) for entry in self.knobs.change_at]
        due = sorted((item for item in entries if item[0] <= now), key=lambda item: item[0])
        if due:
            self.knobs.change_at = [entry for at, entry in entries if at > now]
        return due

    def handle(self, path: str, client_id: str | None, api_key: str | None, raw: bytes) -> Answer:
        """Answer one API request (see the module docstring for the order of checks)."""
        if self.knobs.latency > 0:
            self.stopping.wait(self.knobs.latency)
        with self.lock:
            now = self._now()
            try:
                body: Any = parse_body(raw)
            except BadRequest:
                body = None
            answer = self._answer(path, client_id, api_key, raw, body, now)
            knobs = self.knobs
            if knobs.echo_api_key and answer.status >= 400 and not answer.drop:
                answer.body = _echo_key(answer.body, api_key or "")
            if knobs.malformed_next > 0 and answer.status == 200 and not answer.drop:
                knobs.malformed_next -= 1
                answer.body = answer.body[: len(answer.body) // 2]
            status = 0 if answer.drop else answer.status
            self._calls.append(Call(path, body, from_us(now), client_id or "", status))
            if path == CANCEL_PATH and isinstance(body, dict):
                number = body.get("posting_number")
                if isinstance(number, str) and number:
                    self._cancels.setdefault(number, []).append(status)
            return answer

    def _answer(
        self,
        path: str,
        client_id: str | None,
        api_key: str | None,
        raw: bytes,
        body: Any,
        now: int,
    ) -> Answer:
        knobs = self.knobs
        if knobs.drop_next > 0 or (knobs.drop_rate and self._rng.random() < knobs.drop_rate):
            knobs.drop_next = max(0, knobs.drop_next - 1)
            return Answer(0, b"", drop=True)
        if knobs.fail_next > 0:
            knobs.fail_next -= 1
            return Answer(503, wire.error_body(14, "service is unavailable"))
        if knobs.error_rate and self._rng.random() < knobs.error_rate:
            return Answer(500, wire.error_body(13, "Internal error"))
        if client_id != self.options.client_id or api_key != self.options.api_key:
            return Answer(403, wire.error_body(7, BAD_KEY))
        if not self._admit(client_id) or (path == CANCEL_PATH and knobs.cancel_429_for > 0):
            headers = [("retry-after", "1"), ("ratelimit-remaining", "0")]
            return Answer(429, wire.error_body(8, RATE_LIMITED, details=False), headers)
        if path in knobs.forbidden_methods:
            return Answer(403, wire.error_body(7, MISSING_ROLE))
        if path in OBSOLETE:
            return Answer(410, wire.error_body(9, "obsolete method cannot be used"))
        method = METHODS.get(path)
        if method is None:
            return Answer(404, wire.error_body(5, "Not Found"))
        try:
            if body is None:
                parse_body(raw)  # raises the gateway's syntax error
            return method(self.state, body, raw.decode("utf-8", "replace"), now)
        except BadRequest as err:
            return Answer(err.status, wire.error_body(err.code, err.message))

    def _admit(self, client_id: str) -> bool:
        """Sliding 1 s window of admitted requests per Client-Id; False = over the limit."""
        limit = self.knobs.rate_limit
        if limit <= 0:
            return True
        now = self.options.monotonic()
        window = self._windows.setdefault(client_id, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    # -- Python verbs for tests (each applies due events first, then acts at sandbox "now") --

    def change(self, posting_number: str, change: str) -> None:
        """Apply `ship`, `pack`, `in_carriage`, `hand_over` or `cancel_by_buyer` to a posting now.

        Raises KeyError for an unknown posting, lifecycle.TransitionError when it does not fit.
        """
        with self.lock:
            apply_change(self.state, posting_number, change, self._now())

    def _posting(self, posting_number: str) -> Any:
        posting = self.store.get(posting_number)
        if posting is None:
            raise KeyError(posting_number)
        return posting

    def move_deadline(self, posting_number: str, new: datetime) -> None:
        """Ozon moves the posting's shipment_date to `new` (aware datetime)."""
        with self.lock:
            posting = self._posting(posting_number)
            lifecycle.move_deadline(self.store, posting, self._now(), to_us(new))

    def split(self, posting_number: str, parts: int = 2) -> list[str]:
        """Split a posting into `parts` new ones; returns their numbers."""
        with self.lock:
            posting = self._posting(posting_number)
            return lifecycle.split(self.store, posting, self._now(), parts)

    def cancel_by(self, posting_number: str, by: str, reason_id: int) -> None:
        """Cancel a posting as `by` (`seller`, `client`, `ozon`) outside the API."""
        with self.lock:
            posting = self._posting(posting_number)
            lifecycle.cancel(self.store, posting, self._now(), by, reason_id)

    def add_posting(
        self,
        shipment_date: datetime,
        *,
        posting_number: str | None = None,
        status: str = "awaiting_packaging",
        reasons: tuple[int, ...] = (352, 400, 402),
        warehouse_id: int | None = None,
        warehouse_name: str | None = None,
    ) -> str:
        """A new posting arrives now, due at `shipment_date`; returns its number.
        `warehouse_name` renames its warehouse in every answer (tests of outside text, such
        as markup, shown by the daemon's pages and messages)."""
        with self.lock:
            now = self._now()
            posting = scenario.one_posting(
                self._rng,
                now,
                to_us(shipment_date),
                posting_number=posting_number,
                status=status,
                reasons=reasons,
                warehouse_id=warehouse_id,
            )
            if warehouse_name is not None:
                posting = replace(posting, route=replace(posting.route, warehouse=warehouse_name))
            self.store.add(replace(posting, id=self.store.new_id()))
            return posting.posting_number

    def get_json(self, posting_number: str) -> dict[str, Any]:
        """The posting as `/v3/posting/fbs/get` shows it (the `result` object)."""
        with self.lock:
            now = self._now()
            data = self.store.get_bytes(self._posting(posting_number), wire.RELATED, now)
        result: dict[str, Any] = json.loads(data)["result"]
        return result

    def status(self, posting_number: str) -> str:
        """The posting's current status."""
        with self.lock:
            self._now()
            return str(self._posting(posting_number).status)

    def posting_numbers(self, status: str | None = None) -> list[str]:
        """Numbers of all postings, or of those in `status`."""
        with self.lock:
            self._now()
            return self.store.numbers(status)

    def deadlines(self) -> list[dict[str, Any]]:
        """Every posting's number, status, `shipment_date` and `in_process_at` (RFC 3339), in
        insertion order: what a benchmark measures alert lateness against."""
        with self.lock:
            self._now()
            return [
                {"posting_number": p.posting_number, "status": p.status,
                 "shipment_date": format_us(p.shipment_date),
                 "in_process_at": format_us(p.in_process_at)}
                for p in self.store.all()
            ]  # fmt: skip

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward (scheduled events fall due on the next request)."""
        self.clock.advance(seconds)

    def set_knobs(self, changes: dict[str, Any]) -> None:
        """Change knobs (validated; all or nothing). Raises ValueError for a bad knob.

        Time-relative knobs count from now: `cancel_429_for` (set again, even to the same
        value, it restarts) and `change_at` entries given `after` seconds.
        """
        with self.lock:
            self.knobs.update(changes)
            if "cancel_429_for" in changes:
                self._no_cancel_seen = None
            self._now()

    def change_at(
        self,
        posting_number: str,
        change: str,
        *,
        at: datetime | None = None,
        after: float | None = None,
    ) -> None:
        """Schedule one change (`ship`, `pack`, `in_carriage`, `hand_over`, `cancel_by_buyer`) of a
        posting at sandbox time `at` or `after` seconds from now: appended to the `change_at`
        knob. Raises ValueError for a bad change or unless exactly one of `at`/`after` is given.
        """
        entry: dict[str, Any] = {"posting_number": posting_number, "change": change}
        if at is not None:
            entry["at"] = format_us(to_us(at))
        if after is not None:
            entry["after"] = after
        with self.lock:
            self.set_knobs({"change_at": [*self.knobs.change_at, entry]})


def _armed(entry: dict[str, Any], now: int) -> dict[str, Any]:
    """A `change_at` entry with its `after` (seconds from `now`) turned into `at`."""
    if "after" not in entry:
        return entry
    at = now + round(entry["after"] * US_PER_S)
    return {"posting_number": entry["posting_number"], "change": entry["change"],
            "at": format_us(at)}  # fmt: skip
