"""How live does the k slider feel? The page in headless chromium against a real gunicorn.

For each photo: upload it, then make N slider moves one after the other and time each from
the input event to the new result shown (the page's "kmeans:result-shown" performance mark,
set once the new image is decoded and swapped in). The debounce, the request, the server's
work, the transfer and the decode are all inside that time. Beside it: the engine alone,
app.pipeline.render on an already prepared photo, for the same k values and preview size.

    .venv/bin/python -m bench.bench_slider [--moves 20] [photo ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app import pipeline
from testsupport.browser import CHROMIUM, launch, open_page, upload, wait_for_result
from testsupport.corpus import CORPUS
from testsupport.servers import gunicorn

PHOTOS = ["kodim23.png", "cam_olympus_ep3_12mp.jpg"]
# Every move is a new k, near and far from the last one, as a hand on the slider makes them.
KS = [17, 12, 24, 8, 32, 20, 6, 40, 14, 28, 10, 48, 22, 5, 36, 18, 9, 30, 64, 15]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def page_moves(browser, base: str, photo: Path, ks: list[int]) -> tuple[list[float], int]:
    """Milliseconds from each slider move to its result on show, and the preview side the page asked for."""
    context, page, guard, _ = open_page(browser, base)
    sides: list[int] = []

    def note_side(request) -> None:
        body = request.post_data_buffer or b""
        if request.url.endswith("/api/quantize") and b"max_side=" in body:
            sides.append(int(body.split(b"max_side=")[1].split(b"&")[0]))

    page.on("request", note_side)
    upload(page, photo)
    page.locator("#curve-chart svg").wait_for()  # the curve request is done before the clock starts
    times = []
    for k in ks:
        started = page.evaluate(
            """k => {
                 const slider = document.getElementById('k-slider');
                 slider.value = String(k);
                 const now = performance.now();
                 slider.dispatchEvent(new Event('input', {bubbles: true}));
                 return now;
               }""",
            k,
        )
        wait_for_result(page, k)
        shown = page.evaluate(
            "k => performance.getEntriesByName('kmeans:result-shown').filter(m => m.detail.k === k).at(-1).startTime",
            k,
        )
        times.append(shown - started)
    context.close()
    if guard.outside:
        raise SystemExit(f"requests left 127.0.0.1: {guard.outside}")
    return times, sides[-1]


def engine_alone(photo: Path, ks: list[int], max_side: int) -> tuple[list[float], float]:
    """Milliseconds of pipeline.render per k on a prepared photo, and the photo's megapixels."""
    prepared = pipeline.prepare(photo.read_bytes(), 50_000_000)
    times = []
    for k in ks:
        start = time.perf_counter()
        pipeline.render(prepared, pipeline.Options(k=k, max_side=max_side))
        times.append((time.perf_counter() - start) * 1000)
    return times, prepared.decoded.width * prepared.decoded.height / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", default=[str(CORPUS / name) for name in PHOTOS])
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"this benchmark drives Debian's chromium, missing at {CHROMIUM}")
    ks = (KS * (args.moves // len(KS) + 1))[: args.moves]
    from playwright.sync_api import sync_playwright

    rows = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, gunicorn(Path(scratch) / "server.log", LOG_LEVEL="warning") as (
            _, base):
        with sync_playwright() as playwright:
            browser = launch(playwright)
            for name in args.photos:
                photo = Path(name)
                page_ms, side = page_moves(browser, base, photo, ks)
                rows.append([photo, page_ms, side])
            browser.close()
    print(f"{'photo':<28} {'MP':>5} {'moves':>5} {'preview':>8} {'page p50':>9} {'page p95':>9} "
          f"{'engine p50':>11} {'engine p95':>11}")
    for photo, page_ms, side in rows:
        engine_ms, megapixels = engine_alone(photo, ks, side)
        print(f"{photo.name:<28} {megapixels:>5.1f} {len(ks):>5} {side:>6}px "
              f"{statistics.median(page_ms):>7.0f}ms {percentile(page_ms, 0.95):>7.0f}ms "
              f"{statistics.median(engine_ms):>9.0f}ms {percentile(engine_ms, 0.95):>9.0f}ms")
    print("\npage: slider input event to the new image decoded and shown in chromium (debounce of 70 ms included);"
          "\nengine: app.pipeline.render alone with the same k values and max_side."
          f" {time.perf_counter() - began:.0f} s in all.")


if __name__ == "__main__":
    main()
