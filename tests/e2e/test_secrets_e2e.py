"""No secret is ever shown or kept (issue 16.2), end to end: the sandbox echoes the Api-Key it
received in every error body (as a careless gateway might), and the installed `ozon-sync` runs
`once`, `run`, `status`, `history` and `check --notify` against it. Then stdout, stderr, the
database files (raw bytes, WAL included, read while `run` still has them open) and every
message and ping a route or the heartbeat received are searched for every configured secret."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    API_KEY,
    KAZAN_WAREHOUSE,
    MAIN_WAREHOUSE,
    WRONG_KEY,
    AccountSpec,
    Daemon,
    MakeDaemon,
    StartSandbox,
    explain,
    wait_for,
)
from tests.receiver import Receiver

ROUTE_TOKEN = "route-T0ken-4e7a91c3d2"
ROUTE_PASSWORD = "route-Pa55-8b1d2e"
HEARTBEAT_TOKEN = "beat-T0ken-77f0e1d9c4"
SECRETS = (API_KEY, WRONG_KEY, ROUTE_TOKEN, ROUTE_PASSWORD, HEARTBEAT_TOKEN)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


def grep_everything(daemon: Daemon, receiver: Receiver, also: list[bytes]) -> None:
    """No secret in any output, database file or anything received; `also`: more bytes."""
    blobs: list[tuple[str, bytes]] = []
    for result in daemon.runs:
        blobs.append((f"stdout of {result.args[-2:]}", result.stdout.encode()))
        blobs.append((f"stderr of {result.args[-2:]}", result.stderr.encode()))
    for path in sorted(daemon.config.parent.glob("state.db*")):
        blobs.append((path.name, path.read_bytes()))
    for message in receiver.messages:
        blobs.append((f"message {message.title!r}", json.dumps(message.raw).encode()))
    # (the URLs themselves hold the tokens: what was sent to them must not)
    blobs.extend((f"request body {index}", body) for index, body in enumerate(receiver.bodies))
    blobs.extend((f"live file {index}", data) for index, data in enumerate(also))
    for secret in SECRETS:
        for where, data in blobs:
            assert secret.encode() not in data, f"{secret} in {where}"


def test_an_error_body_echoing_the_api_key_never_shows_or_keeps_any_secret(
    start_sandbox: StartSandbox, make_daemon: MakeDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    sb = start_sandbox("--scenario", "demo")
    sb.set_knobs(echo_api_key=True, forbidden_methods=["/v4/posting/fbs/unfulfilled/list"])
    route = f"json://user:{ROUTE_PASSWORD}@127.0.0.1:{receiver.port}/hook/{ROUTE_TOKEN}"
    beat = f"http://127.0.0.1:{receiver.port}/ping/{HEARTBEAT_TOKEN}"
    accounts = [
        AccountSpec("shop-1", sb.client_id, API_KEY, warehouse_ids=(MAIN_WAREHOUSE,)),
        AccountSpec("shop-2", sb.client_id, WRONG_KEY, warehouse_ids=(KAZAN_WAREHOUSE,)),
    ]
    daemon = make_daemon(
        sb.base_url,
        accounts=accounts,
        extra=f'[[notify]]\nurl = "{route}"\n\n[health]\nheartbeat_url = "{beat}"\n',
    )

    once = daemon.once()
    assert once.returncode == 77, explain(once)
    # The echo reached the daemon (the control for everything below): it kept it masked.
    failing = {
        entry["account"]: entry["reason"]
        for entry in daemon.history()
        if entry["event"] == "api_error"
    }
    assert set(failing) == {"shop-1", "shop-2"}, failing
    assert all("Api-Key: ***" in reason for reason in failing.values()), failing
    messages = receiver.wait_for(2, f"/hook/{ROUTE_TOKEN}")
    assert {m.title.split("]")[0] for m in messages} >= {"[shop-1", "[shop-2"}
    # (the mask's "*" are markup characters: a message shows the place of the key blank)
    assert any("(Api-Key:" in m.message for m in messages), messages

    assert any(b"(Api-Key:" in body for body in receiver.bodies if not body.startswith(b"{")), (
        "the heartbeat carried the failure text"
    )

    for command in (["status"], ["status", "--json"], ["history"], ["history", "--json"]):
        result = daemon.run(*command)
        assert result.returncode == 0, explain(result)
    check = daemon.run("check", "--notify")
    assert check.returncode == 77, explain(check)
    assert f"notify[0] (json://127.0.0.1:{receiver.port}): OK" in check.stdout, check.stdout
    assert "Api-Key: ***" in check.stdout, "check prints the echoed error, masked"

    # `run` until its first cycle is journalled; read its database files while it holds them.
    running = daemon.start("run")
    wal = daemon.config.parent / "state.db-wal"
    wait_for(lambda: wal.exists() and wal.stat().st_size > 0, "run to write its WAL")
    wait_for(lambda: "cycle_finished" in running.stderr_path.read_text(), "a cycle of run")
    live = [path.read_bytes() for path in daemon.config.parent.glob("state.db*")]
    running.process.send_signal(signal.SIGTERM)
    stopped = running.wait(timeout=60)
    assert stopped.returncode == 0, explain(stopped)

    grep_everything(daemon, receiver, live)
