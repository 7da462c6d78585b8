"""The packer's board in a real headless Chromium (issue 18.1), served by the installed
`ozon-sync board` command from a database `once` filled from two simulated shops: the page
lists the postings most urgent first and draws at most 500, countdowns tick in the browser,
an acknowledgement made with the token shows the name after the next refresh (on another
device too), the same click without the token is refused, outside text with markup is shown
as text, and old data is said to be stale. Also: `demo` serves the board and prints its URL.

One site (sandboxes, database, board process) is shared by the tests of this module; each test
opens its own browser context, so logins and stored names do not leak between them.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from daemon.sandbox import SandboxProcess
from daemon.store import Store
from tests.browser import chromium_browser
from tests.cli_helpers import clean_env, ozon_sync_command
from tests.e2e.conftest import (
    API_KEY,
    AccountSpec,
    Daemon,
    Running,
    assert_no_secret,
    config_text,
    explain,
    free_port,
    wait_for,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def expect(locator: Any) -> Any:
    """Playwright's `expect` (imported late: the module is collected without playwright)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


pytestmark = pytest.mark.e2e

TOKEN = "e2e-B0ard-Tok3n-5c1d9e7f2a4b"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><b>bold</b>'
OVERDUE, SOON, HOSTILE_ONE, LATER, HANDOVER = (
    "20000001-0001-1",
    "20000002-0002-1",
    "20000003-0003-1",
    "20000004-0004-1",
    "20000005-0005-1",
)
REFRESH_WAIT = 30_000  # ms: the page refreshes every 15 s


@dataclass
class Site:
    """Two simulated shops, a database `once` filled, and `ozon-sync board` serving it."""

    daemon: Daemon
    board: Running
    url: str
    shop: SandboxProcess

    def status(self) -> dict[str, dict[str, Any]]:
        return {item["posting_number"]: item for item in self.daemon.status()}


