"""Many accounts in one `run`: what follows each account's cycle costs that account, not all
of them. Found by bench/scale.py: every cycle's after-cycle pipeline asked Ozon for the key
expiry of every account not checked yet today, so overlapping pipelines asked the same keys
again and again (62,000 `/v1/roles` calls in two minutes for 200 accounts)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import AccountSpec, MakeDaemon, StartSandbox, explain, wait_for

pytestmark = pytest.mark.e2e

ROLES = "/v1/roles"


def test_each_accounts_key_expiry_is_asked_once_however_the_cycles_overlap(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    # Every answer takes 0.5 s, so one account's pipeline is still asking while the next
    # account's cycle (2 s later) finishes and starts its own.
    sb = start_sandbox("--clients", "5", "--scenario", "bulk", "--postings", "5",
                       "--rate-limit", "0", "--latency", "0.5")  # fmt: skip
    accounts = [
        AccountSpec(f"shop-{i}", c["client_id"], c["api_key"]) for i, c in enumerate(sb.clients)
    ]
    daemon = make_daemon(sb.base_url, accounts=accounts, timeout="10s", retry_for="10s")
    running = daemon.start("run")

    def roles() -> dict[str, int]:
        return {
            a.client_id: sum(c["path"] == ROLES for c in sb.calls(a.client_id)) for a in accounts
        }

    wait_for(lambda: all(roles().values()), "every key's expiry to be asked", timeout=90)
    time.sleep(6)  # the pipelines still running when the last key was asked
    assert running.poll() is None
    assert roles() == {a.client_id: 1 for a in accounts}
    running.process.terminate()
    result = running.wait(timeout=60)
    assert result.returncode == 0, explain(result)
