"""The sandbox over real HTTP on 127.0.0.1: keep-alive, headers, faults, admin, processes."""

from __future__ import annotations

import email.utils
import io
import json
import threading
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.sandbox import Knobs, Sandbox, SandboxProcess, run_forever
from daemon.sandbox.app import SandboxOptions
from daemon.sandbox.command import main as command_main
from tests import sandbox_fixtures

# The fixtures, until tests/conftest.py imports them for every test module.
make_sandbox = sandbox_fixtures.make_sandbox
sandbox = sandbox_fixtures.sandbox
sandbox_process = sandbox_fixtures.sandbox_process

START = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
WINDOW = {"cutoff_from": "2026-10-01T00:00:00Z", "cutoff_to": "2026-12-31T00:00:00Z"}


def _client(sb: Sandbox | SandboxProcess, timeout: float = 10.0) -> httpx.Client:
    headers = {"Client-Id": sb.client_id, "Api-Key": sb.api_key}
    return httpx.Client(base_url=sb.base_url, headers=headers, timeout=timeout)


def test_a_client_reuses_one_connection_for_many_requests(sandbox: Sandbox) -> None:
    with _client(sandbox) as client:
        for _ in range(5):
            answer = client.post(
                "/v4/posting/fbs/unfulfilled/list", json={"limit": 3, "filter": WINDOW}
            )
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/json"
    assert sandbox.connections == 1


def test_every_answer_has_a_date_header_shifted_by_the_skew_knob(make_sandbox: Any) -> None:
    sb = make_sandbox(clock=lambda: START, knobs=Knobs(rate_limit=0, date_skew=-3600))
    with _client(sb) as client:
        ok = client.post("/v1/roles", json={})
        refused = client.post("/v1/roles", json={}, headers={"Api-Key": "wrong"})
    for answer in (ok, refused):
        sent = email.utils.parsedate_to_datetime(answer.headers["date"])
        assert sent == START - timedelta(hours=1)
    assert refused.status_code == 403


def test_a_dropped_connection_gets_no_answer_and_the_next_request_works(sandbox: Sandbox) -> None:
    sandbox.set_knobs(drop_next=1)
    with _client(sandbox) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/v1/roles", json={})
        assert client.post("/v1/roles", json={}).status_code == 200
    assert [call.status for call in sandbox.calls] == [0, 200]


def test_rate_limited_answers_carry_retry_after_over_http(make_sandbox: Any) -> None:
    frozen = iter([100.0] * 10)
    sb = make_sandbox(knobs=Knobs(rate_limit=1), monotonic=lambda: next(frozen))
    with _client(sb) as client:
        first = client.post("/v1/roles", json={})
        second = client.post("/v1/roles", json={})
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.headers["retry-after"] == "1"
    assert second.json() == {"code": 8, "message": "You have reached request rate limit per second"}


