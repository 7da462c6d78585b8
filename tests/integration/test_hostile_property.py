"""Property (issue 16.1): arbitrary JSON-shaped postings from Ozon, mixed with well-formed ones,
go through parse -> cycle -> policy -> render -> status without an exception escaping, and
every well-formed posting is still alerted (and shown in every route's message, within that
route's limit, free of control and bidi characters).

The page itself is valid JSON (RFC 8259, so no lone surrogate escapes); every posting in it may
be anything: a wrong type for any field, dates from year 1 to 9999 or not dates at all, the
same number twice, huge texts full of control characters.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.cycle import AccountJob, run_cycle
from daemon.notify.outbox import Outbox, route_limit
from daemon.notify.render import Message
from daemon.notify.routes import Route, Router
from daemon.ozon.client import OzonClient
from daemon.policy import CancelRules, Rules
from daemon.store import Store
from daemon.views import history_json, print_history, print_status, status_json
from tests.integration.fake_ozon import BASE_URL, FakeOzon, posting

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EVENTS = frozenset({"reminder", "overdue", "would_cancel", "deadline_changed"})
ROUTES = ("wecombot://SECRETKEY1234567", "tgram://123456:AAHsecrettoken/98765", "json://x.example")
RULES = Rules(cancel=CancelRules(enabled=False, overdue_for=timedelta(hours=1), max_share=1.0))
RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
UNSEEN = re.compile(  # what `clean` removes (line breaks between lines aside)
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)

# -------------------------------------------------------------------------- strategies

hostile_chars = st.characters(codec="utf-8") | st.sampled_from(
    list("\u2028\u2029\u0085\u202e\u2066\u200f\u061c\x00\x1b\x9b\n\r\t*_`[")
)
texts = st.text(hostile_chars, max_size=60) | st.builds(
    lambda c, n: c * n, hostile_chars, st.integers(100, 6000)
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
dates = (
    st.sampled_from(
        [
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59.999999900Z",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+03:00",
            "9999-12-31T23:59:59-05:00",
            "2100-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2026-11-26T12:00:00Z",
            "2026-02-30T00:00:00Z",
            "",
        ]
    )
    | st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ").rjust(20, "0"))
    | scalars
)
statuses = st.sampled_from(["awaiting_packaging", "awaiting_deliver", "delivered", "cancelled"])
objects = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
delivery = st.fixed_dictionaries(
    {},
    optional={"id": scalars, "name": texts, "warehouse_id": scalars, "warehouse": texts},
)


def _not_well_formed_number(data: dict[str, Any]) -> dict[str, Any]:
    """Hostile postings never take a well-formed one's number (that would replace it)."""
    if str(data.get("posting_number", "")).startswith("WF-"):
        data["posting_number"] = "X" + str(data["posting_number"])
    return data


HOSTILE_FIELDS = {
    "posting_number": texts | scalars,
    "status": statuses | texts | scalars,
    "substatus": texts | scalars,
    "shipment_date": dates,
    "in_process_at": dates,
    "delivering_date": dates,
    "shipment_date_without_delay": dates,
    "delivery_method": delivery | scalars,
    "available_actions": st.lists(st.sampled_from(["cancel", "ship"]) | texts) | scalars,
    "products": st.lists(
        st.dictionaries(st.sampled_from(["sku", "name", "price"]), objects, max_size=3),
        max_size=2,
    )
    | scalars,
    "cancellation": st.dictionaries(
        st.sampled_from(["cancel_reason_id", "cancel_reason"]), objects, max_size=2
    )
    | scalars,
    "tariffication": st.fixed_dictionaries({}, optional={"next_tariff_starts_at": dates})
    | st.lists(st.fixed_dictionaries({"next_tariff_starts_at": dates}), max_size=2)
    | scalars,
    "requirements": st.dictionaries(texts, objects, max_size=2) | scalars,
    "parent_posting_number": texts | scalars,
}
EXTREMES = st.sampled_from(
    [
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.999999900Z",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+03:00",
        "2100-01-01T00:00:00Z",
    ]
)
# Three kinds: a posting Ozon might really send (watched, cancellable) with a hostile deadline
# and up to two more hostile fields (the ones that get furthest, so most of them), any subset
# of hostile fields, and any JSON value at all.
hostile_posting = (
    st.builds(
        lambda n, status, deadline, changes: _not_well_formed_number(
            posting(f"H-{n}-1", NOW, status) | {"shipment_date": deadline} | changes
        ),
        st.integers(0, 9),
        st.sampled_from(["awaiting_packaging", "awaiting_deliver"]),
        EXTREMES | dates,
        st.lists(st.sampled_from(sorted(HOSTILE_FIELDS)), max_size=2, unique=True).flatmap(
            lambda keys: st.fixed_dictionaries({key: HOSTILE_FIELDS[key] for key in keys})
        ),
    )
    | st.fixed_dictionaries({}, optional=HOSTILE_FIELDS).map(_not_well_formed_number)
    | objects
)


well_formed_offsets = st.lists(
    st.integers(min_value=-200 * 60, max_value=23 * 60 + 59).filter(lambda m: m != 0),
    min_size=1,
    max_size=5,
)


