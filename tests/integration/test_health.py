"""/metrics and /healthz over real HTTP on 127.0.0.1, and the heartbeat against a local receiver
(http.server in a thread): the URL after a completed cycle, URL + "/fail" after a failed one, and
a dead URL that only warns."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import prometheus_client
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from daemon.health import (
    STALE_AFTER,
    Health,
    Heartbeat,
    ListenError,
    is_loopback,
    mask_url,
    split_listen,
)
from daemon.metrics import Metrics
from daemon.ozon import RequestEvent
from tests.web_server import HealthServer

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=5)
TOKEN = "5f0e2c1a-9b7d-4e4f-8a61-secrettoken1"


def scrape(server: HealthServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics and return {(sample name, labels): value}."""
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(accounts=["shop-1", "shop-2"])


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_metrics_are_scraped_over_http_after_recording_values(metrics: Metrics) -> None:
    health = Health(INTERVAL, ["shop-1", "shop-2"], metrics=metrics, started_at=START)
    health.cycle_finished("shop-1", ok=True, at=START + timedelta(seconds=30), duration=1.5)
    health.cycle_finished("shop-2", ok=False, at=START, duration=120.0)
    metrics.api_request("/v4/posting/fbs/unfulfilled/list", 200, retried=False)
    metrics.api_request("/v4/posting/fbs/unfulfilled/list", None, retried=True)
    metrics.on_request(
        RequestEvent(
            method="POST",
            path="/v4/posting/fbs/list",
            status=503,
            attempt=1,
            duration=0.25,
            retried=True,
        )
    )
    metrics.alert("overdue", "sent")
    metrics.alert("overdue", "sent")
    metrics.alert("reminder", "failed")
    metrics.alert("reminder", "dropped")
    metrics.cancellation("cancelled")
    metrics.set_postings("shop-1", watched=12, overdue=3)

    with HealthServer("127.0.0.1", 0, health, metrics) as server:
        assert server.port != 0
        samples = scrape(server)

    assert samples[("ozon_sync_cycles_total", labels(account="shop-1", result="ok"))] == 1
    assert samples[("ozon_sync_cycles_total", labels(account="shop-1", result="failed"))] == 0
    assert samples[("ozon_sync_cycles_total", labels(account="shop-2", result="failed"))] == 1
    assert samples[("ozon_sync_cycle_duration_seconds_sum", labels(account="shop-2"))] == 120.0
    unfulfilled = "/v4/posting/fbs/unfulfilled/list"
    requests = "ozon_sync_api_requests_total"
    assert samples[(requests, labels(method="POST", path=unfulfilled, status="200"))] == 1
    assert samples[(requests, labels(method="POST", path=unfulfilled, status="none"))] == 1
    assert samples[(requests, labels(method="POST", path="/v4/posting/fbs/list", status="503"))]
    retries = "ozon_sync_api_retries_total"
    assert samples[(retries, labels(method="POST", path=unfulfilled))] == 1
    assert samples[(retries, labels(method="POST", path="/v4/posting/fbs/list"))] == 1
    duration = "ozon_sync_api_request_duration_seconds_sum"
    assert samples[(duration, labels(method="POST", path="/v4/posting/fbs/list"))] == 0.25
    assert samples[("ozon_sync_alerts_total", labels(event="overdue", result="sent"))] == 2
    assert samples[("ozon_sync_alerts_total", labels(event="reminder", result="failed"))] == 1
    assert samples[("ozon_sync_alerts_total", labels(event="reminder", result="dropped"))] == 1
    assert samples[("ozon_sync_cancellations_total", labels(result="cancelled"))] == 1
    assert samples[("ozon_sync_watched_postings", labels(account="shop-1"))] == 12
    assert samples[("ozon_sync_overdue_postings", labels(account="shop-1"))] == 3
    last = "ozon_sync_last_success_timestamp_seconds"
    assert samples[(last, labels(account="shop-1"))] == (START + timedelta(seconds=30)).timestamp()
    assert (last, labels(account="shop-2")) not in samples


def test_metrics_live_in_their_own_registry_not_the_global_one(metrics: Metrics) -> None:
    metrics.alert("overdue", "sent")
    assert b"ozon_sync_alerts_total" in metrics.render()
    assert b"ozon_sync_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)
    assert Metrics().registry is not Metrics().registry


