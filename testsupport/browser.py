"""Driving the page in headless Debian chromium with Playwright: shared by the browser tests and the benchmark."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Seen by the page before its own scripts: every CSP violation, whatever its source.
RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class Guard:
    """Lets requests to the app through and aborts, and remembers, any other."""

    base: str
    outside: list[str] = field(default_factory=list)

    def __call__(self, route) -> None:
        url = route.request.url
        if url == self.base or url.startswith(self.base + "/"):
            route.fallback()
        else:
            self.outside.append(url)
            route.abort()


@dataclass
class RequestCounter:
    """Requests to one API path: how many in all, and how many were in flight at once, at most."""

    path: str = "/api/palettes"
    now: int = 0
    most: int = 0
    total: int = 0
    requests: set = field(default_factory=set)

    def attach(self, page) -> None:
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    def _start(self, request) -> None:
        if request.url.endswith(self.path):
            self.requests.add(request)
            self.total += 1
            self.now += 1
            self.most = max(self.most, self.now)

    def _end(self, request) -> None:
        if request in self.requests:
            self.requests.discard(request)
            self.now -= 1


def open_page(browser, base: str, **context_options):
    """A fresh page on the app with the outside world cut off. Returns (context, page, guard, problems)."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context_options})
    guard = Guard(base)
    context.route("**/*", guard)
    context.add_init_script(RECORD_CSP)
    page = context.new_page()
    page.set_default_timeout(90_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text or "Refused to" in message.text else None)
    page.goto(base + "/")
    if context_options.get("java_script_enabled", True):
        page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    return context, page, guard, problems


def csp_violations(page) -> list[str]:
    return page.evaluate("() => window.__cspViolations || []")


def wait_for_result(page, k: int, options: str = "rgb|none") -> None:
    """Until the result for k (and color space|dither) is painted and nothing more is awaited."""
    page.wait_for_function(
        """key => document.getElementById('app').dataset.shownKey === key
                 && document.getElementById('app').dataset.busy === 'false'""",
        arg=f"{k}|{options}",
    )


def upload(page, path: Path, k: int = 16) -> None:
    page.set_input_files("#image", str(path))
    wait_for_result(page, k)


RESULT = '#compare canvas[aria-label^="Result"]'


def shown_result(page) -> Image.Image:
    """The pixels of the result on show, read back from its canvas, with the data-* that describe them."""
    state = page.eval_on_selector(
        RESULT, "c => ({url: c.toDataURL('image/png'), k: c.dataset.k, space: c.dataset.colorSpace, dither: c.dataset.dither})")
    prefix = "data:image/png;base64,"
    assert state["url"].startswith(prefix), state["url"][:40]
    image = Image.open(io.BytesIO(base64.b64decode(state["url"][len(prefix):])))
    image.info["data"] = state
    return image


def colors_of(image: Image.Image) -> set[str]:
    return {"#%02x%02x%02x" % color[:3] for _, color in image.convert("RGB").getcolors(1 << 24)}


def color_count(image: Image.Image) -> int:
    colors = image.convert("RGB").getcolors(1 << 24)
    return len(colors)


def take_screenshot(page, photo: Path, target: Path, k: int = 12) -> None:
    """The README's picture of the page: the photo at k colors, the error curve drawn, nothing focused."""
    page.set_input_files("#image", str(photo))
    page.fill("#k", str(k))
    wait_for_result(page, k)
    page.locator("#curve-chart svg circle.suggested").wait_for()
    page.evaluate("document.activeElement.blur()")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