def _due(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("board-site")
    shop = SandboxProcess("--api-key", API_KEY, "--no-events", "--scenario", "empty").start()
    bulk = SandboxProcess(
        "--api-key", API_KEY, "--no-events", "--client-id", "200200",
        "--scenario", "bulk", "--postings", "900", "--rate-limit", "0",
    ).start()  # fmt: skip
    try:
        for number, hours, extra in [
            (OVERDUE, -3, {}),
            (SOON, 0.5, {}),
            (HOSTILE_ONE, 3, {"warehouse_name": HOSTILE}),
            (LATER, 20, {}),
            (HANDOVER, 6, {"status": "awaiting_deliver"}),
        ]:
            shop.action("add_posting", shipment_date=_due(hours), posting_number=number, **extra)
        shop_1 = AccountSpec("shop-1", shop.client_id, API_KEY)
        shop_2 = AccountSpec("shop-2", bulk.client_id, API_KEY)
        env = clean_env(OZON_E2E_KEY_0=API_KEY, OZON_E2E_KEY_1=API_KEY, BOARD_TOKEN=TOKEN)
        # One database, filled by one config per simulated shop; the board's config has both.
        for name, sandbox, accounts in [
            ("shop-1", shop, [shop_1]),
            ("shop-2", bulk, [AccountSpec("shop-2", bulk.client_id, API_KEY)]),
        ]:
            sync_config = folder / f"{name}.toml"
            sync_config.write_text(config_text(sandbox.base_url, accounts), encoding="utf-8")
            result = Daemon(sync_config, env).run("once", "--dry-run")
            assert result.returncode == 0, explain(result)
        config = folder / "config.toml"
        board_section = '[board]\ntoken_env = "BOARD_TOKEN"\n'
        config.write_text(
            config_text(shop.base_url, [shop_1, shop_2], extra=board_section), encoding="utf-8"
        )
        daemon = Daemon(config, env)
        port = free_port()
        board = daemon.start("board", "--listen", f"127.0.0.1:{port}")
        wait_for(lambda: "serving" in board.stdout_path.read_text(), "the board to serve", 60)
        url = re.search(r"serving (http://\S+/)", board.stdout_path.read_text())
        assert url, board.stdout_path.read_text()
        yield Site(daemon, board, url[1], shop)
        board.process.terminate()
        stopped = board.wait(timeout=30)
        assert stopped.returncode == 0, explain(stopped)
        assert_no_secret(daemon, (API_KEY, TOKEN))
    finally:
        shop.stop()
        bulk.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_browser()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
    made = context.new_page()
    errors: list[str] = []
    made.on("pageerror", lambda err: errors.append(str(err)))
    yield made
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


def open_board(page: Page, site: Site, query: str = "") -> None:
    page.goto(site.url + query)
    page.wait_for_selector("#postings li.posting")


def row(page: Page, number: str) -> Any:
    return page.locator(f'#postings li.posting[data-number="{number}"]')


def log_in(page: Page, site: Site) -> None:
    page.goto(site.url + "login")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#postings li.posting")
    assert page.locator("form.logout").count() == 1


# ---------------------------------------------------------------- the tests


def test_the_page_lists_the_postings_most_urgent_first_and_draws_at_most_500(
    page: Page, site: Site
) -> None:
    watched = site.status()
    assert len(watched) > 500  # the bulk shop alone has more

    open_board(page, site)

    numbers = page.locator("#postings li.posting").evaluate_all(
        "rows => rows.map(row => row.dataset.number)"
    )
    assert len(numbers) == 500
    lefts = [watched[number]["seconds_left"] for number in numbers]
    assert lefts == sorted(lefts)  # overdue first (negative), then by time left
    assert lefts[0] < 0
    rest = len(watched) - 500
    more = page.locator("#more").inner_text()
    assert more.startswith(f"{rest} more not shown")
    assert page.locator("#summary").inner_text().startswith(f"500 of {len(watched)} postings")


def test_the_account_filter_shows_one_shops_postings_in_order_with_colours(
    page: Page, site: Site
) -> None:
    open_board(page, site, "?account=shop-1")

    numbers = page.locator("#postings li.posting").evaluate_all(
        "rows => rows.map(row => row.dataset.number)"
    )
    assert numbers == [OVERDUE, SOON, HOSTILE_ONE, HANDOVER, LATER]
    assert page.locator("#filter-account").input_value() == "shop-1"
    classes = [row(page, number).get_attribute("class") for number in numbers]
    assert classes == [
        "posting overdue",
        "posting critical",
        "posting soon",
        "posting today",
        "posting today",
    ]
    assert "OVERDUE" in row(page, OVERDUE).inner_text().upper()
    assert "MSK" in row(page, SOON).locator(".deadline").inner_text()
    page.select_option("#filter-warehouse", HOSTILE)
    expect(page.locator("#postings li.posting")).to_have_count(1)
    assert row(page, HOSTILE_ONE).count() == 1


def test_a_countdown_ticks_in_the_browser(page: Page, site: Site) -> None:
    open_board(page, site, "?account=shop-1")
    when = row(page, SOON).locator(".countdown .when")
    first = when.inner_text()
    time.sleep(2.5)
    second = when.inner_text()

    def seconds(text: str) -> int:
        hours, minutes, secs = (int(part) for part in text.split(":"))
        return hours * 3600 + minutes * 60 + secs

    assert re.fullmatch(r"\d+:\d\d:\d\d", first) and re.fullmatch(r"\d+:\d\d:\d\d", second)
    assert 1 <= seconds(first) - seconds(second) <= 5  # counting down, about once a second


def test_acknowledging_without_the_token_is_refused(page: Page, site: Site) -> None:
    open_board(page, site, "?account=shop-1")
    page.fill("#ack-name", "Intruder")
    row(page, SOON).locator("button[data-act=ack]").click()

    message = page.locator("#message")
    message.wait_for(state="visible")
    assert message.inner_text().startswith("Refused:")
    assert "token" in message.inner_text()
    assert row(page, SOON).locator(".ack-badge").count() == 0
    assert site.status()[SOON]["acknowledged_by"] is None


def test_acknowledging_with_the_token_shows_the_name_after_the_next_refresh(
    page: Page, browser: Browser, site: Site
) -> None:
    log_in(page, site)
    page.goto(site.url + "?account=shop-1")
    page.wait_for_selector("#postings li.posting")
    page.fill("#ack-name", "Li Wei")
    row(page, HOSTILE_ONE).locator("button[data-act=ack]").click()
    page.locator("#message").wait_for(state="visible")
    assert page.locator("#message").inner_text() == f"{HOSTILE_ONE}: taken by Li Wei."

    refreshes = int(page.evaluate("document.body.dataset.refreshes"))
    next_refresh = page.locator(f'body[data-refreshes="{refreshes + 1}"]')
    next_refresh.wait_for(state="attached", timeout=REFRESH_WAIT)
    badge = row(page, HOSTILE_ONE).locator(".ack-badge")
    assert badge.inner_text().startswith("taken by Li Wei at ")
    status = site.status()[HOSTILE_ONE]
    assert status["acknowledged_by"] == "Li Wei" and status["acknowledged_at"]

    other = browser.new_context().new_page()  # another device, not logged in
    open_board(other, site, "?account=shop-1")
    assert row(other, HOSTILE_ONE).locator(".ack-badge").inner_text().startswith("taken by Li Wei")
    other.context.close()
    page.reload()
    page.wait_for_selector("#postings li.posting")
    assert page.locator("#ack-name").input_value() == "Li Wei"  # remembered on this device


def test_hold_and_release_from_the_page(page: Page, site: Site) -> None:
    log_in(page, site)
    page.goto(site.url + "?account=shop-1")
    page.wait_for_selector("#postings li.posting")
    page.select_option("#hold-for", "2h")
    row(page, LATER).locator("button[data-act=hold]").click()
    row(page, LATER).locator(".held-badge").wait_for()
    assert "held until" in row(page, LATER).locator(".held-badge").inner_text()
    assert row(page, LATER).get_attribute("class") == "posting held"
    held = site.status()[LATER]
    assert held["held"] is True and held["held_until"]

    row(page, LATER).locator("button[data-act=release]").click()
    row(page, LATER).locator("button[data-act=hold]").wait_for()
    assert site.status()[LATER]["held"] is False


def test_outside_text_with_markup_is_shown_as_text(page: Page, site: Site) -> None:
    named = site.daemon.run("ack", LATER, "--by", '<img src=x onerror="window.__pwned=3">')
    assert named.returncode == 0, explain(named)
    open_board(page, site, "?account=shop-1")

    assert row(page, HOSTILE_ONE).locator(".warehouse").inner_text() == HOSTILE
    assert 'onerror="window.__pwned=3"' in row(page, LATER).locator(".ack-badge").inner_text()
    assert page.locator("#postings img, #postings b, #postings script").count() == 0
    options = page.locator("#filter-warehouse option").all_inner_texts()
    assert HOSTILE in options
    time.sleep(0.5)  # an injected onerror would have fired by now
    assert page.evaluate("window.__pwned === undefined")


def test_the_page_says_when_the_data_is_stale(page: Page, site: Site) -> None:
    with Store.open(site.daemon.database, mode="annotate") as store:
        state = store.get_sync_state("shop-1")
        assert state.last_success_at is not None
        store.record_sync_success("shop-1", datetime.now(UTC) - timedelta(hours=2))
        try:
            open_board(page, site)
            stale = page.locator("#stale")
            stale.wait_for(state="visible")
            assert stale.inner_text().startswith("Data may be out of date: shop-1 last synced")
            assert "2h" in stale.inner_text() and "every 5m" in stale.inner_text()
        finally:
            store.record_sync_success("shop-1", state.last_success_at)
    page.reload()
    page.locator('body[data-refreshes="1"]').wait_for(state="attached")
    assert page.locator("#stale").is_hidden()


def test_the_demo_serves_the_board_and_prints_its_url(browser: Browser, tmp_path: Path) -> None:
    started = time.monotonic()
    out = tmp_path / "demo.out"
    with out.open("wb") as stdout, (tmp_path / "demo.err").open("wb") as stderr:
        demo = subprocess.Popen(
            [*ozon_sync_command(), "demo"], stdout=stdout, stderr=stderr, env=clean_env()
        )
    try:
        wait_for(lambda: "board: http" in out.read_text(), "the demo's board URL", 60)
        url = re.search(r"board: (http://127\.0\.0\.1:\d+/)", out.read_text())
        assert url
        page = browser.new_context().new_page()
        page.goto(url[1])
        page.wait_for_selector("#postings li.posting")
        assert page.locator("#postings li.posting").count() >= 8
        assert page.locator("p.note").inner_text().startswith("Read-only board")
        with urllib.request.urlopen(url[1] + "api/postings", timeout=10) as answer:  # noqa: S310
            assert len(json.loads(answer.read())) >= 8
        page.context.close()
        assert demo.wait(timeout=90) == 0
        assert time.monotonic() - started < 60
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
