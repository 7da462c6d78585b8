"""Masking secrets without damaging the rest (issue 24, items 5 and 6), through the installed
command: a one-letter API key is masked where it stands as a token of its own, never inside
other words, config key names or log field names; an Ozon error that echoes a long part of the
key (all but its last character, its tail, a run from its middle) shows none of it, on stdout,
stderr or in the database. (A run of a key that holds no digit and no mixed case, such as
"le-key-abc", reads as words and is left alone: masking it would mask those words elsewhere.)"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli_helpers import clean_env, run_cli

KEY = "hostile-key-abcdef123"


def write_config(folder: Path, body: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[daemon]\ndatabase = "state.db"\nlog_format = "json"\n{body}', encoding="utf-8"
    )
    return path


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_a_one_letter_key_is_masked_only_where_it_stands_alone(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[[accounts]]\nname = "a"\nclient_id = "123456"\napi_key = "a"\n'
        '[[calendars]]\nname = "main"\ndays_off = ["2027-02-15"]\n',
    )
    result = run_cli("--config", str(config), "check", "--offline", env=clean_env())

    assert result.returncode == 0, explain(result)
    for intact in ("[daemon]", "database = ", "[[accounts]]", "warehouse_ids = []", "calendars"):
        assert intact in result.stdout, f"{intact!r} damaged:\n{result.stdout}"
    assert "***" in result.stdout
    assert '"a"' not in result.stdout, "the key as a token of its own"
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    warning = next(line for line in lines if line.get("event") == "inline_api_key")
    assert {"account", "reason", "level", "logger", "timestamp"} <= warning.keys()
    assert warning["account"] == "***", "the account named like the key: masked as a token"
    assert "api_key_credential" in warning["reason"]


class Echoing:
    """A stand-in for Ozon on 127.0.0.1 that refuses every request with 403 and a message
    quoting `echo` (a part of the key it received)."""

    def __init__(self, echo: str) -> None:
        body = json.dumps({"code": 7, "message": f"Invalid Api-Key {echo}", "details": []})

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                data = body.encode()
                self.send_response(403)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Echoing:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=[KEY[:-1], KEY[1:], KEY[10:20], KEY[-9:]], ids=["head", "tail", "mid", "9"])
def echoing(request: pytest.FixtureRequest) -> Iterator[tuple[Echoing, str]]:
    with Echoing(request.param) as server:
        yield server, request.param


def test_a_long_part_of_the_key_echoed_by_ozon_is_masked_everywhere(
    tmp_path: Path, echoing: tuple[Echoing, str]
) -> None:
    server, fragment = echoing
    config = write_config(
        tmp_path,
        f'[ozon]\nbase_url = "{server.url}"\nretry_for = "0s"\n'
        '[[accounts]]\nname = "shop-1"\nclient_id = "123456"\napi_key_env = "OZON_KEY"\n',
    )
    env = clean_env(OZON_KEY=KEY)
    results = [
        run_cli("--config", str(config), *args, env=env, timeout=90)
        for args in (["once"], ["check"], ["status"], ["history"])
    ]

    assert results[0].returncode == 77, explain(results[0])
    assert results[1].returncode == 77, explain(results[1])
    assert "Invalid Api-Key ***" in results[0].stderr, "the echo reached the daemon (control)"
    for result in results:
        assert fragment not in result.stdout + result.stderr, explain(result)
    for path in tmp_path.glob("state.db*"):
        assert fragment.encode() not in path.read_bytes(), path.name
