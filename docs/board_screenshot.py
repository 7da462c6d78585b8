"""Take docs/board.png: the packer's board of `ozon-sync demo`, in the headless Chromium the
browser tests use (Debian's `chromium`, driven by Playwright through `executable_path`).

    .venv/bin/python docs/board_screenshot.py [--language en|zh|ru] [--timezone ZONE]
        [--width PIXELS] [--out docs/board.png]

It starts `ozon-sync demo` next to this Python, reads the board's address from its output,
waits until the demo's story has moved a few postings, takes the picture, and lets the demo
finish. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import chromium_executable  # noqa: E402 - after the path above
from tests.cli_helpers import ozon_sync_command  # noqa: E402

SETTLE = 14.0  # seconds into the demo: a new order, a packed one, a cancellation, a moved deadline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="en", choices=["en", "zh", "ru"])
    parser.add_argument("--timezone", default="Asia/Shanghai")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "board.png")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    executable = chromium_executable()
    if executable is None:
        print("no chromium found: apt-get install chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "demo.out"
        with out.open("wb") as stdout:
            demo = subprocess.Popen(  # noqa: S603 - our own command
                [
                    *ozon_sync_command(),
                    "demo",
                    "--language",
                    args.language,
                    "--timezone",
                    args.timezone,
                ],
                stdout=stdout,
                stderr=subprocess.DEVNULL,
            )
        started = time.monotonic()
        url = None
        while url is None and time.monotonic() - started < 60:
            found = re.search(r"board: (http://127\.0\.0\.1:\d+/)", out.read_text())
            url = found[1] if found else None
            time.sleep(0.1)
        if url is None:
            demo.kill()
            print("the demo printed no board address", file=sys.stderr)
            return 1
        time.sleep(max(0.0, SETTLE - (time.monotonic() - started)))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": args.width, "height": 800})
            page.goto(url)
            page.wait_for_selector("#postings li.posting")
            time.sleep(1.2)  # a countdown tick
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        demo.wait(timeout=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