def test_a_hanging_cancel_is_applied_although_the_client_times_out(sandbox: Sandbox) -> None:
    sandbox.set_knobs(cancel_outcome="hang", hang_seconds=60)
    body = {"posting_number": "10000001-0001-1", "cancel_reason_id": 352}
    with _client(sandbox, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.post("/v2/posting/fbs/cancel", json=body)
    assert sandbox.status("10000001-0001-1") == "cancelled"
    sandbox.stop()  # wakes the hanging answer instead of waiting a minute


def test_the_admin_postings_endpoint_lists_every_deadline(sandbox: Sandbox) -> None:
    with httpx.Client(base_url=sandbox.base_url) as admin:
        admin.post(
            "/__sandbox__/action",
            json={"action": "add_posting", "shipment_date": "2030-01-01T10:00:00Z",
                  "posting_number": "77700001-0001-1"},
        )  # fmt: skip
        listed = admin.get("/__sandbox__/postings").json()
    by_number = {item["posting_number"]: item for item in listed}
    assert len(by_number) == len(sandbox.app.store)
    added = by_number["77700001-0001-1"]
    assert (added["status"], added["shipment_date"]) == (
        "awaiting_packaging",
        "2030-01-01T10:00:00Z",
    )
    assert added["in_process_at"] < added["shipment_date"]
    assert sandbox.app.calls == []  # an admin request is not an API call


def test_admin_endpoints_change_knobs_and_postings(sandbox: Sandbox) -> None:
    with httpx.Client(base_url=sandbox.base_url) as admin:
        knobs = admin.post("/__sandbox__/knobs", json={"fail_next": 2, "wrap_result": True})
        assert knobs.status_code == 200
        assert knobs.json()["fail_next"] == 2
        assert sandbox.knobs.wrap_result is True
        bad = admin.post("/__sandbox__/knobs", json={"error_rate": 7})
        assert bad.status_code == 400
        assert "error_rate" in bad.json()["error"]
        shipped = admin.post(
            "/__sandbox__/action", json={"action": "ship", "posting_number": "10000004-0004-1"}
        )
        assert shipped.json() == {"ok": True}
        status = admin.get("/__sandbox__/status/10000004-0004-1").json()
        assert status == {"status": "awaiting_deliver"}
        added = admin.post(
            "/__sandbox__/action",
            json={"action": "add_posting", "shipment_date": "2030-01-01T00:00:00Z"},
        ).json()
        assert sandbox.status(added["posting_number"]) == "awaiting_packaging"
        assert (
            admin.post(
                "/__sandbox__/action", json={"action": "ship", "posting_number": "x"}
            ).status_code
            == 404
        )
        assert admin.get("/__sandbox__/calls").json() == []
    with _client(sandbox) as client:
        assert client.post("/v1/roles", json={}).status_code == 503
    assert sandbox.knobs.fail_next == 1


def test_run_forever_prints_a_config_snippet_and_writes_the_ready_file(tmp_path: Path) -> None:
    out = io.StringIO()
    stop = threading.Event()
    ready = tmp_path / "ready.json"
    options = SandboxOptions(scenario="demo", client_id="777", api_key="k-777")
    thread = threading.Thread(
        target=run_forever, args=(options, out), kwargs={"ready_file": ready, "stop": stop}
    )
    thread.start()
    try:
        for _ in range(400):
            if ready.exists():
                break
            threading.Event().wait(0.05)
        info = json.loads(ready.read_text())
        config = tomllib.loads(out.getvalue())
        assert config["ozon"]["base_url"] == info["base_url"]
        assert config["accounts"] == [{"name": "sandbox", "client_id": "777", "api_key": "k-777"}]
        headers = {"Client-Id": "777", "Api-Key": "k-777"}
        assert (
            httpx.post(info["base_url"] + "/v1/roles", json={}, headers=headers).status_code == 200
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_sandbox_runs_as_its_own_process_with_knobs(sandbox_process: Any) -> None:
    process: SandboxProcess = sandbox_process(
        "--scenario", "demo", "--fail-next", "1", "--rate-limit", "0"
    )
    with _client(process) as client:
        assert client.post("/v1/roles", json={}).status_code == 503
        assert client.post("/v1/roles", json={}).status_code == 200
        process.set_knobs(forbidden_methods=["/v1/roles"])
        assert client.post("/v1/roles", json={}).status_code == 403
    assert process.action("ship", posting_number="10000004-0004-1") == {"ok": True}
    assert [call["status"] for call in process.calls()] == [503, 200, 403]
    process.stop()
    assert process.returncode == 0  # SIGTERM is a clean stop


def test_stopping_closes_kept_alive_connections(sandbox: Sandbox) -> None:
    with _client(sandbox) as client:
        assert client.post("/v1/roles", json={}).status_code == 200
        sandbox.stop()
        with pytest.raises(httpx.TransportError):
            client.post("/v1/roles", json={})


def test_bad_command_line_knobs_exit_with_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        command_main(["--error-rate", "2"])
    assert caught.value.code == 2
    assert "error_rate" in capsys.readouterr().err


# -- the fault knobs of the cancellation tests (issue 15), over HTTP and the command line ------

OVERDUE = "10000001-0001-1"
OTHER = "10000003-0003-1"
CANCEL_BODY = {"posting_number": OVERDUE, "cancel_reason_id": 352}


def test_a_cancel_taken_then_dropped_applies_later_over_http(make_sandbox: Any) -> None:
    sb = make_sandbox(clock=lambda: START, events=False)
    sb.set_knobs(cancel_outcome="drop", cancel_apply_delay="2m")
    with _client(sb) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/v2/posting/fbs/cancel", json=CANCEL_BODY)
        got = client.post("/v3/posting/fbs/get", json={"posting_number": OVERDUE})
        assert got.json()["result"]["status"] == "awaiting_packaging"
        sb.advance(120)
        got = client.post("/v3/posting/fbs/get", json={"posting_number": OVERDUE})
        assert got.json()["result"]["status"] == "cancelled"
    assert sb.cancel_requests(OVERDUE) == [0]
    assert sb.cancel_requests(OTHER) == []


def test_the_cancellation_knobs_are_set_and_read_over_the_admin_endpoints(
    make_sandbox: Any,
) -> None:
    sb = make_sandbox(clock=lambda: START, events=False)
    with httpx.Client(base_url=sb.base_url) as admin:
        knobs = admin.post(
            "/__sandbox__/knobs",
            json={
                "cancel_apply_delay": "30s",
                "cancel_429_for": 10,
                "not_found_on_get": [OTHER],
                "change_at": [{"posting_number": OTHER, "change": "in_carriage", "after": 5}],
            },
        ).json()
        assert knobs["cancel_apply_delay"] == 30.0
        assert knobs["cancel_429_for"] == 10.0
        assert knobs["not_found_on_get"] == [OTHER]
        assert knobs["change_at"] == [
            {"posting_number": OTHER, "change": "in_carriage", "at": "2026-11-26T03:30:05Z"}
        ]
        bad = admin.post("/__sandbox__/knobs", json={"change_at": [{"change": "ship"}]})
        assert bad.status_code == 400
        assert "change_at" in bad.json()["error"]
        with _client(sb) as client:
            assert client.post("/v2/posting/fbs/cancel", json=CANCEL_BODY).status_code == 429
            missing = client.post("/v3/posting/fbs/get", json={"posting_number": OTHER})
            assert missing.status_code == 404
            sb.advance(10)
            assert client.post("/v2/posting/fbs/cancel", json=CANCEL_BODY).status_code == 200
        assert admin.get(f"/__sandbox__/status/{OTHER}").json() == {"status": "awaiting_deliver"}
        assert admin.get(f"/__sandbox__/status/{OVERDUE}").json()["status"] == "awaiting_packaging"
        assert admin.get("/__sandbox__/cancels").json() == {OVERDUE: [429, 200]}
        carried = admin.post(
            "/__sandbox__/action", json={"action": "in_carriage", "posting_number": OVERDUE}
        )
        assert carried.json() == {"ok": True}  # taken, not applied yet: still movable
        sb.advance(30)
        assert admin.get(f"/__sandbox__/status/{OVERDUE}").json() == {"status": "cancelled"}


def test_the_cancellation_knobs_have_command_line_options(sandbox_process: Any) -> None:
    process: SandboxProcess = sandbox_process(
        "--scenario", "demo", "--no-events", "--rate-limit", "0",
        "--cancel-apply-delay", "1h", "--cancel-429-for", "1h",
        "--change-at", f"{OTHER}=ship@2h",
        "--change-at", f"{OVERDUE}=in_carriage@2030-01-01T00:00:00Z",
        "--not-found-on-get", "*",
    )  # fmt: skip
    knobs = process.set_knobs()
    assert knobs["cancel_apply_delay"] == 3600.0
    assert 3500 < knobs["cancel_429_for"] <= 3600
    assert [entry["posting_number"] for entry in knobs["change_at"]] == [OTHER, OVERDUE]
    assert knobs["change_at"][1]["at"] == "2030-01-01T00:00:00Z"
    assert knobs["not_found_on_get"] == ["*"]
    with _client(process) as client:
        assert (
            client.post("/v3/posting/fbs/get", json={"posting_number": OVERDUE}).status_code == 404
        )
        assert client.post("/v2/posting/fbs/cancel", json=CANCEL_BODY).status_code == 429
    assert process.cancel_requests() == {OVERDUE: [429]}
    assert process.cancel_requests(OVERDUE) == [429]


@pytest.mark.parametrize(
    "argument",
    ["--change-at=10000001-0001-1=ship", "--change-at=10000001-0001-1=fly@5s",
     "--change-at=10000001-0001-1=ship@soon", "--cancel-429-for=-1"],
)  # fmt: skip
def test_bad_cancellation_knob_options_exit_with_usage_error(
    argument: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        command_main([argument])
    assert caught.value.code == 2
    assert capsys.readouterr().err.strip()
