"""The health server against clients that never finish (issue 16 item 8): an idle or a
drip-feeding connection is closed after a few seconds, and connections beyond a bound are
refused at once, so half-open connections can never pile up (threads, or now tasks of the
daemon's loop: the server is uvicorn inside it, daemon.web.serve). Real sockets on
127.0.0.1; the bounds below are functional (generous), never speed targets."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from daemon.health import IDLE_TIMEOUT, MAX_CONNECTIONS, Health
from daemon.metrics import Metrics
from tests.web_server import HealthServer

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
GENEROUS = 20.0  # seconds a test waits for something the server does within about one second


@pytest.fixture
def server() -> Iterator[HealthServer]:
    health = Health(timedelta(minutes=5), ["shop-1"], started_at=START)
    with HealthServer(
        "127.0.0.1",
        0,
        health,
        Metrics(accounts=["shop-1"]),
        clock=lambda: START,
        idle_timeout=0.5,
        request_deadline=1.5,
        max_connections=4,
    ) as running:
        yield running


def connect(server: HealthServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=GENEROUS)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Wait (at most GENEROUS seconds) for the server to end the connection: True when it did
    (end of stream or a reset), False when it was still open at the end."""
    sock.settimeout(GENEROUS)
    try:
        while sock.recv(4096):
            pass  # a 503 or a 408 may come first
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_the_defaults_close_idle_connections_within_seconds_and_bound_them() -> None:
    assert 1 <= IDLE_TIMEOUT <= 10
    assert 4 <= MAX_CONNECTIONS <= 64


def test_a_connection_that_sends_nothing_is_closed(server: HealthServer) -> None:
    with connect(server) as idle:
        assert closed_by_server(idle)


def test_a_request_that_drips_in_forever_is_closed_by_the_deadline(server: HealthServer) -> None:
    with connect(server) as slow:
        started = time.monotonic()
        closed = False
        with contextlib.suppress(OSError):  # a write after the server closed may fail
            while time.monotonic() - started < GENEROUS:
                slow.sendall(b"G")  # one byte now and then: never idle, never finished
                slow.settimeout(0.2)
                try:
                    if slow.recv(4096) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
        assert closed or closed_by_server(slow)
        assert time.monotonic() - started < GENEROUS


def test_connections_beyond_the_bound_are_refused_and_the_server_still_answers(
    server: HealthServer,
) -> None:
    threads_before = threading.active_count()
    held = [connect(server) for _ in range(4)]
    try:
        time.sleep(0.2)  # let the server accept the four
        extra = [connect(server) for _ in range(20)]
        for sock in extra:
            assert closed_by_server(sock), "a connection beyond the bound was kept open"
            sock.close()
        # the four held ones hold at most four threads, the twenty refused ones none
        assert threading.active_count() <= threads_before + 4
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + GENEROUS
    status = 0
    while time.monotonic() < deadline and status != 200:
        with contextlib.suppress(httpx.HTTPError):
            status = httpx.get(f"{server.url}/healthz", timeout=GENEROUS).status_code
        if status != 200:
            time.sleep(0.1)
    assert status == 200


def test_many_half_open_connections_never_pile_up_threads(server: HealthServer) -> None:
    threads_before = threading.active_count()
    socks = [connect(server) for _ in range(50)]
    try:
        time.sleep(0.3)
        assert threading.active_count() <= threads_before + 4
        for sock in socks:
            assert closed_by_server(sock)
    finally:
        for sock in socks:
            sock.close()
    assert httpx.get(f"{server.url}/healthz", timeout=GENEROUS).status_code == 200
