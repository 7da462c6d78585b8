"""The board's HTTP interface (CONTRACT section 7, issue 18.1): every endpoint's answers,
401 without a valid token, 404 for an unknown posting, 400 for a bad body, CSRF refused, and
the login session. The app runs over a real SQLite store in tmp_path; requests go through
httpx's ASGI transport (the served process is tested end to end in tests/e2e)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from daemon.models import Posting
from daemon.secrets import Secret
from daemon.store import Store
from daemon.views import status_json
from daemon.web.app import board_app
from daemon.web.auth import SESSION_AGE, SESSION_COOKIE, BoardAuth
from daemon.web.data import FORGET_AFTER, BoardData

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
TOKEN = "board-T0ken-3f9a2c7e5d1b4a68"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
HOUR = timedelta(hours=1)
NUMBERS = ["1000-1-1", "1000-2-1", "1000-3-1"]


class Clock:
    """The board's clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()


def posting(number: str, due: datetime, warehouse: str = "Main") -> Posting:
    return Posting(
        posting_number=number,
        status="awaiting_packaging",
        shipment_date=due,
        warehouse_id=7,
        warehouse_name=warehouse,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.db") as opened:
        opened.upsert_postings(
            "shop-1",
            [
                posting(NUMBERS[1], NOW + 2 * HOUR),
                posting(NUMBERS[0], NOW - HOUR),  # overdue: first
                posting(NUMBERS[2], NOW + 30 * HOUR, warehouse="<b>Kazan</b>"),
            ],
            NOW,
        )
        opened.record_sync_success("shop-1", NOW - 10 * timedelta(minutes=5))
        yield opened


def make_client(
    store: Store, clock: Clock, token: str | None = TOKEN, *, reads_need_token: bool = False
) -> httpx.AsyncClient:
    data = BoardData(store, accounts=["shop-1", "shop-2"], now=clock)
    auth = BoardAuth(
        Secret(token) if token else None, reads_need_token=reads_need_token, clock=clock.seconds
    )
    app = board_app(data, auth, language="en")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://board")


@pytest.fixture
async def client(store: Store, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(store, clock) as made:
        yield made


@pytest.fixture
async def read_only(store: Store, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(store, clock, token=None) as made:
        yield made


@pytest.fixture
async def private(store: Store, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """A board listening on a non-loopback address: reads need the token too."""
    async with make_client(store, clock, reads_need_token=True) as made:
        yield made


def error_of(answer: httpx.Response) -> str:
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error"} and body["error"]
    text: str = body["error"]
    return text


async def login(client: httpx.AsyncClient) -> str:
    """Log in through the form; returns the page's CSRF token."""
    form = await client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and nonce
    answer = await client.post(
        "/login",
        content=f"csrf={nonce[1]}&token={TOKEN}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303, answer.text
    page = await client.get("/")
    settings = re.search(r'id="board-settings">(.*?)</script>', page.text)
    assert settings
    csrf: str = json.loads(settings[1])["csrf"]
    assert csrf
    return csrf


# ---------------------------------------------------------------- reads


async def test_api_postings_are_the_status_json_elements_most_urgent_first(
    client: httpx.AsyncClient, store: Store
) -> None:
    answer = await client.get("/api/postings")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == status_json(store.postings(NOW), NOW)
    assert [item["posting_number"] for item in answer.json()] == NUMBERS
    assert [item["seconds_left"] for item in answer.json()] == [-3600, 7200, 108_000]


async def test_api_postings_are_gzipped_when_the_browser_asks(client: httpx.AsyncClient) -> None:
    plain = await client.get("/api/postings", headers={"accept-encoding": "identity"})
    packed = await client.get("/api/postings", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.json() == plain.json()  # httpx decodes it


async def test_api_sync_says_which_account_is_stale(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/sync")
    assert answer.status_code == 200
    body = answer.json()
    assert body["poll_interval"] == 300 and body["stale_after"] == 900
    assert body["accounts"] == [
        {
            "account": "shop-1",
            "last_success_at": "2026-05-01T08:10:00Z",
            "seconds_since": 3000,
            "stale": True,  # 50 minutes > 3 poll intervals of 5 minutes
            "consecutive_failures": 0,
        },
        {
            "account": "shop-2",
            "last_success_at": None,
            "seconds_since": None,
            "stale": True,
            "consecutive_failures": 0,
        },
    ]
    assert body["hold_all"] is None


async def test_a_recent_sync_is_not_stale(
    client: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    store.record_sync_success("shop-1", NOW - timedelta(minutes=14))
    body = (await client.get("/api/sync")).json()
    assert body["accounts"][0]["stale"] is False


async def test_reads_are_open_on_a_loopback_board(
    client: httpx.AsyncClient, read_only: httpx.AsyncClient
) -> None:
    for board in (client, read_only):
        assert (await board.get("/api/postings")).status_code == 200
        assert (await board.get("/api/sync")).status_code == 200
        assert (await board.get("/")).status_code == 200


async def test_reads_need_the_token_when_the_board_faces_the_network(
    private: httpx.AsyncClient,
) -> None:
    for path in ("/api/postings", "/api/sync"):
        refused = await private.get(path)
        assert refused.status_code == 401 and "token" in error_of(refused)
        wrong = await private.get(path, headers={"Authorization": "Bearer wrong-token-000000"})
        assert wrong.status_code == 401
        assert (await private.get(path, headers=BEARER)).status_code == 200
    page = await private.get("/")
    assert page.status_code == 303 and page.headers["location"] == "login"
    await login(private)
    assert (await private.get("/api/postings")).status_code == 200
    assert (await private.get("/")).status_code == 200


# ---------------------------------------------------------------- writes with the bearer token


async def test_ack_with_the_token_answers_the_updated_element(
    client: httpx.AsyncClient, store: Store
) -> None:
    answer = await client.post(f"/api/postings/{NUMBERS[1]}/ack", json={"by": "Li"}, headers=BEARER)

    assert answer.status_code == 200, answer.text
    element = answer.json()
    assert element["posting_number"] == NUMBERS[1]
    assert element["acknowledged_by"] == "Li"
    assert element["acknowledged_at"] == "2026-05-01T09:00:00Z"
    assert element == status_json([store.posting(NUMBERS[1], NOW)], NOW)[0]  # type: ignore[list-item]
    assert [(e.event, e.posting_numbers, e.reason, e.kind) for e in store.history()] == [
        ("acknowledged", (NUMBERS[1],), "by Li", "action")
    ]


async def test_hold_and_release_use_the_hold_commands_store_verbs(
    client: httpx.AsyncClient, store: Store
) -> None:
    number = NUMBERS[0]
    held = await client.post(f"/api/postings/{number}/hold", json={"for": "2d"}, headers=BEARER)
    assert held.status_code == 200, held.text
    assert held.json()["held"] is True
    assert held.json()["held_until"] == "2026-05-03T09:00:00Z"
    assert store.holds(NOW) == {number: NOW + timedelta(days=2)}

    forever = await client.post(f"/api/postings/{number}/hold", json={}, headers=BEARER)
    assert forever.json()["held"] is True and forever.json()["held_until"] is None
    assert store.is_held(number, NOW + timedelta(days=400))

    released = await client.post(f"/api/postings/{number}/release", json={}, headers=BEARER)
    assert released.status_code == 200
    assert released.json()["held"] is False
    assert not store.is_held(number, NOW)
    empty = await client.post(f"/api/postings/{number}/release", headers=BEARER)
    assert empty.status_code == 200  # an empty body is {}


@pytest.mark.parametrize("action", ["ack", "hold", "release"])
async def test_every_write_without_a_valid_token_is_401(
    client: httpx.AsyncClient, store: Store, action: str
) -> None:
    body = {"by": "Li"} if action == "ack" else {}
    url = f"/api/postings/{NUMBERS[0]}/{action}"
    for headers in (
        {},
        {"Authorization": "Bearer not-the-token-123456"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer "},
        {"Cookie": f"{SESSION_COOKIE}=123.abc"},
    ):
        answer = await client.post(url, json=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert "token" in error_of(answer)
    assert store.history() == [] and store.holds(NOW) == {}


@pytest.mark.parametrize("action", ["ack", "hold", "release"])
async def test_a_board_without_a_token_is_read_only(
    read_only: httpx.AsyncClient, store: Store, action: str
) -> None:
    answer = await read_only.post(
        f"/api/postings/{NUMBERS[0]}/{action}", json={"by": "Li"}, headers=BEARER
    )
    assert answer.status_code == 401
    assert "read-only" in error_of(answer)
    page = await read_only.get("/")
    assert '"can_write": false' in page.text
    assert (await read_only.get("/login")).status_code == 303  # nothing to log into


@pytest.mark.parametrize("action", ["ack", "hold", "release"])
async def test_an_unknown_posting_is_404(client: httpx.AsyncClient, action: str) -> None:
    body = {"by": "Li"} if action == "ack" else {}
    answer = await client.post(f"/api/postings/9999-1-1/{action}", json=body, headers=BEARER)
    assert answer.status_code == 404
    assert "9999-1-1" in error_of(answer)


async def test_an_order_number_is_not_a_posting_of_the_board(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/postings/1000-1/ack", json={"by": "Li"}, headers=BEARER)
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("action", "content"),
    [
        ("ack", b"{}"),
        ("ack", b'{"by": ""}'),
        ("ack", b'{"by": "   "}'),
        ("ack", b'{"by": 5}'),
        ("ack", b'{"by": "a\\u0000b"}'),
        ("ack", json.dumps({"by": "x" * 65}).encode()),
        ("ack", b'{"by": "Li", "extra": 1}'),
        ("ack", b"not json"),
        ("ack", b'["Li"]'),
        ("ack", b"\xff\xfe"),
        ("ack", json.dumps({"by": "x" * 5000}).encode()),
        ("hold", b'{"for": "soon"}'),
        ("hold", b'{"for": "0s"}'),
        ("hold", b'{"for": 3600}'),
        ("hold", b'{"until": "2d"}'),
        ("release", b'{"for": "2d"}'),
        ("release", b"[]"),
    ],
    ids=[
        "ack-no-by", "ack-empty", "ack-blank", "ack-number", "ack-control", "ack-too-long",
        "ack-extra-key", "ack-not-json", "ack-array", "ack-not-utf8", "ack-huge", "hold-words",
        "hold-zero", "hold-number", "hold-unknown-key", "release-key", "release-array",
    ],
)  # fmt: skip
async def test_a_bad_body_is_400_and_changes_nothing(
    client: httpx.AsyncClient, store: Store, action: str, content: bytes
) -> None:
    answer = await client.post(
        f"/api/postings/{NUMBERS[0]}/{action}",
        content=content,
        headers={**BEARER, "content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    error_of(answer)
    assert store.history() == [] and store.holds(NOW) == {}


async def test_a_moved_deadline_clears_the_acknowledgement(
    client: httpx.AsyncClient, store: Store
) -> None:
    await client.post(f"/api/postings/{NUMBERS[1]}/ack", json={"by": "Li"}, headers=BEARER)
    store.upsert_postings("shop-1", [posting(NUMBERS[1], NOW + 5 * HOUR)], NOW)
    items = {item["posting_number"]: item for item in (await client.get("/api/postings")).json()}
    assert items[NUMBERS[1]]["acknowledged_by"] is None
    assert items[NUMBERS[1]]["acknowledged_at"] is None


# ---------------------------------------------------------------- the session and CSRF


async def test_the_login_form_sets_an_httponly_strict_session_cookie(
    client: httpx.AsyncClient,
) -> None:
    form = await client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce
    answer = await client.post(
        "/login",
        content=f"csrf={nonce[1]}&token={TOKEN}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "./"
    cookie = next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert f"Max-Age={SESSION_AGE}" in cookie
    assert TOKEN not in cookie


async def test_the_login_form_refuses_a_wrong_token_and_a_missing_nonce(
    client: httpx.AsyncClient,
) -> None:
    form = await client.get("/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    wrong = await client.post("/login", content=f"csrf={nonce[1]}&token=guess", headers=form_type)
    assert wrong.status_code == 401 and "Wrong token." in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
    client.cookies.clear()  # the nonce cookie is gone: a cross-site post has none
    forged = await client.post(
        "/login", content=f"csrf={nonce[1]}&token={TOKEN}", headers=form_type
    )
    assert forged.status_code == 400
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")


async def test_a_write_with_the_session_cookie_needs_its_csrf_token(
    client: httpx.AsyncClient, store: Store
) -> None:
    csrf = await login(client)
    url = f"/api/postings/{NUMBERS[0]}/ack"

    missing = await client.post(url, json={"by": "Li"})
    wrong = await client.post(url, json={"by": "Li"}, headers={"X-CSRF-Token": "0" * 40})
    assert missing.status_code == 401 and "CSRF" in error_of(missing)
    assert wrong.status_code == 401 and "CSRF" in error_of(wrong)
    assert store.history() == []

    right = await client.post(url, json={"by": "Li"}, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200, right.text
    assert right.json()["acknowledged_by"] == "Li"


async def test_a_session_dies_after_its_age_and_with_a_changed_token(
    store: Store, clock: Clock
) -> None:
    async with make_client(store, clock) as client:
        csrf = await login(client)
        cookie = client.cookies[SESSION_COOKIE]
        url = f"/api/postings/{NUMBERS[0]}/hold"
        clock.now = NOW + timedelta(seconds=SESSION_AGE - 60)
        assert (await client.post(url, headers={"X-CSRF-Token": csrf})).status_code == 200
        clock.now = NOW + timedelta(seconds=SESSION_AGE + 1)
        assert (await client.post(url, headers={"X-CSRF-Token": csrf})).status_code == 401
    clock.now = NOW
    async with make_client(store, clock, token="another-T0ken-0123456789") as other:
        other.cookies.set(SESSION_COOKIE, cookie)
        answer = await other.post(url, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 401


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    client: httpx.AsyncClient,
) -> None:
    csrf = await login(client)
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    refused = await client.post("/logout", content="csrf=wrong", headers=form_type)
    assert refused.status_code == 401
    done = await client.post("/logout", content=f"csrf={csrf}", headers=form_type)
    assert done.status_code == 303
    answer = await client.post(f"/api/postings/{NUMBERS[0]}/hold", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 401


# ---------------------------------------------------------------- the page


async def test_the_page_escapes_outside_text_and_forbids_inline_scripts(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.DOTALL)
    executable = [attrs for attrs, body in scripts if "application/json" not in attrs]
    assert executable == [' src="static/board.js" defer']  # the only script: a file
    assert all(body == "" for attrs, body in scripts if "src=" in attrs)


async def test_the_page_and_its_files_come_from_the_package(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)  # no CDN
    for path in ("static/board.js", "static/board.css", "static/favicon.svg"):
        answer = await client.get("/" + path)
        assert answer.status_code == 200, path
        text = answer.text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, no load
        assert "http://" not in text and "https://" not in text


@pytest.mark.parametrize(
    ("language", "word"),
    [("en", "What to pack next"), ("zh", "下一个该打包的"), ("ru", "Что собирать")],
)
async def test_the_page_speaks_the_boards_language(
    store: Store, clock: Clock, language: str, word: str
) -> None:
    data = BoardData(store, now=clock)
    app = board_app(data, BoardAuth(None, reads_need_token=False), language=language)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://board") as client:
        page = await client.get("/")
    assert word in page.text and f'<html lang="{language}">' in page.text


async def test_errors_of_unknown_paths_are_json(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/nothing")
    assert answer.status_code == 404
    error_of(answer)
    wrong_method = await client.get(f"/api/postings/{NUMBERS[0]}/ack")
    assert wrong_method.status_code == 405
    error_of(wrong_method)


def test_the_board_lets_go_of_decoded_postings_nobody_reads(store: Store, clock: Clock) -> None:
    ticks = [1000.0]
    data = BoardData(store, now=clock, monotonic=lambda: ticks[0])
    first = json.loads(data.postings_json())
    data.forget_if_idle()
    assert json.loads(data.postings_json()) == first
    ticks[0] += FORGET_AFTER - 1
    data.forget_if_idle()  # read recently: kept
    assert data._decoded[0].entries
    ticks[0] += FORGET_AFTER + 1
    data.forget_if_idle()
    assert not data._decoded[0].entries
    assert json.loads(data.postings_json()) == first  # decoded again on the next read
