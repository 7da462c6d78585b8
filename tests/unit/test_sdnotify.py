"""sd_notify to real unix datagram sockets made here (a path and an @abstract name), the
asyncio Watchdog (pings while healthy, withheld once a cycle overruns) and CycleGuard."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from daemon.sdnotify import CycleGuard, SdNotifier, Watchdog

WAIT = 10.0  # seconds: a generous upper bound for things that happen within milliseconds


class Receiver:
    """The systemd end: a bound unix datagram socket that collects what arrives."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)

    def messages(self) -> list[str]:
        """Every datagram received so far, in order (without waiting)."""
        received = []
        while True:
            try:
                received.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return received

    def next(self) -> str:
        """The next datagram, waiting at most WAIT seconds."""
        self.sock.settimeout(WAIT)
        try:
            return self.sock.recv(4096).decode()
        finally:
            self.sock.setblocking(False)


@pytest.fixture
def notifier_for() -> Iterator[Callable[..., SdNotifier]]:
    """A factory of SdNotifiers that are closed after the test."""
    made: list[SdNotifier] = []

    def make(env: dict[str, str] | None = None, **kwargs: int) -> SdNotifier:
        notifier = SdNotifier(env, **kwargs)
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # pytest's tmp_path can exceed the 108-byte limit of a unix socket path.
    path = Path(tempfile.mkdtemp(prefix="sd"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def path_receiver(short_dir: Path) -> Iterator[tuple[str, Receiver]]:
    name = str(short_dir / "notify")
    receiver = Receiver(name)
    yield name, receiver
    receiver.sock.close()


@pytest.fixture
def abstract_receiver() -> Iterator[tuple[str, Receiver]]:
    name = f"@ozon-sync-test-{uuid.uuid4().hex}"
    receiver = Receiver(b"\0" + name[1:].encode())
    yield name, receiver
    receiver.sock.close()


def test_ready_status_and_watchdog_arrive_at_a_socket_path(
    path_receiver: tuple[str, Receiver],
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = path_receiver
    notifier = notifier_for({"NOTIFY_SOCKET": name})
    assert notifier.enabled
    assert notifier.ready()
    assert notifier.status("last sync 12:00, 10 watched, 2 overdue")
    assert notifier.watchdog()
    assert notifier.stopping()
    notifier.close()
    assert receiver.messages() == [
        "READY=1",
        "STATUS=last sync 12:00, 10 watched, 2 overdue",
        "WATCHDOG=1",
        "STOPPING=1",
    ]


def test_an_abstract_socket_name_starting_with_at_is_supported(
    abstract_receiver: tuple[str, Receiver],
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = abstract_receiver
    notifier = notifier_for({"NOTIFY_SOCKET": name})
    notifier.ready(status="started")
    notifier.watchdog()
    notifier.close()
    assert receiver.messages() == ["READY=1\nSTATUS=started", "WATCHDOG=1"]


def test_status_text_is_folded_to_one_line(
    path_receiver: tuple[str, Receiver], notifier_for: Callable[..., SdNotifier]
) -> None:
    name, receiver = path_receiver
    notifier = notifier_for({"NOTIFY_SOCKET": name})
    notifier.status("shop-1: ok\nshop-2:   failed\n")
    assert receiver.next() == "STATUS=shop-1: ok shop-2: failed"


def test_reloading_sends_reloading_with_the_current_monotonic_time(
    path_receiver: tuple[str, Receiver],
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = path_receiver
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier_for({"NOTIFY_SOCKET": name}).reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = receiver.next().split("\n")
    assert first == "RELOADING=1"
    assert second.startswith("MONOTONIC_USEC=")
    assert before <= int(second.removeprefix("MONOTONIC_USEC=")) <= after


def test_without_notify_socket_every_call_is_a_no_op(
    notifier_for: Callable[..., SdNotifier],
) -> None:
    notifier = notifier_for({"WATCHDOG_USEC": "2000000"})
    assert not notifier.enabled
    for call in (notifier.ready, notifier.watchdog, notifier.stopping, notifier.reloading):
        assert call() is False
    assert notifier.status("x") is False
    assert notifier.watchdog_interval() is None
    assert notifier._socket is None
    assert Watchdog(notifier, lambda: True).start() is False


def test_the_process_environment_is_used_by_default(
    path_receiver: tuple[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = path_receiver
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = notifier_for()
    assert notifier.watchdog_interval() == 3.0
    notifier.ready()
    assert receiver.next() == "READY=1"


def test_an_unsupported_notify_socket_disables_notifying_with_a_warning(
    notifier_for: Callable[..., SdNotifier],
) -> None:
    with structlog.testing.capture_logs() as logs:
        notifier = notifier_for({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert [entry["event"] for entry in logs] == ["sd_notify_unsupported"]


def test_a_failed_send_never_raises_and_warns_once_until_it_works_again(
    short_dir: Path,
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name = str(short_dir / "notify")
    notifier = notifier_for({"NOTIFY_SOCKET": name})  # nobody listens there yet
    with structlog.testing.capture_logs() as logs:
        assert notifier.ready() is False
        assert notifier.watchdog() is False
        assert notifier.watchdog() is False
        receiver = Receiver(name)
        assert notifier.watchdog() is True
    receiver.sock.close()
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [entry["event"] for entry in warnings] == ["sd_notify_failed"]
    assert warnings[0]["message"] == "READY=1"
    assert logs[-1]["event"] == "sd_notify_recovered"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "4242"}, 120.0),
        ({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
    ids=["usec only", "our pid", "another pid", "zero", "not a number", "unset"],
)
def test_watchdog_interval_reads_watchdog_usec_for_this_process(
    env: dict[str, str],
    expected: float | None,
    notifier_for: Callable[..., SdNotifier],
) -> None:
    notifier = notifier_for({"NOTIFY_SOCKET": "/run/systemd/notify", **env}, pid=4242)
    assert notifier.watchdog_interval() == expected


def test_the_watchdog_pings_at_half_the_interval(notifier_for: Callable[..., SdNotifier]) -> None:
    notifier = notifier_for({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "120000000"})
    assert Watchdog(notifier, lambda: True).period == 60.0


def sequence(*answers: bool) -> tuple[Callable[[], bool], list[bool]]:
    """A healthy() that gives `answers` in order, then repeats the last; and its call log."""
    calls: list[bool] = []

    def healthy() -> bool:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(answer)
        return answer

    return healthy, calls


async def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_watchdog_stops_pinging_when_healthy_turns_false(
    path_receiver: tuple[str, Receiver],
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = path_receiver
    notifier = notifier_for({"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "100000"})
    healthy, calls = sequence(True, True, True, False)
    watchdog = Watchdog(notifier, healthy)
    assert watchdog.period == 0.05
    with structlog.testing.capture_logs() as logs:
        assert watchdog.start()
        await wait_for(lambda: len(calls) >= 8)  # four checks after it turned False
        watchdog.stop()
    assert receiver.messages() == ["WATCHDOG=1"] * 3
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "watchdog_withheld"
    ]


async def test_the_watchdog_resumes_pinging_when_healthy_again(
    path_receiver: tuple[str, Receiver],
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = path_receiver
    notifier = notifier_for({"NOTIFY_SOCKET": name})
    healthy, calls = sequence(True, False, False, True)
    watchdog = Watchdog(notifier, healthy, period=0.05)
    with structlog.testing.capture_logs() as logs:
        watchdog.start()
        await wait_for(lambda: len(calls) >= 6)
        watchdog.stop()
    assert len(receiver.messages()) == len(calls) - 2
    events = [entry["event"] for entry in logs]
    assert events.count("watchdog_withheld") == 1
    assert events.count("watchdog_resumed") == 1


async def test_a_health_check_that_raises_stops_the_pings(
    path_receiver: tuple[str, Receiver],
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = path_receiver
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise RuntimeError("bug in the check")

    watchdog = Watchdog(notifier_for({"NOTIFY_SOCKET": name}), broken, period=0.05)
    with structlog.testing.capture_logs() as logs:
        watchdog.start()
        await wait_for(lambda: len(calls) >= 3)
        watchdog.stop()
    assert receiver.messages() == []
    assert "watchdog_check_failed" in [entry["event"] for entry in logs]


async def test_a_stopped_watchdog_checks_and_pings_no_more(
    path_receiver: tuple[str, Receiver],
    notifier_for: Callable[..., SdNotifier],
) -> None:
    name, receiver = path_receiver
    healthy, calls = sequence(True)
    watchdog = Watchdog(notifier_for({"NOTIFY_SOCKET": name}), healthy, period=0.05)
    watchdog.start()
    assert watchdog.start()  # a second start changes nothing
    await wait_for(lambda: len(calls) >= 2)
    watchdog.stop()
    assert not watchdog.running
    stopped_at = len(calls)
    await asyncio.sleep(0.2)
    assert len(calls) == stopped_at
    assert len(receiver.messages()) == stopped_at


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cycle_guard_is_healthy_until_a_cycle_runs_past_its_bound() -> None:
    clock = Clock()
    guard = CycleGuard(600, clock=clock)
    assert guard.healthy()
    with guard.running("shop-1"):
        clock.now += 600
        assert guard.healthy()
        clock.now += 1
        assert not guard.healthy()
        assert guard.overrun() == ["shop-1"]
    assert guard.healthy()


def test_cycle_guard_counts_a_failed_cycle_as_finished() -> None:
    clock = Clock()
    guard = CycleGuard(60, clock=clock)
    with pytest.raises(ConnectionError), guard.running("shop-1"):
        raise ConnectionError("Ozon is down")
    clock.now += 3600
    assert guard.healthy()
    assert guard.overrun() == []
