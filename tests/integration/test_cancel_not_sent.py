"""A cancel the client reports as not applied (429, no connection) is "not sent, tried again
after a re-read" for the executor (cancel_skipped): no refusal, no success, and the next cycle
re-reads and sends again; a 408 is an unknown outcome, settled by a re-read (issue 15, points
4 and 8, client side).
The Engine runs against the sandbox in a thread; a transport in front of it answers the first
cancel request itself and counts every cancel request that left the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from daemon.config import parse_config, resolve_secrets
from daemon.engine import Engine
from daemon.sandbox import Knobs, Sandbox
from daemon.store import HistoryEntry, Store
from tests.sandbox_fixtures import MakeSandbox

CANCEL = "/v2/posting/fbs/cancel"
ACCOUNT = "shop-1"


class FirstCancelFails(httpx.AsyncHTTPTransport):
    """Passes every request on, except the first cancel: answered with `failure` instead."""

    def __init__(self, failure: httpx.Response | Exception) -> None:
        super().__init__()
        self.failure: httpx.Response | Exception | None = failure
        self.cancels = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == CANCEL:
            self.cancels += 1
            failure, self.failure = self.failure, None
            if isinstance(failure, Exception):
                raise failure
            if failure is not None:
                return failure
        return await super().handle_async_request(request)


async def cycle(db: Path, sb: Sandbox, transport: httpx.AsyncBaseTransport) -> None:
    cfg = parse_config(
        {
            "ozon": {"base_url": sb.base_url, "retry_for": "30s", "timeout": "5s"},
            "accounts": [{"name": ACCOUNT, "client_id": sb.client_id, "api_key_env": "KEY"}],
            "policy": {"cancel": {"enabled": True}},
        }
    )
    secrets = resolve_secrets(cfg, {"KEY": sb.api_key}, routes=False)
    with Store.open(db, mode="writer") as store:
        async with Engine(cfg, secrets, store, transport=transport) as engine:
            result = await engine.cycle(ACCOUNT)
    assert result.ok, result.error


def steps(db: Path, number: str) -> list[HistoryEntry]:
    """The cancellation steps of one posting in the journal, oldest first."""
    with Store.open(db, mode="reader") as store:
        entries = reversed(store.history(100))
    return [e for e in entries if e.kind == "action" and e.posting_numbers == (number,)]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429, headers={"Retry-After": "1"}, json={"code": 8, "message": "limit"}),
        httpx.ConnectError("[Errno 111] Connection refused"),
    ],
    ids=["429", "connection-refused"],
)
async def test_a_cancel_not_applied_is_tried_again_next_cycle_never_within_the_call(
    make_sandbox: MakeSandbox, tmp_path: Path, failure: httpx.Response | Exception
) -> None:
    sb = make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    transport = FirstCancelFails(failure)
    db = tmp_path / "state.db"

    await cycle(db, sb, transport)

    assert transport.cancels == 1, "the client sent the cancel once, no retry inside the call"
    assert sb.calls_to(CANCEL) == []
    (step,) = steps(db, number)
    assert step.event == "cancel_skipped"  # nothing was applied, nothing for the seller to do
    assert step.reason.startswith("not sent, tried again after a re-read")

    await cycle(db, sb, transport)  # not a refusal: re-read, checked and sent again

    assert transport.cancels == 2
    assert len(sb.calls_to(CANCEL)) == 1
    assert [step.event for step in steps(db, number)] == ["cancel_skipped", "cancelled"]


async def test_a_408_on_cancel_is_an_unknown_outcome_settled_by_a_re_read_not_a_refusal(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sb = make_sandbox(scenario="empty", knobs=Knobs(rate_limit=0), events=False)
    number = sb.add_posting(datetime.now(UTC) - timedelta(hours=50))
    transport = FirstCancelFails(httpx.Response(408, text="Request Timeout"))
    db = tmp_path / "state.db"

    await cycle(db, sb, transport)

    assert transport.cancels == 1
    # not a refusal: the outcome stays unknown (Ozon may apply it late) and is re-read over
    # the settling window, no second request meanwhile
    assert [step.reason for step in steps(db, number)] == ["outcome unknown"]
    await cycle(db, sb, transport)
    assert transport.cancels == 1
    with Store.open(db, mode="reader") as store:
        (claim,) = store.open_actions(ACCOUNT)
    assert claim.outcome == "unknown"