def test_a_removed_account_loses_its_series(metrics: Metrics) -> None:
    health = Health(INTERVAL, ["shop-1", "shop-2"], metrics=metrics, started_at=START)
    metrics.set_postings("shop-2", watched=4, overdue=1)
    health.configure(INTERVAL, ["shop-1", "shop-3"], now=START)
    text = metrics.render().decode()
    assert 'account="shop-2"' not in text
    assert 'ozon_sync_cycles_total{account="shop-3",result="ok"} 0.0' in text


def test_healthz_is_200_while_fresh_then_503_naming_the_stale_account(metrics: Metrics) -> None:
    clock = Clock(START)
    health = Health(INTERVAL, ["shop-1", "shop-2"], metrics=metrics, started_at=START)
    with HealthServer("127.0.0.1", 0, health, metrics, clock=clock) as server:
        first = httpx.get(f"{server.url}/healthz")
        assert first.status_code == 200
        assert first.headers["content-type"] == "text/plain; charset=utf-8"
        assert first.text.startswith("ok: ")

        clock.now = START + 2 * INTERVAL
        health.cycle_finished("shop-1", ok=True, at=clock.now)
        health.cycle_finished("shop-2", ok=True, at=clock.now)
        clock.now += STALE_AFTER * INTERVAL
        assert httpx.get(f"{server.url}/healthz").status_code == 200

        health.cycle_finished("shop-1", ok=True, at=clock.now)
        health.cycle_finished("shop-2", ok=False, at=clock.now)  # Ozon is down for shop-2
        clock.now += timedelta(seconds=1)
        stale = httpx.get(f"{server.url}/healthz")

    assert stale.status_code == 503
    assert 'account "shop-2" last synced 901s ago' in stale.text
    assert "shop-1" not in stale.text


def test_healthz_measures_an_account_that_never_synced_from_the_start() -> None:
    health = Health(INTERVAL, ["shop-1"], started_at=START)
    assert health.healthz(START + STALE_AFTER * INTERVAL)[0] == 200
    status, text = health.healthz(START + STALE_AFTER * INTERVAL + timedelta(seconds=1))
    assert status == 503
    assert 'account "shop-1" has not synced since the start' in text


def test_all_ok_reports_whether_every_account_s_latest_cycle_succeeded() -> None:
    health = Health(INTERVAL, ["shop-1", "shop-2"], started_at=START)
    assert health.all_ok
    health.cycle_finished("shop-1", ok=False, at=START)
    assert not health.all_ok
    assert health.last_success("shop-1") is None
    health.cycle_finished("shop-1", ok=True, at=START)
    assert health.all_ok
    assert health.last_success("shop-1") == START


def test_an_unknown_path_is_404_and_stop_frees_the_port(metrics: Metrics) -> None:
    health = Health(INTERVAL, ["shop-1"], started_at=START)
    server = HealthServer("127.0.0.1", 0, health, metrics).start()
    port = server.port
    assert httpx.get(f"{server.url}/").status_code == 404
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")
    again = HealthServer("127.0.0.1", port, health, metrics).start()
    again.stop()


def test_a_taken_port_makes_start_raise_listen_error_saying_why(metrics: Metrics) -> None:
    health = Health(INTERVAL, ["shop-1"], started_at=START)
    with HealthServer("127.0.0.1", 0, health, metrics) as first:
        second = HealthServer("127.0.0.1", first.port, health, metrics)
        with pytest.raises(ListenError, match=f"127.0.0.1:{first.port}: .*another process"):
            second.start()


def test_an_address_of_no_interface_here_makes_start_raise_listen_error(metrics: Metrics) -> None:
    health = Health(INTERVAL, ["shop-1"], started_at=START)
    server = HealthServer("192.0.2.1", 9464, health, metrics)  # TEST-NET-1: never local
    with pytest.raises(ListenError, match=r"192\.0\.2\.1:9464: .*no network interface"):
        server.start()


def test_a_name_that_does_not_resolve_makes_start_raise_listen_error(
    metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Resolving a real unknown name would ask a DNS server (not loopback): the resolver's
    # answer is played by a stand-in for getaddrinfo instead.
    def no_such_name(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr("daemon.web.serve.socket.getaddrinfo", no_such_name)
    server = HealthServer("metrics.example", 9464, Health(INTERVAL, []), metrics)
    with pytest.raises(
        ListenError, match=r"metrics\.example:9464: the host name cannot be resolved"
    ):
        server.start()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.0.2.1", False),
     ("metrics.example", False)],
)  # fmt: skip
def test_is_loopback_knows_which_hosts_only_this_machine_reaches(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:9464", ("::1", 9464))],
    ids=["ipv4", "ipv6"],
)
def test_split_listen_gives_host_and_port(listen: str, expected: tuple[str, int]) -> None:
    assert split_listen(listen) == expected


