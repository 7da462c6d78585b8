"""A real headless Chromium for the board's browser tests: Debian's `chromium`, driven by
Playwright through `executable_path` (never `playwright install`, which downloads a browser).

Without a browser the tests skip and say why, except in CI (`CI=true`): there `.ci/run`
installs Chromium first, so a missing one fails the run instead of hiding the tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["chromium_browser", "chromium_executable"]

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_executable() -> str | None:
    """$OZON_SYNC_CHROMIUM, else the first Chromium on PATH, else None."""
    chosen = os.environ.get("OZON_SYNC_CHROMIUM")
    if chosen:
        return chosen
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(f"{reason}; install it (apt-get install chromium) to run the board's browser tests")


def chromium_browser() -> Iterator[Browser]:
    """A launched headless Chromium (for a fixture to yield), closed afterwards."""
    executable = chromium_executable()
    if executable is None:
        _missing("no Chromium browser found (chromium, chromium-browser or $OZON_SYNC_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # root in CI containers: Chromium's own sandbox needs user namespaces
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()
