"""The board shows what the status elements say beyond the countdown (issue 18.1), in a real
headless Chromium against the installed `ozon-sync board`: the working time left from the
warehouse's calendar (and, in red, that none is left), a "needs data" badge naming what Ozon
still wants before assembly, and when the shipping tariff steps up; none of them for a
posting that has nothing to say.

The database is written through the store itself (postings as Ozon would send them), so the
page has exactly these postings; the board's config gives the warehouses their calendars.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from daemon.models import Posting, Requirement
from daemon.store import Store
from tests.browser import chromium_browser
from tests.cli_helpers import clean_env
from tests.e2e.conftest import (
    AccountSpec,
    Daemon,
    Running,
    config_text,
    explain,
    free_port,
    wait_for,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

OPEN, CLOSED = 1020001234567000, 1020001987654000  # warehouses: always open, closed for days
NEEDS, CLOSED_ONE, PLAIN = "41000001-0001-1", "41000002-0001-1", "41000003-0001-1"


@dataclass
class Board:
    url: str
    running: Running
    daemon: Daemon


def _calendars(today: datetime) -> str:
    days = ", ".join(f'"{(today + timedelta(days=n)).date().isoformat()}"' for n in range(-1, 6))
    return f"""
[[calendars]]
name = "always"
timezone = "UTC"
workdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
hours = ["00:00-24:00"]
default = true

[[calendars]]
name = "closed"
timezone = "UTC"
days_off = [{days}]
warehouse_ids = [{CLOSED}]
"""


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    folder = tmp_path_factory.mktemp("board-details")
    now = datetime.now(UTC)
    config = folder / "config.toml"
    config.write_text(
        config_text("http://127.0.0.1:9", [AccountSpec("shop-1", "100500", "unused")])
        + _calendars(now),
        encoding="utf-8",
    )
    daemon = Daemon(config, clean_env())
    with Store.open(daemon.database, mode="writer") as store:
        store.upsert_postings(
            "shop-1",
            [
                Posting(
                    posting_number=NEEDS, status="awaiting_packaging",
                    shipment_date=now + timedelta(hours=5), warehouse_id=OPEN,
                    warehouse_name="Open all day",
                    requirements=("products_requiring_gtd", "products_requiring_weight"),
                    requirement_skus=(Requirement("products_requiring_gtd", (1658203344,)),
                                      Requirement("products_requiring_weight", (1702299810,))),
                    next_tariff_starts_at=now + timedelta(hours=2),
                ),
                Posting(
                    posting_number=CLOSED_ONE, status="awaiting_packaging",
                    shipment_date=now + timedelta(days=2), warehouse_id=CLOSED,
                    warehouse_name="Closed this week",
                ),
                Posting(
                    posting_number=PLAIN, status="awaiting_packaging",
                    shipment_date=now - timedelta(hours=1), warehouse_id=OPEN,
                    warehouse_name="Open all day",
                ),
            ],
            now,
        )  # fmt: skip
        store.record_sync_success("shop-1", now)
    running = daemon.start("board", "--listen", f"127.0.0.1:{free_port()}")
    wait_for(lambda: "serving" in running.stdout_path.read_text(), "the board to serve", 60)
    found = re.search(r"serving (http://\S+/)", running.stdout_path.read_text())
    assert found, running.stdout_path.read_text()
    yield Board(found[1], running, daemon)
    running.process.terminate()
    stopped = running.wait(timeout=30)
    assert stopped.returncode == 0, explain(stopped)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium_browser()


def rows(browser: Browser, board: Board) -> dict[str, Any]:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(board.url)
    page.wait_for_selector("#postings li.posting")
    found = {
        number: page.locator(f'#postings li.posting[data-number="{number}"]')
        for number in (NEEDS, CLOSED_ONE, PLAIN)
    }
    assert errors == []
    return found


def test_the_status_elements_carry_what_the_page_shows(board: Board) -> None:
    status = {item["posting_number"]: item for item in board.daemon.status()}
    assert status[NEEDS]["requirements"] == ["products_requiring_gtd", "products_requiring_weight"]
    assert status[NEEDS]["next_tariff_at"] is not None
    assert status[NEEDS]["working_seconds_left"] > 4 * 3600  # open all day: clock time
    assert status[CLOSED_ONE]["working_seconds_left"] == 0
    assert status[PLAIN]["requirements"] == [] and status[PLAIN]["next_tariff_at"] is None


def test_working_time_needs_data_and_the_tariff_step_are_shown(
    browser: Browser, board: Board
) -> None:
    row = rows(browser, board)

    working = row[NEEDS].locator(".working").inner_text()
    assert re.fullmatch(r"4h \d+m of working time left", working), working
    badge = row[NEEDS].locator(".needs-badge")
    assert badge.inner_text() == ("needs data: customs declaration (GTD) number, actual weight")
    assert badge.get_attribute("title") == "products_requiring_gtd, products_requiring_weight"
    assert row[NEEDS].get_attribute("data-needs-data") == "true"
    assert row[NEEDS].locator(".tariff").inner_text().startswith("tariff steps up ")

    none_left = row[CLOSED_ONE].locator(".working.none-left")
    assert none_left.inner_text() == "no working time left before the deadline"
    assert row[CLOSED_ONE].locator(".needs-badge, .tariff").count() == 0

    # overdue, no requirements, no tariff step: nothing but the countdown and the deadline
    assert row[PLAIN].locator(".working, .needs-badge, .tariff").count() == 0
    row[PLAIN].page.context.close()
