"""One shop (Client-Id) split by warehouse into two `[[accounts]]`, end to end (issue 15 point
3): the installed `ozon-sync once` against the sandbox in its own process. The shop's
`max_per_cycle` counts both entries together, each posting gets one claim and at most one
request, and renaming the entries in the config while a claim is open (its outcome unknown)
sends no second request: the renamed entry settles the claim and reports it `cancelled`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from daemon.sandbox import SandboxProcess
from tests.e2e.conftest import (
    API_KEY,
    KAZAN_WAREHOUSE,
    MAIN_WAREHOUSE,
    AccountSpec,
    Daemon,
    MakeDaemon,
    StartSandbox,
    config_text,
)

LIMITS = "[policy.cancel]\nenabled = true\nmax_per_cycle = 2\nmax_share = 1.0\n"


def add(sb: SandboxProcess, hours_overdue: float, warehouse: int) -> str:
    moment = datetime.now(UTC) - timedelta(hours=hours_overdue)
    answer = sb.action(
        "add_posting",
        shipment_date=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        warehouse_id=warehouse,
    )
    number: str = answer["posting_number"]
    return number


def split_shop(names: tuple[str, str]) -> list[AccountSpec]:
    """The sandbox's one shop as two entries, one per warehouse."""
    return [
        AccountSpec(names[0], "100500", API_KEY, (MAIN_WAREHOUSE,)),
        AccountSpec(names[1], "100500", API_KEY, (KAZAN_WAREHOUSE,)),
    ]


def journal(daemon: Daemon, number: str) -> list[tuple[str, str]]:
    """(account, event) of the cancellation steps of `number`, oldest first."""
    return [
        (item["account"], item["event"])
        for item in reversed(daemon.history())
        if item["kind"] == "action" and number in item["posting_numbers"]
    ]


def test_a_shop_split_by_warehouse_counts_max_per_cycle_once_and_claims_each_posting_once(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    main = [add(sb, 50 + i, MAIN_WAREHOUSE) for i in range(3)]
    kazan = [add(sb, 60 + i, KAZAN_WAREHOUSE) for i in range(3)]
    daemon = make_daemon(sb.base_url, accounts=split_shop(("north", "south")), extra=LIMITS)

    daemon.once_ok()
    assert sum(len(v) for v in sb.cancel_requests().values()) == 2, "2 for the whole shop"
    daemon.once_ok()
    assert sum(len(v) for v in sb.cancel_requests().values()) == 4
    for _ in range(2):
        daemon.once_ok()

    requests = sb.cancel_requests()
    assert sorted(requests) == sorted(main + kazan)
    assert all(statuses == [200] for statuses in requests.values()), requests
    for number in main + kazan:
        steps = journal(daemon, number)
        assert [event for _, event in steps] == ["cancelled"], (number, steps)
    assert {account for n in main for account, _ in journal(daemon, n)} == {"north"}
    assert {account for n in kazan for account, _ in journal(daemon, n)} == {"south"}


def test_renaming_the_entries_of_a_shop_while_a_cancel_is_open_sends_no_second_request(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty", "--rate-limit", "0")
    number = add(sb, 50, KAZAN_WAREHOUSE)
    add(sb, -72, MAIN_WAREHOUSE)
    # Taken, the answer lost, applied 10 s later.
    sb.set_knobs(cancel_outcome="drop", cancel_apply_delay=10)
    daemon = make_daemon(sb.base_url, accounts=split_shop(("north", "south")), extra=LIMITS)
    sent = time.monotonic()
    daemon.once_ok()
    assert sb.cancel_requests(number) == [0]

    renamed = config_text(sb.base_url, split_shop(("shop-a", "shop-b")), extra=LIMITS)
    daemon.config.write_text(renamed, encoding="utf-8")
    daemon.once_ok()
    assert sb.cancel_requests(number) == [0], "the open claim is the shop's: no second request"

    time.sleep(max(0.0, 12 - (time.monotonic() - sent)))  # Ozon has applied it
    daemon.once_ok()

    assert sb.cancel_requests(number) == [0]
    # The claim keeps the name it was made under; the renamed entry settled it and told.
    assert journal(daemon, number) == [("south", "cancel_failed"), ("south", "cancelled")]
    alerts = [
        (item["account"], item["event"])
        for item in daemon.history()
        if item["kind"] == "alert" and number in item["posting_numbers"]
    ]
    assert ("shop-b", "cancelled") in alerts, alerts
    assert [event for _, event in alerts].count("cancel_failed") == 1, alerts  # told once
    assert "cancelled_elsewhere" not in [event for _, event in alerts]
