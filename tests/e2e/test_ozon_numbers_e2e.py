"""Ozon's own numbers through the installed command against the sandbox (issue 20):

- `run` warns `tariff_warn_before` before a posting's tariff steps up, on time between polls
  (a precise wake-up re-reads that one posting), saying what changes; a posting in its last
  step (the 9999-12-31 marker) is never warned about;
- `once` alerts `needs_data` once for a posting Ozon cannot assemble without more data;
- the digest carries the ratings, the error index and per-warehouse figures (shipped, late,
  cancelled by ozon-sync, cancelled elsewhere); an overdue alert and `status --json` carry the
  ship-or-cancel advice;
- a key without the rating role (403) is said once in the digest, never an `api_error`.

Two digests in one test: `digest_at = "00:00"` makes one due at every run, and switching the
configured zone between UTC+14 and UTC-11 makes it another local day (25 hours apart).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.sandbox import SandboxProcess
from tests.cli_helpers import clean_env
from tests.e2e.conftest import Daemon, assert_no_secret, explain, sandbox_watched
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

KEY_VAR = "OZON_E2E_RATINGS_KEY"
EAST, WEST = "Pacific/Kiritimati", "Pacific/Pago_Pago"  # UTC+14 and UTC-11: never one day
BLOCKED = "10000009-0009-1"  # the demo's posting that needs a GTD and a marking code
SUMMARY, INDEX = "/v1/rating/summary", "/v1/rating/index/fbs/info"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def make(
    folder: Path,
    api: SandboxProcess,
    routes: dict[str, list[str]],
    receiver: Receiver,
    *,
    zone: str = EAST,
    interval: str = "5m",
    policy: str = "",
) -> Daemon:
    """A config for `api` with one json:// route per path in `routes` (its events), and the
    `Daemon` running commands against it. (A route URL's path is masked as a secret wherever
    it appears: the paths are no words a message holds.)"""
    notify = "".join(
        f'\n[[notify]]\nurl = "{receiver.url(path)}"\nevents = {events!r}\n'.replace("'", '"')
        for path, events in routes.items()
    )
    folder.mkdir(exist_ok=True)
    config = folder / "config.toml"
    config.write_text(
        f"""
[daemon]
database = "state.db"
log_format = "json"
timezone = "{zone}"
digest_at = "00:00"
poll_interval = "{interval}"

[ozon]
base_url = "{api.base_url}"
retry_for = "5s"
timeout = "5s"

[[accounts]]
name = "shop-1"
client_id = "{api.client_id}"
api_key_env = "{KEY_VAR}"

