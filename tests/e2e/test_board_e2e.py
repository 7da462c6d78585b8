"""`ozon-sync board`, `ozon-sync ack` and `run`'s board through the installed command (issue 18):
the board serves the local database alone (no API key in its environment), its JSON is the
`status --json` elements, writes need the token; `ack` records who took a posting in hand
until its deadline moves, for `status --json`, `history --json` and the board alike; a board
facing the network without a token, a bad address and a taken port are refused with their
exit codes; `run` serves the board when `[board] listen` is set and stops it on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from daemon.sandbox import SandboxProcess
from tests.e2e.conftest import (
    API_KEY,
    Daemon,
    MakeDaemon,
    Running,
    StartSandbox,
    assert_no_secret,
    assert_plain_last_line,
    explain,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e

TOKEN = "e2e-B0ard-Tok3n-8e2f4a6c1d3b"
BOARD = '[board]\ntoken_env = "BOARD_TOKEN"\n'
FIRST, SECOND, OTHER = "30000001-0001-1", "30000001-0001-2", "30000009-0009-1"


def add(sb: SandboxProcess, number: str, hours: float) -> None:
    due = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sb.action("add_posting", shipment_date=due, posting_number=number)


def cached_site(start_sandbox: StartSandbox, make_daemon: MakeDaemon, extra: str = "") -> Daemon:
    sb = start_sandbox("--scenario", "empty")
    add(sb, FIRST, -2)
    add(sb, SECOND, 1)
    add(sb, OTHER, 5)
    daemon = make_daemon(sb.base_url, extra=extra)
    result = daemon.run("once", "--dry-run")
    assert result.returncode == 0, explain(result)
    daemon.sandbox = sb  # type: ignore[attr-defined]
    return daemon


def request(
    url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(url, data=data, headers=headers, method="POST" if body else "GET")  # noqa: S310
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:  # noqa: S310 - 127.0.0.1
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def serving(running: Running) -> str:
    wait_for(lambda: "serving" in running.stdout_path.read_text(), "the board to serve", 60)
    found = re.search(r"serving (http://\S+/)", running.stdout_path.read_text())
    assert found
    return found[1]


def without_keys(daemon: Daemon) -> Daemon:
    """The same config with no API key in the environment: `board` and `ack` need none."""
    env = {k: v for k, v in daemon.env.items() if not k.startswith("OZON_E2E_KEY")}
    copy = Daemon(daemon.config, {**env, "BOARD_TOKEN": TOKEN})
    copy.runs = daemon.runs
    copy.started = daemon.started
    return copy


def stop(running: Running) -> None:
    running.process.send_signal(signal.SIGTERM)
    result = running.wait(timeout=30)
    assert result.returncode == 0, explain(result)


# ---------------------------------------------------------------- ack


def test_ack_records_who_took_the_posting_until_its_deadline_moves(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = cached_site(start_sandbox, make_daemon)
    local = without_keys(daemon)

    result = local.run("ack", SECOND, "--by", "Li Wei")

    assert result.returncode == 0, explain(result)
    assert result.stdout.startswith(f"{SECOND} acknowledged by Li Wei for its deadline ")
    status = {item["posting_number"]: item for item in local.status()}
    assert status[SECOND]["acknowledged_by"] == "Li Wei"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status[SECOND]["acknowledged_at"])
    assert status[FIRST]["acknowledged_by"] is None and status[FIRST]["acknowledged_at"] is None
    table = local.run("status")
    assert "acknowledged" in table.stdout and "Li Wei" in table.stdout
    history = local.history()
    assert history[0] == {
        "at": status[SECOND]["acknowledged_at"],
        "account": "shop-1",
        "event": "acknowledged",
        "posting_numbers": [SECOND],
        "dry_run": False,
        "reason": "by Li Wei",
        "kind": "action",
    }

    moved = (datetime.now(UTC) + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    daemon.sandbox.action("move_deadline", posting_number=SECOND, shipment_date=moved)  # type: ignore[attr-defined]
    daemon.once_ok()
    after = {item["posting_number"]: item for item in local.status()}
    assert after[SECOND]["acknowledged_by"] is None  # a moved deadline clears it
    assert [e["event"] for e in local.history()].count("acknowledged") == 1  # history keeps it


def test_ack_of_an_order_number_acknowledges_its_cached_postings(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = cached_site(start_sandbox, make_daemon)

    result = daemon.run("ack", "30000001-0001", "--by", "Wang")

    assert result.returncode == 0, explain(result)
    assert result.stdout.startswith("Order 30000001-0001: 2 postings acknowledged by Wang:")
    acked = {i["posting_number"]: i["acknowledged_by"] for i in daemon.status()}
    assert acked == {FIRST: "Wang", SECOND: "Wang", OTHER: None}


def test_ack_of_an_unknown_number_exits_2_naming_the_closest(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = cached_site(start_sandbox, make_daemon)

    typo = daemon.run("ack", "30000001-0010-1", "--by", "Li")
    empty_name = daemon.run("ack", SECOND, "--by", "  ")

    assert typo.returncode == 2, explain(typo)
    last = assert_plain_last_line(typo, "ack: no cached posting is numbered 30000001-0010-1")
    assert FIRST in last and "--force" not in last
    assert empty_name.returncode == 2, explain(empty_name)
    assert_plain_last_line(empty_name, "ack: --by:")
    assert all(item["acknowledged_by"] is None for item in daemon.status())


def test_ack_without_by_names_the_login_user(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = cached_site(start_sandbox, make_daemon)
    daemon.env["USER"] = daemon.env["LOGNAME"] = "packer7"
    result = daemon.run("ack", OTHER)
    assert result.returncode == 0, explain(result)
    assert {i["posting_number"]: i["acknowledged_by"] for i in daemon.status()}[OTHER] == "packer7"


# ---------------------------------------------------------------- board


def test_board_serves_the_local_database_without_api_keys(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = without_keys(cached_site(start_sandbox, make_daemon, extra=BOARD))
    running = daemon.start("board", "--listen", f"127.0.0.1:{free_port()}")
    url = serving(running)
    assert "token needed to write" in running.stdout_path.read_text()

    code, items = request(url + "api/postings")
    assert code == 200
    status = daemon.status()
    assert [i["posting_number"] for i in items] == [i["posting_number"] for i in status]
    for mine, theirs in zip(items, status, strict=True):  # the same elements, a moment apart
        assert abs(mine.pop("seconds_left") - theirs.pop("seconds_left")) <= 5
        assert mine == theirs

    code, error = request(url + f"api/postings/{SECOND}/ack", {"by": "Li"})
    assert code == 401 and "token" in error["error"]
    code, element = request(url + f"api/postings/{SECOND}/ack", {"by": "Li"}, TOKEN)
    assert code == 200 and element["acknowledged_by"] == "Li"
    code, element = request(url + f"api/postings/{SECOND}/hold", {"for": "2h"}, TOKEN)
    assert code == 200 and element["held"] is True
    assert {i["posting_number"]: i["held"] for i in daemon.status()}[SECOND] is True
    assert request(url + "api/postings/99-1-1/ack", {"by": "Li"}, TOKEN)[0] == 404
    assert request(url + f"api/postings/{SECOND}/hold", {"for": "never"}, TOKEN)[0] == 400
    with urllib.request.urlopen(url, timeout=30) as page:  # noqa: S310 - 127.0.0.1
        assert "What to pack next" in page.read().decode()

    stop(running)
    assert_no_secret(daemon, (API_KEY, TOKEN))


def test_a_board_facing_the_network_without_a_token_exits_78(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = cached_site(start_sandbox, make_daemon)
    result = daemon.run("board", "--listen", f"0.0.0.0:{free_port()}", timeout=60)
    assert result.returncode == 78, explain(result)
    assert_plain_last_line(result, "is not a loopback address", "token_env")


def test_a_bad_listen_address_exits_2_and_a_taken_port_exits_75(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    daemon = cached_site(start_sandbox, make_daemon)
    bad = daemon.run("board", "--listen", "somewhere", timeout=60)
    assert bad.returncode == 2, explain(bad)
    assert "--listen" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = daemon.run("board", "--listen", f"127.0.0.1:{port}", timeout=60)
    assert busy.returncode == 75, explain(busy)
    assert_plain_last_line(busy, f"cannot listen on 127.0.0.1:{port} for the board")


def test_a_missing_board_token_is_a_config_error_for_board_check_and_run(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    listen = f'listen = "127.0.0.1:{free_port()}"\n'
    daemon = cached_site(start_sandbox, make_daemon, extra=BOARD + listen)  # no BOARD_TOKEN
    for command in (["board"], ["check", "--offline"], ["run"]):
        result = daemon.run(*command, timeout=60)
        assert result.returncode == 78, explain(result)
        assert_plain_last_line(
            result, "board.token_env: the environment variable named for the board is not set"
        )


def test_run_serves_the_board_when_board_listen_is_set(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--scenario", "empty")
    add(sb, FIRST, 2)
    daemon = make_daemon(sb.base_url, extra=BOARD + 'listen = "127.0.0.1:0"\n')
    daemon.env["BOARD_TOKEN"] = TOKEN
    running = daemon.start("run")

    def listening() -> str | None:
        for line in running.stderr_path.read_text().splitlines():
            if '"board_listening"' in line:
                url: str = json.loads(line)["url"]
                return url
        return None

    wait_for(lambda: listening() is not None, "run to serve the board", 60)
    url = listening()
    assert url is not None
    wait_for(lambda: bool(request(url + "api/postings")[1]), "the first cycle", 60)
    code, element = request(url + f"api/postings/{FIRST}/ack", {"by": "Li"}, TOKEN)
    assert code == 200 and element["acknowledged_by"] == "Li"
    stop(running)
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)  # noqa: S310 - closed on shutdown
    assert {i["posting_number"]: i["acknowledged_by"] for i in daemon.status()} == {FIRST: "Li"}
    assert_no_secret(daemon, (API_KEY, TOKEN))
