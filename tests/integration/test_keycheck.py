"""key_expiring: asked once per local day, alerted once per expiry date within 7 days."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.job import AccountJob
from daemon.keycheck import check_key_expiry
from daemon.ozon.client import OzonClient
from daemon.policy import Rules
from daemon.sandbox import Knobs, Sandbox
from daemon.store import Store

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(("expires_in", "alerted"), [("3d", True), ("180d", False)])
async def test_key_expiring_is_alerted_once_when_within_seven_days(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox], expires_in: str, alerted: bool
) -> None:
    sandbox = make_sandbox(knobs=Knobs(rate_limit=0, key_expires_in=expires_in))
    now = datetime.now(UTC)
    async with OzonClient(
        sandbox.client_id, sandbox.api_key, base_url=sandbox.base_url, retry_for=5
    ) as client:
        job = AccountJob("shop-1", client, Rules())
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            first = await check_key_expiry(store, [job], MOSCOW, now)
            again = await check_key_expiry(store, [job], MOSCOW, now + timedelta(hours=1))
            tomorrow = await check_key_expiry(store, [job], MOSCOW, now + timedelta(days=1))
            history = [e.event for e in store.history()]
    assert first == (["shop-1"] if alerted else [])
    assert again == [] and tomorrow == []  # asked again tomorrow, but alerted only once
    assert history.count("key_expiring") == (1 if alerted else 0)
    assert len(sandbox.calls_to("/v1/roles")) == 2  # once per local day


async def test_a_refused_role_list_only_warns_and_is_asked_again_later(
    tmp_path: Path, make_sandbox: Callable[..., Sandbox]
) -> None:
    sandbox = make_sandbox(knobs=Knobs(rate_limit=0, forbidden_methods=["/v1/roles"]))
    now = datetime.now(UTC)
    async with OzonClient(
        sandbox.client_id, sandbox.api_key, base_url=sandbox.base_url, retry_for=5
    ) as client:
        job = AccountJob("shop-1", client, Rules())
        with Store.open(tmp_path / "s.db", mode="writer") as store:
            assert await check_key_expiry(store, [job], MOSCOW, now) == []
            assert await check_key_expiry(store, [job], MOSCOW, now) == []
    assert len(sandbox.calls_to("/v1/roles")) == 2