def test_split_listen_rejects_text_without_a_port() -> None:
    with pytest.raises(ValueError, match="not host:port"):
        split_listen("localhost")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"https://hc-ping.com/{TOKEN}", "https://hc-ping.com"),
        (f"https://user:{TOKEN}@push.example.org:8443/api/push/x?status=up", None),
        (f"http://127.0.0.1:8080/ping/{TOKEN}", "http://127.0.0.1:8080"),
        ("not a url", "***"),
    ],
    ids=["healthchecks", "credentials in netloc", "local with port", "garbage"],
)
def test_mask_url_keeps_only_scheme_and_host(url: str, masked: str | None) -> None:
    result = mask_url(url)
    assert TOKEN not in result
    if masked is not None:
        assert result == masked
    else:
        assert result == "https://push.example.org:8443"


class Receiver:
    """A local heartbeat service: records (method, path, body); answers from `statuses`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append((self.command, self.path, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def test_the_heartbeat_pings_the_url_after_success_and_fail_after_failure(
    receiver: Receiver,
) -> None:
    async with Heartbeat(f"{receiver.url}/ping/{TOKEN}") as heartbeat:
        assert await heartbeat.ping(ok=True)
        assert await heartbeat.ping(ok=False)
        assert await heartbeat.ping(ok=False, message="shop-2: Ozon unavailable")
    assert receiver.requests == [
        ("GET", f"/ping/{TOKEN}", b""),
        ("GET", f"/ping/{TOKEN}/fail", b""),
        ("POST", f"/ping/{TOKEN}/fail", b"shop-2: Ozon unavailable"),
    ]


async def test_the_fail_ping_keeps_the_query_string(receiver: Receiver) -> None:
    async with Heartbeat(f"{receiver.url}/ping/{TOKEN}/?create=1") as heartbeat:
        await heartbeat.ping(ok=False)
    assert receiver.requests == [("GET", f"/ping/{TOKEN}/fail?create=1", b"")]


async def test_a_5xx_answer_is_retried_quickly_and_a_404_is_not(receiver: Receiver) -> None:
    sleeps = Sleeps()
    receiver.statuses = [503, 502, 200, 404]
    async with Heartbeat(f"{receiver.url}/ping/{TOKEN}", sleep=sleeps) as heartbeat:
        assert await heartbeat.ping(ok=True)
        assert sleeps == [1.0, 3.0]
        with structlog.testing.capture_logs() as logs:
            assert not await heartbeat.ping(ok=True)
    assert len(receiver.requests) == 4
    assert sleeps == [1.0, 3.0]
    assert logs[0]["reason"] == "the heartbeat service answered 404 Not Found"


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_dead_heartbeat_url_only_warns_once_with_the_url_masked() -> None:
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{unused_port()}/ping/{TOKEN}"
    with structlog.testing.capture_logs() as logs:
        async with Heartbeat(url, sleep=sleeps, timeout=2.0) as heartbeat:
            assert await heartbeat.ping(ok=True) is False
            assert await heartbeat.ping(ok=False) is False
    assert sleeps == [1.0, 3.0, 1.0, 3.0]  # three attempts per ping
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["event"] == "heartbeat_failed"
    assert warnings[0]["url"] == f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}"
    assert TOKEN not in repr(logs)
    assert TOKEN not in repr(heartbeat)


async def test_a_heartbeat_that_works_again_logs_recovery(receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 500]
    with structlog.testing.capture_logs() as logs:
        async with Heartbeat(f"{receiver.url}/p/{TOKEN}", sleep=Sleeps()) as heartbeat:
            assert not await heartbeat.ping(ok=True)
            assert await heartbeat.ping(ok=True)
    events = [entry["event"] for entry in logs if entry["log_level"] in ("warning", "info")]
    assert events == ["heartbeat_failed", "heartbeat_recovered"]


async def test_a_heartbeat_url_that_is_not_http_only_warns() -> None:
    with structlog.testing.capture_logs() as logs:
        async with Heartbeat(f"ftp://127.0.0.1/{TOKEN}", sleep=Sleeps()) as heartbeat:
            assert await heartbeat.ping(ok=True) is False
    assert [entry["event"] for entry in logs] == ["heartbeat_failed"]
    assert TOKEN not in repr(logs)
