"""Retake the README's screenshot: python -m tools.screenshot [-o docs/screenshot.png]

Starts gunicorn on 127.0.0.1 (a free port, its log in a temp dir), opens the page
in headless Debian chromium (Playwright), loads kodim23 from the corpus at k = 12
and writes a 1280x800 PNG. Run it when the page changes; the test run only checks
that a screenshot can be taken (into a temp dir) and never rewrites the tracked file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from testsupport.browser import CHROMIUM, launch, open_page, take_screenshot
from testsupport.corpus import CORPUS, ROOT
from testsupport.servers import gunicorn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--photo", type=Path, default=CORPUS / "kodim23.png")
    parser.add_argument("-k", type=int, default=12)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        sys.exit(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    if not args.photo.is_file():
        sys.exit(f"no photo at {args.photo}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch, gunicorn(Path(scratch) / "server.log") as (_, base):
        with sync_playwright() as playwright:
            browser = launch(playwright)
            context, page, guard, problems = open_page(browser, base)
            take_screenshot(page, args.photo, args.output, args.k)
            context.close()
            browser.close()
    if guard.outside or problems:
        sys.exit(f"the page misbehaved: {guard.outside or problems}")
    print(f"{args.output}: the page with {args.photo.name} at k = {args.k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
