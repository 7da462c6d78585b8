"""The board's browser tests skip with a reason without Chromium, but fail in CI (CI=true),
where .ci/run installs it: a missing browser must not hide them there."""

from __future__ import annotations

import pytest

from tests import browser


def test_without_chromium_the_browser_tests_skip_and_say_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("OZON_SYNC_CHROMIUM", raising=False)
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        next(browser.chromium_browser())


def test_in_ci_a_missing_chromium_fails_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("OZON_SYNC_CHROMIUM", raising=False)
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        next(browser.chromium_browser())


def test_an_explicit_chromium_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OZON_SYNC_CHROMIUM", "/opt/chromium/chrome")
    assert browser.chromium_executable() == "/opt/chromium/chrome"
