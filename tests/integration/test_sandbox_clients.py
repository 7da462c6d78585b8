"""The sandbox serves many accounts at once (`--clients N`): each Client-Id with its own
postings, Api-Key and rate limit; and our clients of one host share one connection pool."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daemon.ozon import OzonAuthError, OzonClient, RateLimiter
from daemon.ozon.pool import open_pools
from daemon.sandbox import Knobs, SandboxProcess

WATCHED = ["awaiting_packaging", "awaiting_deliver"]


async def _numbers(client: OzonClient) -> set[str]:
    now = datetime.now(UTC)
    listing = client.list_unfulfilled(
        cutoff_from=now - timedelta(days=30), cutoff_to=now + timedelta(days=30), statuses=WATCHED
    )
    return {p.posting_number async for page in listing for p in page.postings}


def _client(sandbox: Any, client_id: str, api_key: str) -> OzonClient:
    return OzonClient(client_id, api_key, base_url=sandbox.base_url, retry_for=0,
                      rate_limiter=RateLimiter(1000))  # fmt: skip


async def test_each_client_id_has_its_own_postings_and_key(make_sandbox: Any) -> None:
    sandbox = make_sandbox(scenario="bulk", postings=30, clients=3)
    credentials = sandbox.credentials()
    assert [c["client_id"] for c in credentials] == ["100500", "100501", "100502"]
    assert credentials[0]["api_key"] == sandbox.api_key
    assert len({c["api_key"] for c in credentials}) == 3
    seen = []
    for c in credentials:
        async with _client(sandbox, c["client_id"], c["api_key"]) as client:
            seen.append(await _numbers(client))
    assert all(seen) and not (seen[0] & seen[1] or seen[1] & seen[2] or seen[0] & seen[2])
    # one client's key does not open another's account
    async with _client(sandbox, "100501", credentials[2]["api_key"]) as client:
        with pytest.raises(OzonAuthError):
            await _numbers(client)
    # every call is recorded by the account it was made to
    assert {c.client_id for c in sandbox.client("100502").calls} == {"100502"}


def test_each_client_id_has_its_own_rate_limit(make_sandbox: Any) -> None:
    sandbox = make_sandbox(scenario="demo", clients=2, knobs=Knobs(rate_limit=2))
    statuses: dict[str, list[int]] = {}
    for c in sandbox.credentials():
        app = sandbox.client(c["client_id"])
        statuses[c["client_id"]] = [
            app.handle("/v1/roles", c["client_id"], c["api_key"], b"{}").status for _ in range(3)
        ]
    assert statuses == {"100500": [200, 200, 429], "100501": [200, 200, 429]}


async def test_accounts_of_one_host_share_one_connection_pool(make_sandbox: Any) -> None:
    sandbox = make_sandbox(scenario="bulk", postings=20, clients=4)
    clients = [_client(sandbox, c["client_id"], c["api_key"]) for c in sandbox.credentials()]
    try:
        for client in clients:
            assert await _numbers(client)
        assert open_pools() == 1
        assert sandbox.connections == 1  # one after the other: one kept-alive connection
    finally:
        for client in clients[:-1]:
            await client.aclose()
        assert open_pools() == 1  # still held by the last client
        await clients[-1].aclose()
    assert open_pools() == 0


def test_the_sandbox_process_reports_every_clients_credentials() -> None:
    with SandboxProcess("--scenario", "empty", "--clients", "3", "--api-key", "k-0000") as sb:
        assert sb.clients == [
            {"client_id": "100500", "api_key": "k-0000"},
            {"client_id": "100501", "api_key": "k-0000-1"},
            {"client_id": "100502", "api_key": "k-0000-2"},
        ]


def test_the_sandbox_command_prints_an_account_table_per_client() -> None:
    from daemon.sandbox import SandboxOptions, config_snippet

    text = config_snippet("http://127.0.0.1:1", SandboxOptions(clients=2))
    assert text.count("[[accounts]]") == 2 and 'client_id = "100501"' in text
    done = subprocess.run(
        [sys.executable, "-m", "daemon.sandbox", "--clients", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "--clients must be 1..10000: 0" in done.stderr
    assert "Traceback" not in done.stderr