@st.composite
def pages(draw: st.DrawFn) -> tuple[list[Any], list[str]]:
    """A page of postings in any order, and the numbers of its well-formed ones."""
    good = [
        posting(f"WF-{index}-1", NOW + timedelta(minutes=offset))
        for index, offset in enumerate(draw(well_formed_offsets))
    ]
    bad = draw(st.lists(hostile_posting, max_size=8))
    duplicated = draw(st.lists(st.sampled_from(bad), max_size=2)) if bad else []
    listed = draw(st.permutations([*good, *bad, *duplicated]))
    return listed, [str(p["posting_number"]) for p in good]


# -------------------------------------------------------------------------- the pipeline


async def _run(folder: Path, listed: list[Any]) -> tuple[Store, list[tuple[Route, Message]]]:
    sent: list[tuple[Route, Message]] = []
    router = Router([Route(i, url, EVENTS) for i, url in enumerate(ROUTES)])
    by_url = {route.url: route for route in router.routes}

    async def sender(url: str, message: Message) -> bool:
        sent.append((by_url[url], message))
        return True

    async def no_sleep(_seconds: float) -> None:
        return None

    body = json.dumps({"postings": listed, "cursor": "", "has_next": False}).encode()
    store = Store.open(folder / "state.db", mode="writer")
    with FakeOzon() as fake:
        fake.router.post("/v4/posting/fbs/unfulfilled/list").mock(
            return_value=httpx.Response(200, content=body)
        )
        async with OzonClient(
            "1",
            "k",
            base_url=BASE_URL,
            retry_for=0,
            sleep=no_sleep,
            max_requests_per_second=1000,
            wall_clock=lambda: NOW,
        ) as client:
            job = AccountJob("shop-1", client, RULES, routes=router.route_ids)
            result = await run_cycle(store, job, lambda: NOW)
    assert result.ok, result.error
    outbox = Outbox(
        store, router, zone=ZoneInfo("Asia/Shanghai"), language="zh", now=lambda: NOW, sender=sender
    )
    report = await outbox.deliver_due()
    assert report.failed == 0
    return store, sent


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # big reprs
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(page=pages())
def test_no_hostile_posting_escapes_or_silences_a_well_formed_one(
    page: tuple[list[Any], list[str]],
) -> None:
    listed, well_formed = page
    with tempfile.TemporaryDirectory(prefix="ozon-hostile-") as folder:
        store, sent = asyncio.run(_run(Path(folder), listed))
        with store:
            # every well-formed posting is alerted ...
            alerted = {n for entry in store.history(10_000) for n in entry.posting_numbers}
            assert set(well_formed) <= alerted
            # ... and named in a message to every route, each part within the route's limit
            for route in Router([Route(i, url, EVENTS) for i, url in enumerate(ROUTES)]).routes:
                got = [message for target, message in sent if target.id == route.id]
                text = "\n".join(message.body for message in got)
                for number in well_formed:
                    assert number in text, (route.url, number)
                limit = route_limit(route.url)
                for message in got:
                    assert limit is None or limit.fits(message), (route.url, message.title)
                    assert not UNSEEN.search(message.title + message.body.replace("\n", ""))
            # status and history show everything cached, in every shape, without an error
            postings = store.postings(NOW, include_departed=True)
            elements = status_json(postings, NOW)
            json.dumps(elements)
            assert set(well_formed) <= {e["posting_number"] for e in elements}
            for element in elements:
                assert RFC3339_Z.match(element["shipment_date"]), element
                assert isinstance(element["seconds_left"], int)
                assert isinstance(element["no_deadline"], bool)
            for zone in ("Asia/Shanghai", "America/Los_Angeles", "Pacific/Kiritimati"):
                print_status(
                    postings,
                    store.sync_states(),
                    NOW,
                    ZoneInfo(zone),
                    timedelta(minutes=5),
                    io.StringIO(),
                )
            history = store.history(10_000)
            json.dumps(history_json(history))
            print_history(history, ZoneInfo("Pacific/Kiritimati"), io.StringIO())


def test_the_pipeline_sees_a_well_formed_posting_at_all() -> None:
    """The control of the property: a page of one well-formed posting is alerted."""
    with tempfile.TemporaryDirectory(prefix="ozon-hostile-") as folder:
        store, sent = asyncio.run(_run(Path(folder), [posting("WF-0-1", NOW + timedelta(hours=2))]))
        with store:
            assert [entry.event for entry in store.history(10)] == ["reminder"]
        assert len(sent) == len(ROUTES)


class Terminal(io.StringIO):
    """A stream that says it is a terminal: `status` draws its rich table."""

    def isatty(self) -> bool:
        return True


def test_status_on_a_terminal_shows_hostile_text_plainly() -> None:
    hostile = posting("[/oops]-1", NOW + timedelta(hours=2))
    hostile["delivery_method"]["warehouse"] = "[bold]WH[/] \x1b[31mred\u202e\u2028" + "W" * 500
    hostile["status"] = "[/x]"
    with tempfile.TemporaryDirectory(prefix="ozon-hostile-") as folder:
        store, _ = asyncio.run(_run(Path(folder), [hostile]))
        with store:
            out = Terminal()
            postings = store.postings(NOW)
            print_status(postings, store.sync_states(), NOW, ZoneInfo("UTC"),
                         timedelta(minutes=5), out)  # fmt: skip
            print_history(store.history(10), ZoneInfo("UTC"), out)
    text = out.getvalue()
    assert "[/oops]-1" in text and "[bold]WH[/]" in text, "shown as sent, not as markup"
    assert "\x1b[31m" not in text, "the posting's escape sequence reached the terminal"
    for char in "\u202e\u2028":
        assert char not in text