{policy}
{notify}
""",
        encoding="utf-8",
    )
    return Daemon(config, clean_env(**{KEY_VAR: api.api_key}))


def in_zone(daemon: Daemon, zone: str) -> None:
    """Switch the configured time zone (another local day: another digest)."""
    text = daemon.config.read_text(encoding="utf-8")
    daemon.config.write_text(re.sub(r'timezone = "[^"]+"', f'timezone = "{zone}"', text))


def once_ok(daemon: Daemon) -> None:
    result = daemon.once()
    assert result.returncode == 0, explain(result)


def z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_run_warns_before_a_tariff_step_on_time_between_polls_and_never_for_the_marker(
    tmp_path: Path,
    sandbox_process: Callable[..., SandboxProcess],
    receiver: Receiver,
) -> None:
    api = sandbox_process("--scenario", "empty", "--no-events", "--rate-limit", "0")
    now = datetime.now(UTC).replace(microsecond=0)
    # The sandbox's first step (a 3 % discount) ends 12 h before shipment_date: this one's
    # ends in 90 s, so the next step starts in 91 s and the 1-minute warning is due in 31 s.
    soon = api.action(
        "add_posting", shipment_date=z(now + timedelta(hours=12, seconds=90)),
        posting_number="55500001-0001-1",
    )["posting_number"]  # fmt: skip
    last = api.action(  # 30 h late: in its last step, no further one (the marker)
        "add_posting", shipment_date=z(now - timedelta(hours=30)), posting_number="55500002-0002-1"
    )["posting_number"]
    sandbox = sandbox_watched(api)
    starts = parse_z(sandbox[soon]["tariffication"]["next_tariff_starts_at"])
    assert sandbox[last]["tariffication"]["next_tariff_starts_at"].startswith("9999-12-31")
    next_charge = sandbox[soon]["tariffication"]["next_tariff_charge"]["amount"]
    warn_at = starts - timedelta(minutes=1)

    daemon = make(
        tmp_path / "site", api, {"/hook-t1": ["tariff_step"]}, receiver, interval="10m",
        policy='[policy]\ntariff_warn_before = "1m"\nremind_before = ["1m"]\n',
    )  # fmt: skip
    started = time.time()
    running = daemon.start("run")
    try:
        got = receiver.wait_for(1, "/hook-t1", timeout=120)
        assert got, f"no tariff_step alert\n{daemon.config}"
        arrived = receiver.arrivals[receiver.messages.index(got[0])]
        time.sleep(3)  # a second message would come now, with the first one's cycle
        messages = receiver.on("/hook-t1")
    finally:
        running.process.terminate()
        result = running.wait(timeout=60)
    assert result.returncode == 0, explain(result)

    assert len(messages) == 1, [m.message for m in messages]
    text = messages[0].title + "\n" + messages[0].message
    assert soon in text and last not in text
    assert f"discount 2 % = {next_charge} RUB" in text, text
    assert "(now: discount 3 %" in text, text
    # on time: not before the warning was due, before the step started, and between polls
    assert warn_at.timestamp() - 1 <= arrived < starts.timestamp(), (arrived, warn_at, starts)
    assert arrived - started >= 20  # not the first sync's: the warning was not due yet then
    calls = [c for c in api.calls() if parse_z(c["at"]).timestamp() >= started]  # the daemon's
    listings = [c for c in calls if c["path"] == "/v4/posting/fbs/unfulfilled/list"]
    gets = [c for c in calls if c["path"] == "/v3/posting/fbs/get"]
    assert len(listings) == 1 and len(gets) >= 1  # the wake-up re-read one posting
    shown = {item["posting_number"]: item for item in daemon.status()}
    assert shown[last]["next_tariff_at"] is None
    assert history_events(daemon).count("tariff_step") == 1
    assert_no_secret(daemon, (api.api_key,))


def history_events(daemon: Daemon) -> list[str]:
    return [entry["event"] for entry in daemon.history() if entry["kind"] == "alert"]


def test_needs_data_is_alerted_once_naming_what_is_missing_and_where(
    tmp_path: Path, sandbox_process: Callable[..., SandboxProcess], receiver: Receiver
) -> None:
    api = sandbox_process("--scenario", "demo", "--no-events", "--rate-limit", "0")
    needs = sandbox_watched(api)[BLOCKED]["requirements"]
    gtd = needs["products_requiring_gtd"][0]
    daemon = make(tmp_path / "site", api, {"/hook-n1": ["needs_data"]}, receiver)

    once_ok(daemon)
    once_ok(daemon)
    in_zone(daemon, WEST)
    once_ok(daemon)

    messages = receiver.wait_for(1, "/hook-n1", timeout=10)
    assert len(messages) == 1, [m.message for m in messages]
    text = messages[0].message
    assert BLOCKED in text
    assert f"Missing: customs declaration number (GTD): SKU {gtd}" in text, text
    assert "Missing: marking code (Chestny ZNAK)" in text
    assert "Fill it in: seller account" in text and "/v6/fbs/posting/product/exemplar/set" in text
    entries = [e for e in daemon.history() if e["event"] == "needs_data"]
    assert [e["posting_numbers"] for e in entries] == [[BLOCKED]]
    assert "customs declaration number (GTD)" in entries[0]["reason"]
    (shown,) = [item for item in daemon.status() if item["posting_number"] == BLOCKED]
    assert sorted(shown["requirements"]) == sorted(name for name, skus in needs.items() if skus)
    assert_no_secret(daemon, (api.api_key,))


def warehouse_lines(text: str) -> dict[str, tuple[int, int, int, int]]:
    found = re.findall(r"^  (.+): (\d+) / (\d+) / (\d+) / (\d+)$", text, re.MULTILINE)
    return {name: (int(a), int(b), int(c), int(d)) for name, a, b, c, d in found}


def test_the_digest_has_ratings_and_warehouse_figures_and_overdue_alerts_the_advice(
    tmp_path: Path, sandbox_process: Callable[..., SandboxProcess], receiver: Receiver
) -> None:
    api = sandbox_process(
        "--scenario", "demo", "--no-events", "--rate-limit", "0",
        "--error-index", "0.052", "--rating", "rating_shipment_delay=7.5",
    )  # fmt: skip
    daemon = make(
        tmp_path / "site", api, {"/hook-d1": ["digest"], "/hook-o1": ["overdue"]}, receiver,
        policy="[policy.cancel]\nenabled = true\n",
    )  # fmt: skip
    once_ok(daemon)  # syncs, cancels the postings overdue by 48 h, reads the ratings
    overdue = receiver.wait_for(1, "/hook-o1", timeout=10)
    assert overdue and "Advice: " in overdue[0].message, overdue
    assert "ship now: extra " in overdue[0].message

    api.action("ship", posting_number="10000003-0003-1")  # 3 h late ...
    api.action("hand_over", posting_number="10000003-0003-1")  # ... handed over now
    api.action("hand_over", posting_number="10000008-0008-1")  # on time
    api.action("cancel_by_buyer", posting_number="10000006-0006-1")
    in_zone(daemon, WEST)  # another local day: a second digest
    once_ok(daemon)

    digests = receiver.wait_for(2, "/hook-d1", timeout=10)
    assert len(digests) == 2, [d.message for d in digests]
    text = digests[1].message
    assert "Ozon ratings, 7 days: cancellations " in text, text
    assert "shipment delays 7.5 % WARNING" in text
    assert "error index 5.2 % (blue: a seller cancellation costs 3 % of the price)" in text
    assert "Last 14 days by warehouse: shipped / late / cancelled by ozon-sync / " in text

    cached = daemon.status("--all")
    cancelled_by_us = {
        number for e in daemon.history() if e["event"] == "cancelled"
        for number in e["posting_numbers"]
    }  # fmt: skip
    assert cancelled_by_us, "the demo's postings overdue by 48 h are cancelled"
    expected: dict[str, list[int]] = {}
    for item in cached:
        if item["departure"] not in ("shipped", "cancelled"):
            continue
        row = expected.setdefault(item["warehouse"], [0, 0, 0, 0])
        if item["departure"] == "shipped":
            row[0] += 1
            row[1] += item["posting_number"] == "10000003-0003-1"
        else:
            row[2 if item["posting_number"] in cancelled_by_us else 3] += 1
    assert warehouse_lines(text) == {name: tuple(row) for name, row in expected.items()}
    assert sum(row[0] for row in expected.values()) == 2 and any(r[1] for r in expected.values())
    assert any(row[3] for row in expected.values())  # the buyer's cancellation

    advised = [item for item in daemon.status() if item["advice"] is not None]
    assert advised and all(item["seconds_left"] <= 0 for item in advised)
    advice: dict[str, Any] = advised[0]["advice"]
    assert advice["error_index"] == 5.2 and advice["zone"] == "blue"
    assert advice["recommendation"] in ("ship", "cancel", "decide") and advice["reason"]
    assert all(item["advice"] is None for item in daemon.status() if item["seconds_left"] > 0)
    assert_no_secret(daemon, (api.api_key,))


def test_a_key_without_the_rating_role_is_said_once_in_the_digest_never_an_api_error(
    tmp_path: Path, sandbox_process: Callable[..., SandboxProcess], receiver: Receiver
) -> None:
    api = sandbox_process(
        "--scenario", "demo", "--no-events", "--rate-limit", "0",
        "--forbid", SUMMARY, "--forbid", INDEX,
    )  # fmt: skip
    daemon = make(
        tmp_path / "site", api, {"/hook-d1": ["digest"], "/hook-e1": ["api_error"]}, receiver
    )
    once_ok(daemon)
    in_zone(daemon, WEST)
    once_ok(daemon)

    digests = receiver.wait_for(2, "/hook-d1", timeout=10)
    assert len(digests) == 2, [d.message for d in digests]
    note = "ratings not available: the API key has no role for /v1/rating/summary, "
    assert note in digests[0].message and "(Ozon answered 403)" in digests[0].message
    assert note not in digests[1].message and "403" not in digests[1].message
    assert "Ozon ratings" not in digests[1].message  # nothing to show, and said already
    assert receiver.on("/hook-e1") == []
    assert "api_error" not in history_events(daemon)
    forbidden = [c for c in api.calls() if c["path"] in (SUMMARY, INDEX)]
    assert {c["status"] for c in forbidden} == {403}
    assert len(forbidden) == 4  # each method once per local day, not every cycle
    assert_no_secret(daemon, (api.api_key,))
