"""Faithfulness: our Ozon client (daemon.ozon.OzonClient), pointed at the sandbox, lists, pages,
retries through the sandbox's 429s, 5xx, drops and broken JSON, and cancels.

Time is fake on both sides: the client's `sleep`/`clock` and the sandbox's rate-limit clock are
the same FakeTime, so a `Retry-After: 1` wait is instant and still empties the sandbox's window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from daemon.ozon import (
    OzonAPIError,
    OzonAuthError,
    OzonCancelOutcomeUnknown,
    OzonClient,
    OzonUnavailable,
    RateLimiter,
)
from daemon.sandbox import Knobs, Sandbox, SandboxOptions
from tests.conftest import FakeTime

WATCHED = ["awaiting_packaging", "awaiting_deliver"]
Pair = Callable[..., tuple[Sandbox, OzonClient]]


@pytest.fixture
async def pair_factory(fake_time: FakeTime) -> AsyncIterator[Pair]:
    """Start a sandbox and a client of it sharing `fake_time`; both closed after the test."""
    made: list[tuple[Sandbox, OzonClient]] = []

    def factory(
        knobs: Knobs | None = None, timeout: float = 10.0, retry_for: float = 120.0, **options: Any
    ) -> tuple[Sandbox, OzonClient]:
        options.setdefault("scenario", "demo")
        sandbox = Sandbox(
            SandboxOptions(knobs=knobs or Knobs(rate_limit=0), monotonic=fake_time.clock, **options)
        ).start()
        client = OzonClient(
            sandbox.client_id,
            sandbox.api_key,
            base_url=sandbox.base_url,
            timeout=timeout,
            retry_for=retry_for,
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            random=lambda: 0.5,
            rate_limiter=RateLimiter(1000, clock=fake_time.clock, sleep=fake_time.sleep),
        )
        made.append((sandbox, client))
        return sandbox, client

    yield factory
    for sandbox, client in made:
        await client.aclose()
        sandbox.stop()


async def _all_unfulfilled(sandbox: Sandbox, client: OzonClient) -> tuple[list[str], Any]:
    now = sandbox.now()
    listing = client.list_unfulfilled(
        cutoff_from=now - timedelta(days=30), cutoff_to=now + timedelta(days=30), statuses=WATCHED
    )
    numbers: list[str] = []
    async for page in listing:
        assert page.problems == []
        numbers += [p.posting_number for p in page.postings]
    return numbers, listing


async def test_client_pages_through_every_watched_posting(pair_factory: Pair) -> None:
    sandbox, client = pair_factory(scenario="bulk", postings=350)
    numbers, listing = await _all_unfulfilled(sandbox, client)
    expected = [n for n in sandbox.posting_numbers() if sandbox.status(n) in WATCHED]
    assert sorted(numbers) == sorted(expected)
    assert len(numbers) == len(set(numbers))
    assert listing.completed
    assert listing.pages == -(-len(expected) // 100) >= 3


async def test_client_reads_postings_as_the_sandbox_holds_them(pair_factory: Pair) -> None:
    sandbox, client = pair_factory()
    posting = await client.get("10000009-0009-1")
    raw = sandbox.posting("10000009-0009-1")
    assert posting.status == raw["status"] == "awaiting_packaging"
    assert posting.shipment_date.isoformat().replace("+00:00", "Z") == raw["shipment_date"]
    assert posting.warehouse_id == raw["delivery_method"]["warehouse_id"]
    assert "products_requiring_mandatory_mark" in posting.requirements
    assert not posting.available_actions.count("ship")


async def test_client_sees_status_changes_through_list_changed(pair_factory: Pair) -> None:
    sandbox, client = pair_factory()
    since = sandbox.now()
    sandbox.cancel_by_buyer("10000006-0006-1")
    parts = sandbox.split("10000012-0012-1")
    changed = {}
    async for page in client.list_changed(since - timedelta(seconds=1)):
        changed.update({p.posting_number: p for p in page.postings})
    assert set(changed) == {"10000006-0006-1", "10000012-0012-1", *parts}
    cancellation = changed["10000006-0006-1"].cancellation
    assert cancellation is not None
    assert cancellation.cancellation_type == "client"
    assert changed["10000012-0012-1"].status == "cancelled_from_split_pending"
    assert changed[parts[0]].parent_posting_number == "10000012-0012-1"


async def test_client_retries_through_the_sandboxs_rate_limit(
    pair_factory: Pair, fake_time: FakeTime
) -> None:
    sandbox, client = pair_factory(knobs=Knobs(rate_limit=2), scenario="bulk", postings=450)
    _, listing = await _all_unfulfilled(sandbox, client)
    statuses = [call.status for call in sandbox.calls]
    assert statuses.count(429) >= 1
    assert statuses.count(200) == listing.pages >= 4
    assert 1.0 in fake_time.sleeps
    assert listing.completed


async def test_client_retries_through_5xx_drops_and_broken_json(pair_factory: Pair) -> None:
    sandbox, client = pair_factory(knobs=Knobs(rate_limit=0, fail_next=2))
    assert (await client.get("10000001-0001-1")).posting_number == "10000001-0001-1"
    sandbox.set_knobs(drop_next=1, malformed_next=1, error_rate=0.0)
    assert (await client.get("10000001-0001-1")).posting_number == "10000001-0001-1"
    assert [call.status for call in sandbox.calls] == [503, 503, 200, 0, 200, 200]


async def test_client_reads_the_result_wrapped_list_shape(pair_factory: Pair) -> None:
    sandbox, client = pair_factory(knobs=Knobs(rate_limit=0, wrap_result=True))
    numbers, listing = await _all_unfulfilled(sandbox, client)
    assert "10000004-0004-1" in numbers
    assert listing.completed


async def test_client_gives_up_on_a_page_that_is_always_broken(pair_factory: Pair) -> None:
    sandbox, client = pair_factory(
        knobs=Knobs(rate_limit=0, malformed_page=2), scenario="bulk", postings=300, retry_for=30
    )
    with pytest.raises(OzonUnavailable):
        await _all_unfulfilled(sandbox, client)
    assert len(sandbox.calls) > 3


async def test_client_cancels_with_an_allowed_reason(pair_factory: Pair) -> None:
    sandbox, client = pair_factory()
    [reasons] = await client.cancel_reasons(["10000001-0001-1"])
    assert reasons.allows(402)
    everything = await client.cancel_reason_list()
    assert any(r.id == 402 and r.available_for_cancellation for r in everything)
    await client.cancel("10000001-0001-1", 402, "Could not be shipped in time")
    posting = await client.get("10000001-0001-1")
    assert posting.status == "cancelled"
    assert posting.cancellation is not None
    assert (posting.cancellation.cancellation_type, posting.cancellation.reason_id) == (
        "seller",
        402,
    )
    [sent] = [call.body for call in sandbox.calls_to("/v2/posting/fbs/cancel")]
    assert sent == {
        "posting_number": "10000001-0001-1",
        "cancel_reason_id": 402,
        "cancel_reason_message": "Could not be shipped in time",
    }


async def test_client_reports_a_refused_cancel_reason(pair_factory: Pair) -> None:
    sandbox, client = pair_factory()
    [reasons] = await client.cancel_reasons(["10000002-0002-1"])
    assert not reasons.allows(402)
    with pytest.raises(OzonAPIError) as caught:
        await client.cancel("10000002-0002-1", 402, "late")
    assert (caught.value.status, caught.value.code) == (400, 3)
    assert caught.value.message == "HAS_INCORRECT_CANCEL_REASON"
    assert sandbox.status("10000002-0002-1") == "awaiting_packaging"


@pytest.mark.parametrize("outcome", ["drop", "hang"])
async def test_a_cancel_applied_without_a_usable_answer_is_outcome_unknown(
    pair_factory: Pair, outcome: str
) -> None:
    knobs = Knobs(rate_limit=0, cancel_outcome=outcome, hang_seconds=30)
    sandbox, client = pair_factory(knobs=knobs, timeout=0.5)
    with pytest.raises(OzonCancelOutcomeUnknown):
        await client.cancel("10000003-0003-1", 352)
    assert len(sandbox.calls_to("/v2/posting/fbs/cancel")) == 1  # never blindly re-sent
    sandbox.set_knobs(cancel_outcome="answer")
    assert (await client.get("10000003-0003-1")).status == "cancelled"


async def test_client_reads_key_expiry_and_fails_on_a_bad_key(pair_factory: Pair) -> None:
    sandbox, client = pair_factory(knobs=Knobs(rate_limit=0, key_expires_in=2 * 86_400))
    info = await client.key_info()
    assert info.roles
    assert info.expires_at is not None
    assert timedelta(days=1, hours=23) < info.expires_at - sandbox.now() <= timedelta(days=2)
    sandbox.set_knobs(forbidden_methods=["/v3/posting/fbs/get"])
    with pytest.raises(OzonAuthError):
        await client.get("10000001-0001-1")
    stranger = OzonClient(sandbox.client_id, "not-the-key", base_url=sandbox.base_url)
    try:
        with pytest.raises(OzonAuthError) as caught:
            await stranger.key_info()
        assert "not-the-key" not in str(caught.value)
    finally:
        await stranger.aclose()


async def test_client_measures_the_clock_skew_from_the_date_header(pair_factory: Pair) -> None:
    _, client = pair_factory(knobs=Knobs(rate_limit=0, date_skew=-600))
    await client.key_info()
    skew = client.clock_skew()
    assert skew is not None
    assert 598 <= skew <= 602
