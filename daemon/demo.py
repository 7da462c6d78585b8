"""`ozon-sync demo`: the daemon at work in under half a minute, with no config and no account.

It starts the simulated Ozon Seller API (`daemon.sandbox`, the "demo" scenario: overdue
postings, deadlines coming up, and changes over the first 20 seconds), runs the real engine
(sync cycles, policy, state cache in a temporary SQLite file) and delivers the alerts through
the real outbox and renderer to the console instead of a phone, then shows the status table.
The packer's board (read-only) is served on 127.0.0.1 while it runs; its address is printed.

Imports the engine, the after-cycle pipeline, notify, sandbox, store, web and config; nothing
imports it but the CLI.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from daemon.aftercycle import after_cycle
from daemon.alerts import EVENTS
from daemon.config import parse_config, resolve_secrets
from daemon.engine import Engine, utc_now
from daemon.notify.outbox import Outbox
from daemon.notify.render import Message
from daemon.notify.routes import Route, Router
from daemon.sandbox import Knobs, Sandbox, SandboxOptions
from daemon.store import Store
from daemon.views import print_status
from daemon.web.server import board_server

__all__ = ["run_demo"]

ACCOUNT = "demo-shop"
SYNC_AT = (0.0, 4.0, 7.0, 10.0, 13.0, 16.5, 19.5)  # seconds after the sandbox started
CONSOLE_ROUTE = "console://"

_STORY = {
    4.0: "Ozon: a new order arrived, due in 50 minutes.",
    7.0: "Your warehouse packed one posting: it now waits for hand-over, still on watch.",
    10.0: "A buyer cancelled an order in the Ozon app.",
    13.0: "Ozon moved a posting's shipment deadline.",
    16.5: "Ozon split a posting into two parts (the parts are watched, the split is not news).",
    19.5: "A posting awaiting hand-over was handed to the courier.",
}


class _Console:
    """A notification route that prints to the terminal, as a phone would show it."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0

    async def send(self, _url: str, message: Message) -> bool:
        self.count += 1
        bar = "─" * 72
        lines = [f"┌{bar}", f"│ 📱 {message.title}", f"├{bar}"]
        lines += [f"│ {line}" for line in message.body.splitlines()]
        lines.append(f"└{bar}")
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        return True


def run_demo(out: TextIO, language: str = "en", timezone: str = "Europe/Moscow") -> int:
    """Run the demonstration, writing the narration, alerts and status table to `out`."""
    with tempfile.TemporaryDirectory(prefix="ozon-sync-demo-") as folder:
        return asyncio.run(_demo(Path(folder), out, language, timezone))


async def _demo(folder: Path, out: TextIO, language: str, timezone: str) -> int:
    def say(text: str = "") -> None:
        out.write(text + "\n")
        out.flush()

    say("ozon-sync demo: a simulated Ozon shop, the real daemon, alerts printed here.")
    say("Nothing here talks to Ozon; the simulated Seller API runs on 127.0.0.1.\n")
    options = SandboxOptions(scenario="demo", port=0, knobs=Knobs(rate_limit=0))
    with Sandbox(options) as sandbox:
        started = time.monotonic()
        config = parse_config(
            {
                "daemon": {
                    "database": str(folder / "demo.db"),
                    "timezone": timezone,
                    "language": language,
                    "digest_at": "00:00",
                },
                "ozon": {"base_url": sandbox.base_url, "retry_for": "10s"},
                "accounts": [
                    {
                        "name": ACCOUNT,
                        "client_id": sandbox.client_id,
                        "api_key": sandbox.api_key,
                    }
                ],
                "notify": [{"url": CONSOLE_ROUTE}],
                "board": {"listen": "127.0.0.1:0"},  # read-only: no token
            },
            folder / "config.toml",
        )
        secrets = resolve_secrets(config, {})
        console = _Console(out)
        say(f"Simulated Ozon Seller API at {sandbox.base_url} (Client-Id {sandbox.client_id}).")
        say(
            "Policy: reminders 24h / 4h / 1h before shipment_date, overdue alerts, and "
            "automatic cancellation OFF (dry run: it only says what it would cancel).\n"
        )
        with Store.open(config.database_path(), mode="writer") as store:
            board = await board_server(config, store, None).start()
            say(f"The packer's board: {board.url} (open it while the demo runs).\n")
            async with Engine(config, secrets, store) as engine:
                router = Router([Route(0, CONSOLE_ROUTE, frozenset(EVENTS), label="console")])
                outbox = Outbox(
                    store,
                    router,
                    zone=ZoneInfo(timezone),
                    language=language,
                    now=utc_now,
                    sender=console.send,
                    calendars=engine.calendars,
                )
                for number, at in enumerate(SYNC_AT, start=1):
                    await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
                    if at in _STORY:
                        say(f"\n[+{at:4.1f}s] {_STORY[at]}")
                    before = console.count
                    outcome = await engine.cycle_all()
                    result = outcome.results[0]
                    await after_cycle(store, engine.jobs, config.daemon, outbox, utc_now)
                    say(
                        f"  sync {number}: {result.watched} postings on watch, "
                        f"{result.new} new, {result.departed} left the watch, "
                        f"{console.count - before} message(s)"
                        + ("" if result.ok else f"; Ozon error: {result.error}")
                    )
                say("\nThe state cache now holds (this is `ozon-sync status`):\n")
                now = utc_now()
                print_status(
                    store.postings(now),
                    store.sync_states(),
                    now,
                    ZoneInfo(timezone),
                    timedelta(minutes=5),
                    out,
                )
            await board.stop()
    say(
        f"\nDone: {console.count} messages in {time.monotonic() - started:.0f} s. Next steps: "
        "copy config.example.toml to /etc/ozon-sync/config.toml, add your Client-Id and API "
        "key and a [[notify]] route (Telegram, WeCom, DingTalk, Feishu, email...), run "
        "`ozon-sync check --notify`, then `ozon-sync run` (see the README)."
    )
    return 0
