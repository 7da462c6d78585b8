"""Shards as real processes: two `ozon-sync run --shard N/2` read one config of 10 accounts
against one sandbox serving 10 Client-Ids. Every account is synced by exactly one of them (the
one its Client-Id hashes to), none by both; `status` and `history` merge both databases; a
killed shard leaves only its own accounts stale while the other's /healthz stays green."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from daemon.sandbox import SandboxProcess
from daemon.shards import shard_of
from tests.e2e.conftest import (
    AccountSpec,
    MakeDaemon,
    StartSandbox,
    assert_plain_last_line,
    explain,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e

ACCOUNTS = 10
POLL = 10  # seconds: the shortest poll_interval the config allows
UNFULFILLED = "/v4/posting/fbs/unfulfilled/list"
BOARD_TOKEN = "e2e-Shard-B0ard-7c41d9a2"


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def synced_accounts(database: Path) -> set[str]:
    if not database.exists():
        return set()
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute("SELECT account FROM sync_state WHERE last_success_at IS NOT NULL")
        return {row[0] for row in rows}
    except sqlite3.OperationalError:  # being created by its writer
        return set()
    finally:
        conn.close()


def finished_cycles(log: str) -> list[str]:
    """The accounts of every `cycle_finished` line of a JSON log, in order."""
    return [
        line["account"]
        for line in map(json.loads, (text for text in log.splitlines() if text.startswith("{")))
        if line.get("event") == "cycle_finished"
    ]


def test_two_shards_share_the_accounts_and_a_killed_one_leaves_only_its_own_stale(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb = start_sandbox("--clients", str(ACCOUNTS), "--scenario", "bulk", "--postings", "12",
                       "--rate-limit", "0")  # fmt: skip
    accounts = [
        AccountSpec(f"shop-{i}", c["client_id"], c["api_key"]) for i, c in enumerate(sb.clients)
    ]
    owner = {a.name: shard_of(a.client_id, 2) for a in accounts}
    assert sorted(set(owner.values())) == [0, 1]  # both shards own some of the ten
    port = free_port()
    daemon = make_daemon(
        sb.base_url, accounts=accounts, rps=50,
        extra=f'[health]\nlisten = "127.0.0.1:{port}"\n',
    )  # fmt: skip
    config = daemon.config.read_text().replace(
        "[daemon]\n", f'[daemon]\npoll_interval = "{POLL}s"\n'
    )
    daemon.config.write_text(config)
    shards = [daemon.start("run", "--shard", "0/2"), daemon.start("run", "--shard", "1/2")]
    folder = daemon.config.parent
    databases = [folder / "state-0.db", folder / "state-1.db"]
    mine = [{n for n, s in owner.items() if s == shard} for shard in (0, 1)]

    wait_for(
        lambda: [synced_accounts(db) for db in databases] == mine,
        "each shard to sync its own accounts",
        timeout=90,
    )
    assert not (folder / "state.db").exists()  # no process uses the unsharded database
    for shard, health_port in ((0, port), (1, port + 1)):  # ports moved up by N
        code, text = healthz(health_port)
        assert code == 200, text
        assert {n for n in owner if f"{n}:" in text} == mine[shard], text

    # status merges both databases: every account's postings, from the shard that owns it
    merged = daemon.status()
    assert {item["account"] for item in merged} == set(owner)
    assert {item["account"] for item in daemon.status("--shard", "1/2")} == mine[1]
    assert daemon.run("history", "--json").returncode == 0

    shards[1].kill()
    killed_at = time.monotonic()
    wait_for(lambda: time.monotonic() - killed_at > 3 * POLL + 5, "three poll intervals", 60)
    code, text = healthz(port)
    assert code == 200, text  # the surviving shard's accounts are all fresh
    assert {n for n in owner if f"{n}:" in text} == mine[0], text
    status = daemon.run("status")
    assert status.returncode == 0, explain(status)
    lines = [line for line in status.stdout.splitlines() if ": last successful sync" in line]
    stale = {line.split(":")[0] for line in lines if line.endswith("STALE")}
    assert stale == mine[1], status.stdout

    alive = shards[0]
    alive.process.terminate()
    result = alive.wait(timeout=60)
    assert result.returncode == 0, explain(result)
    cycles = {
        0: finished_cycles(result.stderr),
        1: finished_cycles(shards[1].stderr_path.read_text()),
    }
    assert set(cycles[0]) == mine[0] and set(cycles[1]) == mine[1]  # none synced by both
    # and nobody else: Ozon (the sandbox) saw exactly the listings these cycles made
    for account in accounts:
        calls = sb.calls(account.client_id)
        firsts = [
            c for c in calls if c["path"] == UNFULFILLED and not (c["body"] or {}).get("cursor")
        ]
        made = cycles[owner[account.name]].count(account.name)
        # the killed shard may have been killed inside a cycle: its listing, but no log line
        assert made <= len(firsts) <= made + owner[account.name], (account.name, firsts, made)


def four_shops(start_sandbox: StartSandbox) -> tuple[SandboxProcess, list[AccountSpec]]:
    """A sandbox serving four Client-Ids of five postings each, and an account for each."""
    sb = start_sandbox("--clients", "4", "--scenario", "bulk", "--postings", "5",
                       "--rate-limit", "0")  # fmt: skip
    accounts = [
        AccountSpec(f"shop-{i}", c["client_id"], c["api_key"]) for i, c in enumerate(sb.clients)
    ]
    return sb, accounts


def test_once_with_a_shard_syncs_only_its_accounts_into_its_own_database(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb, accounts = four_shops(start_sandbox)
    daemon = make_daemon(sb.base_url, accounts=accounts)
    result = daemon.run("once", "--shard", "1/2")
    assert result.returncode == 0, explain(result)
    folder = daemon.config.parent
    expected = {a.name for a in accounts if shard_of(a.client_id, 2) == 1}
    assert synced_accounts(folder / "state-1.db") == expected
    assert not (folder / "state.db").exists() and not (folder / "state-0.db").exists()
    others = [a for a in accounts if a.name not in expected]
    assert all(sb.calls(a.client_id) == [] for a in others)  # never even asked Ozon


@pytest.mark.parametrize("command", ["run", "once", "status", "history"])
def test_a_bad_shard_option_is_a_usage_error_in_one_line(
    command: str, make_daemon: MakeDaemon
) -> None:
    daemon = make_daemon("http://127.0.0.1:9")
    result = daemon.run(command, "--shard", "2/2")
    assert result.returncode == 2, explain(result)
    assert_plain_last_line(result, f"{command}: --shard: shard 2/2 does not exist")


@pytest.mark.parametrize("command", ["run", "once", "status", "check"])
def test_a_bad_shard_key_is_a_config_error_naming_it(command: str, make_daemon: MakeDaemon) -> None:
    daemon = make_daemon("http://127.0.0.1:9")
    text = daemon.config.read_text().replace("[daemon]\n", '[daemon]\nshard = "1/one"\n')
    daemon.config.write_text(text)
    args = ["check", "--offline"] if command == "check" else [command]
    result = daemon.run(*args)
    assert result.returncode == 78, explain(result)
    assert_plain_last_line(result, "daemon.shard", '"1/one" is not a shard')


def test_a_shard_started_after_m_grew_keeps_the_holds_made_before(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    sb, accounts = four_shops(start_sandbox)
    daemon = make_daemon(sb.base_url, accounts=accounts)
    daemon.once_ok()  # one process, one database
    item = next(p for p in daemon.status() if shard_of(_client_of(accounts, p["account"]), 2) == 1)
    held = daemon.run("hold", item["posting_number"])
    assert held.returncode == 0, explain(held)
    result = daemon.run("once", "--shard", "1/2")  # M went from 1 to 2: a new database
    assert result.returncode == 0, explain(result)
    assert (daemon.config.parent / "state-1.db").exists()
    shard = {p["posting_number"]: p["held"] for p in daemon.status("--shard", "1/2")}
    assert shard[item["posting_number"]] is True
    assert '"holds_carried"' in result.stderr


def _client_of(accounts: list[AccountSpec], name: str) -> str:
    return next(a.client_id for a in accounts if a.name == name)


def test_the_board_command_serves_every_shards_database_and_acts_in_the_one_caching_it(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon
) -> None:
    """`once --shard N/2` on a timer writes two databases; `ozon-sync board` on the same config
    shows both, as `status` does, and an acknowledgement lands in the shard that caches it."""
    sb, accounts = four_shops(start_sandbox)
    assert sorted({shard_of(a.client_id, 2) for a in accounts}) == [0, 1]
    daemon = make_daemon(
        sb.base_url, accounts=accounts, extra='[board]\ntoken_env = "BOARD_TOKEN"\n'
    )
    daemon.env["BOARD_TOKEN"] = BOARD_TOKEN
    for shard in ("0/2", "1/2"):
        result = daemon.run("once", "--dry-run", "--shard", shard)
        assert result.returncode == 0, explain(result)
    merged = daemon.status()
    assert {item["account"] for item in merged} == {a.name for a in accounts}
    running = daemon.start("board", "--listen", f"127.0.0.1:{free_port()}")
    try:
        wait_for(lambda: "serving" in running.stdout_path.read_text(), "the board", 60)
        assert "2 shard databases" in running.stdout_path.read_text()
        url = running.stdout_path.read_text().split("serving ", 1)[1].split()[0]

        with urllib.request.urlopen(url + "api/postings", timeout=30) as answer:  # noqa: S310
            items = json.loads(answer.read())
        assert [i["posting_number"] for i in items] == [i["posting_number"] for i in merged]
        with urllib.request.urlopen(url + "api/sync", timeout=30) as answer:  # noqa: S310
            synced = json.loads(answer.read())
        assert sorted(a["account"] for a in synced["accounts"] if a["last_success_at"]) == sorted(
            a.name for a in accounts
        )

        second = next(i for i in merged if shard_of(_client_of(accounts, i["account"]), 2) == 1)
        ack = urllib.request.Request(  # noqa: S310 - 127.0.0.1
            url + f"api/postings/{second['posting_number']}/ack",
            data=json.dumps({"by": "Wang"}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {BOARD_TOKEN}"},
            method="POST",
        )
        with urllib.request.urlopen(ack, timeout=30) as answer:  # noqa: S310
            assert json.loads(answer.read())["acknowledged_by"] == "Wang"
    finally:
        running.process.terminate()
        assert running.wait(timeout=30).returncode == 0
    shard_one = {i["posting_number"]: i for i in daemon.status("--shard", "1/2")}
    assert shard_one[second["posting_number"]]["acknowledged_by"] == "Wang"
    shard_zero = daemon.status("--shard", "0/2")
    assert all(i["acknowledged_by"] is None for i in shard_zero)
