"""Does the k slider play like a video? The page in headless chromium against real gunicorn.

Two designs side by side, in one run, on the same photos and the same moves:
  live      this page: the browser draws the result from the photo it holds and the palettes of
            POST /api/palettes (static/js/preview.js, ladder.js);
  previous  the page before it (templates/ and static/ of PREVIOUS_DESIGN), served by the same
            current app: every move asks POST /api/quantize for a screen-sized image (max_side).
With --against REV a third runs beside them: live@REV, the whole app and page of a git revision
(this design at an earlier commit), to measure a change before and after in one run;
--no-previous leaves the previous design out.

A move "right after" the first result is one of two kinds, reported apart: the palette was
already on the page (fetched ahead by the ladder, as it would be for a user), or the page had
to ask for it when the slider moved ("asked"); the parts of the asked ones follow.

The color space is switched to lab and back the moment the first result (k = 16) is on screen, and
options again after a rest of OPTION_PAUSE_MS on k = 16; between the two come the moves. The second round of moves repeats the first
on the live page, its ladder complete; the previous page, which has no ladder, moves to k values it has
not visited (the server would answer visited ones from its palette cache). Each visit gets a fresh gunicorn
that has served one small other photo (warm_up), so the photo itself is new to it.
"On screen" is read from the page, never the network: the performance mark each page sets in
the frame that shows a result (live: "kmeans:painted", in the animation frame that paints the
canvas; previous: "kmeans:result-shown", once the new image is decoded and swapped in).
Requests are watched, not intercepted (intercepting made each fetch wait 4-6 ms for Playwright, which
no user's browser does); one that left 127.0.0.1 ends the run (--intercept: stopped instead).

    .venv/bin/python -m bench.bench_live [--repeat 3] [--against REV] [--no-previous] [photo ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

import psutil
import requests

from bench.report import percentile
from bench.revisions import unpacked
from testsupport.browser import CHROMIUM, launch
from testsupport.corpus import CORPUS
from testsupport.images import gradient, png_bytes
from testsupport.servers import ROOT, gunicorn

PHOTOS = ["cam_olympus_ep3_12mp.jpg", "cam_xiaomi_mi9t_12mp_orient6.jpg", "kodim23.png"]
PREVIOUS_DESIGN = "4b9aaae"  # main before the live preview: server-rendered previews per move
PREVIOUS_PREVIEW_SIDE = 1600  # app/web.py's PREVIEW_SIDE then: the largest preview that page asked for
# Every move is a new k, near and far from the last, most never visited before.
KS = [17, 12, 24, 8, 32, 20, 6, 40, 14, 28, 10, 48, 22, 5, 36, 18, 9, 30, 64, 15]
# The previous design has no ladder: its second round of moves goes to k values it has not
# visited either, or the server's cache of palettes (which that design never had) would answer them.
KS_UNVISITED = [33, 7, 26, 13, 44, 3, 21, 56, 11, 38, 19, 29, 4, 52, 25, 35, 23, 60, 27, 42]
TIMEOUT_MS = 120_000
# Before each option switch the page rests this long, as a hand does between the slider and a
# select; the live page uses such rests to fetch the other color spaces' palette of the k shown.
OPTION_PAUSE_MS = 1000
VERBOSE = False
INTERCEPT = False
MOVES_ONLY = False

# Seen before the page's own scripts: when the file was chosen, when work first showed, and a
# promise for the mark of a given result.
PROBE = """
window.__bench = {chosen: null, progress: null, original: null, fetches: []};
// When each request left the page's code, and what it asked for (read in verbose runs).
const pageFetch = window.fetch;
window.fetch = (resource, init) => {
  const body = init?.body;
  const ask = body && typeof body.get === 'function'
    ? ['ks', 'color_space', 'background', 'image_id'].map((key) => key === 'image_id' ? (body.get(key) ? 'by hash' : 'upload') : body.get(key)).join(' ')
    : '';
  window.__bench.fetches.push([Math.round(performance.now()), String(resource), ask]);
  return pageFetch(resource, init);
};
document.addEventListener('change', (e) => {
  if (e.target.id === 'image') window.__bench.chosen = performance.now();
}, true);
document.addEventListener('DOMContentLoaded', () => {
  const b = window.__bench;
  const shown = (id) => { const el = document.getElementById(id); return el && !el.hidden; };
  new MutationObserver(() => {
    if (b.chosen !== null && b.progress === null && (shown('pane-status') || shown('progress'))) b.progress = performance.now();
  }).observe(document.body, {attributes: true, subtree: true, attributeFilter: ['hidden']});
  // On screen once decoded, not merely loaded: a 12 MP JPEG is decoded after its load event.
  const original = document.getElementById('original-img');
  original.addEventListener('load', () => {
    if (b.chosen === null || b.original !== null) return;
    original.decode().then(() => { if (b.original === null) b.original = performance.now(); }, () => {});
  });
});
window.__shown = (name, want, since) => new Promise((resolve) => {
  const matches = (m) => m.startTime >= since && Object.entries(want).every(([key, value]) => m.detail?.[key] === value);
  const done = () => {
    const found = performance.getEntriesByName(name).find(matches);
    if (found) { observer.disconnect(); resolve(found.startTime); return true; }
    return false;
  };
  const observer = new PerformanceObserver(done);
  observer.observe({type: 'mark', buffered: false});
  done();
});
"""


@dataclass(frozen=True)
class Design:
    name: str
    mark: str
    ladder: bool = True  # draws from palettes (this design, at any revision), rather than server-made images

    def want(self, k: int, space: str = "rgb", dither: str = "none") -> dict:
        if self.ladder:
            return {"k": k, "colorSpace": space, "dither": dither}
        return {"key": f"{k}|{space}|{dither}"}


LIVE = Design("live", "kmeans:painted")
PREVIOUS = Design("previous", "kmeans:result-shown", ladder=False)


@dataclass
class MoveParts:
    """Where the time of the live page's moves went, for those whose palette had to be asked for."""

    arrived: list[float] = field(default_factory=list)  # input to the palette's answer in the page
    server: list[float] = field(default_factory=list)  # the server's time on it (timings.quantize_ms)
    drawing: list[float] = field(default_factory=list)  # the worker's time drawing the preview from it


@dataclass
class Figures:
    first: list[float] = field(default_factory=list)
    original: list[float] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)
    first_server: list[float] = field(default_factory=list)
    first_left: list[float] = field(default_factory=list)  # choosing the file to the first request leaving
    first_server_wall: list[float] = field(default_factory=list)  # that request's time in the app (Server-Timing)
    first_server_cpu: list[float] = field(default_factory=list)  # the server process's CPU meanwhile
    first_answered: list[float] = field(default_factory=list)  # choosing the file to the answer's last byte
    first_requests: list[float] = field(default_factory=list)  # requests to /api/palettes before the first paint
    first_drawn: list[float] = field(default_factory=list)  # the answer's last byte to the result on screen
    first_page_ready: list[float] = field(default_factory=list)
    moves_cold: list[float] = field(default_factory=list)
    moves_cold_prefetched: list[float] = field(default_factory=list)  # the palette was on the page before the move
    moves_cold_asked: list[float] = field(default_factory=list)  # the page asked for it when the slider moved
    moves_cold_parts: MoveParts = field(default_factory=MoveParts)
    moves_warm: list[float] = field(default_factory=list)
    drag_painted: list[int] = field(default_factory=list)
    drag_release: list[float] = field(default_factory=list)
    dither: list[float] = field(default_factory=list)
    space: list[float] = field(default_factory=list)
    space_no_rest: list[float] = field(default_factory=list)
    space_no_rest_palette: list[float] = field(default_factory=list)  # the lab palette's last byte to its result on screen
    space_no_rest_render: list[float] = field(default_factory=list)  # of which the preview worker's render
    space_no_rest_early: list[float] = field(default_factory=list)  # 1: the lab palette came early (no figures yet)
    cpu_per_move_cold: list[float] = field(default_factory=list)
    cpu_per_move_warm: list[float] = field(default_factory=list)
    ladder_s: list[float] = field(default_factory=list)
    ladder_cpu_s: list[float] = field(default_factory=list)


def worker_cpu(server: subprocess.Popen) -> float:
    """CPU seconds used so far by gunicorn's workers (the README's defaults run one)."""
    workers = psutil.Process(server.pid).children()
    return sum(w.cpu_times().user + w.cpu_times().system for w in workers)


def move(page, design: Design, k: int, space: str = "rgb", dither: str = "none", parts: MoveParts | None = None,
         figures: Figures | None = None) -> float:
    """Set the slider to k as a hand does (one input event); ms until that result is on screen.

    With figures, the move is also filed as prefetched (its palette was on the page before the
    input) or asked (the page had to ask for it); parts then gets the asked ones' parts."""
    shown, palette, drawing, prefetched, requests = page.evaluate(
        """async ([mark, want, k, space]) => {
             const slider = document.getElementById('k-slider');
             slider.value = String(k);
             const since = performance.now();
             const prefetched = performance.getEntriesByName('kmeans:palettes').some((m) => m.startTime < since
               && m.detail.colorSpace === space && m.detail.ks.includes(k));
             slider.dispatchEvent(new Event('input', {bubbles: true}));
             const shown = await window.__shown(mark, want, since);
             const marks = performance.getEntriesByName('kmeans:palettes').filter((m) => m.startTime >= since
               && m.detail.colorSpace === space && m.detail.ks.includes(k));
             const palette = marks[0];  // the first answer with k, whichever request it was
             // The server's time from the page's own request for k (not a background batch that held it
             // too), and only when it found that palette then (not answered from what it kept).
             const own = marks.find((m) => !m.detail.background && m.detail.ks.length === 1);
             const server = own?.detail.timings.found === 1 ? own.detail.timings.quantize_ms : null;
             const painted = performance.getEntriesByName(mark).find((m) => m.startTime === shown);
             // Verbose runs: each request to /api/palettes that left since the input, its times from the
             // input (left, sent, first byte, last byte) and its Server-Timing (app wall, thread CPU).
             const requests = performance.getEntriesByType('resource')
               .filter((r) => r.name.endsWith('/api/palettes') && r.startTime >= since)
               .map((r) => [r.startTime, r.requestStart, r.responseStart, r.responseEnd].map((t) => Math.round(t - since))
                 .concat(r.serverTiming.filter((t) => t.name === 'app' || t.name === 'cpu').map((t) => t.duration)));
             return [shown - since, palette ? [palette.startTime - since, server] : null,
                     painted?.detail?.renderMs ?? null, prefetched,
                     requests.concat([[painted?.detail?.sent - since, painted?.detail?.received - since].map(Math.round)])];
           }""",
        [design.mark, design.want(k, space, dither), k, space],
    )
    if VERBOSE and figures is not None:
        server = (f", server {palette[1] if palette[1] is not None else '-'} ms, palette came at {palette[0]:.0f}"
                  if palette and not prefetched else "")
        print(f"    {design.name} k = {k}: {shown:.0f} ms, {'prefetched' if prefetched else 'asked'}{server}"
              f"{f', drawing {drawing:.0f}' if drawing is not None else ''}; requests [left, sent, first byte, last byte, "
              f"app, cpu]: {requests}", flush=True)
    if figures is not None and design.ladder:
        (figures.moves_cold_prefetched if prefetched else figures.moves_cold_asked).append(shown)
        if prefetched:
            return shown
    if parts is not None and palette is not None:
        parts.arrived.append(palette[0])
        if palette[1] is not None:
            parts.server.append(palette[1])
        if drawing is not None:
            parts.drawing.append(drawing)
    return shown


def select(page, design: Design, control: str, value: str, want: dict) -> float:
    return page.evaluate(
        """async ([control, value, mark, want]) => {
             const select = document.getElementById(control);
             select.value = value;
             const since = performance.now();
             select.dispatchEvent(new Event('change', {bubbles: true}));
             return (await window.__shown(mark, want, since)) - since;
           }""",
        [control, value, design.mark, want],
    )


def drag(page, design: Design) -> tuple[int, float]:
    """k from 2 to 64 with one input event per animation frame: values painted meanwhile, and release to 64 on screen."""
    return page.evaluate(
        """async ([mark, want64]) => {
             const slider = document.getElementById('k-slider');
             const since = performance.now();
             for (let k = 2; k <= 64; k++) {
               await new Promise(requestAnimationFrame);
               slider.value = String(k);
               slider.dispatchEvent(new Event('input', {bubbles: true}));
             }
             const released = performance.now();
             const end = await window.__shown(mark, want64, since);
             const painted = new Set(performance.getEntriesByName(mark)
               .filter(m => m.startTime >= since && m.startTime <= released)
               .map(m => m.detail.k));
             return [painted.size, end - released];
           }""",
        [design.mark, design.want(64)],
    )


def session(browser, base: str, server: subprocess.Popen, design: Design, photo: Path, figures: Figures,
            full: bool) -> None:
    """One visit: choose the photo, then (when full) the moves, a drag and the options."""
    step = (lambda text: print(f"  {design.name} {photo.name}: {text}", flush=True)) if VERBOSE else (lambda text: None)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(PROBE)
    outside: list[str] = []
    if INTERCEPT:
        context.route("**/*", lambda route: route.fallback() if route.request.url.startswith(base)
                      else (outside.append(route.request.url), route.abort()))
    else:  # watched, not intercepted: an intercepted request waits for Playwright, 4-6 ms a fetch
        context.on("request", lambda request: None if request.url.startswith((base, "data:", "blob:"))
                   else outside.append(request.url))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(base + "/")
    page.wait_for_function("() => document.getElementById('app').dataset.ready === 'true'")
    page.set_input_files("#image", str(photo))
    shown = page.evaluate("([mark, want]) => window.__shown(mark, want, 0)", [design.mark, design.want(16)])
    probe = page.evaluate("() => window.__bench")
    figures.first.append(shown - probe["chosen"])
    step(f"first result {shown - probe['chosen']:.0f} ms")
    if probe["original"] is not None:
        figures.original.append(probe["original"] - probe["chosen"])
    if probe["progress"] is not None:
        figures.progress.append(probe["progress"] - probe["chosen"])
    if design.ladder:
        first = page.evaluate("""(shown) => {
            const palette = performance.getEntriesByName('kmeans:palettes')[0];
            const ready = performance.getEntriesByName('kmeans:preview-ready')[0];
            // The requests for palettes that left before the first result was on screen; the one that
            // answered first (the upload, or the same photo asked for by its hash) is the one waited for.
            const asked = performance.getEntriesByType('resource')
              .filter((r) => r.name.endsWith('/api/palettes') && r.startTime <= shown);
            const answered = asked.filter((r) => r.responseStatus === 200).sort((a, b) => a.responseEnd - b.responseEnd)[0];
            const timing = Object.fromEntries((answered?.serverTiming || []).map((t) => [t.name, t.duration]));
            const painted = performance.getEntriesByName('kmeans:painted').find((m) => m.startTime === shown);
            return {server: palette?.detail.timings, ready: ready?.startTime, requests: asked.length,
                    marked: palette?.startTime, renderMs: painted?.detail.renderMs,
                    left: asked.length ? Math.min(...asked.map((r) => r.startTime)) : null,
                    answered: answered?.responseEnd ?? null, timing,
                    each: asked.map((r) => [Math.round(r.startTime), Math.round(r.requestStart), Math.round(r.responseStart),
                                            Math.round(r.responseEnd), r.responseStatus,
                                            Object.fromEntries(r.serverTiming.map((t) => [t.name, t.duration]))])};
        }""", shown)
        if first["server"]:
            figures.first_server.append(sum(first["server"].get(key, 0) for key in ("decode_ms", "histogram_ms", "quantize_ms")))
        if first["ready"] is not None:
            figures.first_page_ready.append(first["ready"] - probe["chosen"])
        figures.first_requests.append(first["requests"])
        if first["left"] is not None:
            figures.first_left.append(first["left"] - probe["chosen"])
        if first["answered"] is not None:
            figures.first_answered.append(first["answered"] - probe["chosen"])
            figures.first_drawn.append(shown - first["answered"])
        if "app" in first["timing"]:
            figures.first_server_wall.append(first["timing"]["app"])
            figures.first_server_cpu.append(first["timing"]["process"])
        step(f"first: request left {first['left'] - probe['chosen']:.0f}, answered "
             f"{first['answered'] - probe['chosen']:.0f} ({first['requests']} requests), server {first['timing']}, "
             f"{first['server']}, page ready {first['ready'] - probe['chosen']:.0f}; chosen {probe['chosen']:.0f}, "
             f"requests [start, sent, first byte, last byte, status, server]: {first['each']}; palette mark "
             f"{first['marked']:.0f}, render {first['renderMs']} ms, shown {shown:.0f}; fetches {probe['fetches'][:5]}"
             if None not in (first["left"], first["answered"], first["ready"], first["marked"]) else
             f"first: {first}")
    if full:
        ladder_started = time.perf_counter()
        cpu_started = worker_cpu(server)
        figures.space_no_rest.append(select(page, design, "color-space", "lab", design.want(16, "lab")))
        if design.ladder:
            # The lab palette drawn is the last that came before its paint; one that came before the switch (a
            # background batch, on a small photo) counts from the switch.
            lab = page.evaluate("""(took) => {
                const painted = performance.getEntriesByName('kmeans:painted').filter((m) => m.detail.colorSpace === 'lab')[0];
                if (!painted) return null;
                const switched = painted.startTime - took;
                const came = performance.getEntriesByName('kmeans:palettes')
                  .filter((m) => m.detail.colorSpace === 'lab' && m.startTime <= painted.startTime).at(-1);
                return came ? [painted.startTime - Math.max(came.startTime, switched),
                               painted.detail.received - painted.detail.sent, came.detail.early ? 1 : 0] : null;
            }""", figures.space_no_rest[-1])
            if lab:
                figures.space_no_rest_palette.append(lab[0])
                figures.space_no_rest_render.append(lab[1])
                figures.space_no_rest_early.append(lab[2])
        select(page, design, "color-space", "rgb", design.want(16))
        step("color space with no rest")
        before = worker_cpu(server)
        parts = figures.moves_cold_parts if design.ladder else None
        figures.moves_cold += [move(page, design, k, parts=parts, figures=figures) for k in KS]
        step("moves right after the first result")
        figures.cpu_per_move_cold.append((worker_cpu(server) - before) * 1000 / len(KS))
        if not MOVES_ONLY:
            if design.ladder:  # the whole ladder, then the same moves again
                page.wait_for_function("() => document.getElementById('app').dataset.ladder === '63'")
                figures.ladder_s.append(time.perf_counter() - ladder_started)
                figures.ladder_cpu_s.append(worker_cpu(server) - cpu_started)
            before = worker_cpu(server)
            step("ladder complete")
            move(page, design, 50)  # untimed: the first timed move must change k
            figures.moves_warm += [move(page, design, k) for k in (reversed(KS) if design.ladder else KS_UNVISITED)]
            step("moves again")
            figures.cpu_per_move_warm.append((worker_cpu(server) - before) * 1000 / len(KS))
            painted, release = drag(page, design)
            step(f"drag: {painted} painted")
            figures.drag_painted.append(painted)
            figures.drag_release.append(release)
            move(page, design, 16)
            page.wait_for_timeout(OPTION_PAUSE_MS)  # a hand goes from the slider to a select
            figures.dither.append(select(page, design, "dither", "floyd-steinberg", design.want(16, "rgb", "floyd-steinberg")))
            select(page, design, "dither", "none", design.want(16))
            page.wait_for_timeout(OPTION_PAUSE_MS)
            figures.space.append(select(page, design, "color-space", "lab", design.want(16, "lab")))
    context.close()
    if outside:
        raise SystemExit(f"requests left 127.0.0.1: {outside}")


def warm_up(base: str) -> None:
    """One small other photo first, in both spaces: the engine's first k-means in a new worker costs
    over a second of one-time set-up, which is not what a user of a running server waits for."""
    tiny = png_bytes(gradient(48, 32))
    for color_space in ("rgb", "lab"):
        requests.post(f"{base}/api/quantize", files={"image": ("warm.png", tiny)},
                      data={"k": "4", "color_space": color_space}, timeout=120).raise_for_status()


def previous_design_root(into: Path) -> Path:
    """The current app with the page of PREVIOUS_DESIGN: the same engine and API, the old protocol."""
    unpacked(PREVIOUS_DESIGN, ["templates", "static"], into)
    shutil.copytree(ROOT / "app", into / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "gunicorn.conf.py", into / "gunicorn.conf.py")
    # The old page's one setting the current app no longer gives: the largest preview it asked for.
    template = into / "templates" / "index.html"
    template.write_text(template.read_text().replace("{{ settings.preview_side }}", str(PREVIOUS_PREVIEW_SIDE)))
    return into


def cell(values: list[float], unit: str) -> str:
    """p50 / p95 of a figure (or its median alone for the one-per-photo figures in seconds)."""
    if not values:
        return "–"
    if unit == "s":
        return f"{statistics.median(values):.1f} s"
    return f"{statistics.median(values):.0f} / {percentile(values, 0.95):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", default=[str(CORPUS / name) for name in PHOTOS])
    parser.add_argument("--repeat", type=int, default=3, help="visits per photo and design for the first result")
    parser.add_argument("--verbose", action="store_true", help="say what each visit is doing")
    parser.add_argument("--against", metavar="REV", help="also run the app and page of this git revision (live@REV), "
                        "visit by visit in turns with the working tree's")
    parser.add_argument("--no-previous", action="store_true", help=f"leave out the previous design ({PREVIOUS_DESIGN})")
    parser.add_argument("--intercept", action="store_true",
                        help="route every request through Playwright to stop any leaving 127.0.0.1, as runs before "
                             "20:55 UTC on 2026-12-01 did (4-6 ms more a fetch); by default they are watched and "
                             "reported instead")
    parser.add_argument("--moves-only", action="store_true",
                        help="every visit: the first result, the color space with no rest and the moves right after "
                             "it, nothing else (more samples of those moves, sooner)")
    args = parser.parse_args()
    global VERBOSE, INTERCEPT, MOVES_ONLY
    VERBOSE, INTERCEPT, MOVES_ONLY = args.verbose, args.intercept, args.moves_only
    if not CHROMIUM.exists():
        raise SystemExit(f"this benchmark drives Debian's chromium, missing at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    began = time.perf_counter()
    results: dict[tuple[str, str], Figures] = {}
    with tempfile.TemporaryDirectory() as temp, sync_playwright() as playwright:
        temp = Path(temp)
        designs = [(LIVE, ROOT)]
        if args.against:
            revision = subprocess.run(["git", "rev-parse", "--short", args.against], cwd=ROOT, capture_output=True,
                                      text=True, check=True).stdout.strip()
            designs.append((Design(f"live@{revision}", LIVE.mark), unpacked(revision, ["app", "templates", "static", "gunicorn.conf.py"], temp / "against")))
        if not args.no_previous:
            designs.append((PREVIOUS, previous_design_root(temp / "previous")))
        browser = launch(playwright)
        for name in args.photos:
            photo = Path(name)
            for visit in range(args.repeat):
                # The designs take turns, visit by visit, so all see the same load on a shared machine.
                for design, root in designs:
                    figures = results.setdefault((photo.name, design.name), Figures())
                    # A fresh server each visit: one that still holds the photo (its cache is keyed by
                    # content) would make a "first" result that is not one.
                    with gunicorn(temp / f"{design.name}.log", root=root, LOG_LEVEL="warning") as (server, base):
                        warm_up(base)
                        session(browser, base, server, design, photo, figures, full=visit == 0 or MOVES_ONLY)
        browser.close()

    rows = [
        ("first result", "first", "ms"), ("  server: decode+count+k-means", "first_server", "ms"),
        ("  request left", "first_left", "ms"), ("  server: in the app (wall)", "first_server_wall", "ms"),
        ("  server: process CPU", "first_server_cpu", "ms"), ("  answer in", "first_answered", "ms"),
        ("  requests for it", "first_requests", "n"), ("  answer to result on screen", "first_drawn", "ms"),
        ("  page ready to draw", "first_page_ready", "ms"), ("original on screen", "original", "ms"),
        ("visible progress", "progress", "ms"), ("move, right after", "moves_cold", "ms"),
        ("  moves prefetched / asked", "moves_cold_split", "split"),
        ("  palette prefetched", "moves_cold_prefetched", "ms"),
        ("  palette asked", "moves_cold_asked", "ms"),
        ("  asked: palette came", "moves_cold_parts.arrived", "ms"),
        ("  asked: server, found then", "moves_cold_parts.server", "ms"),
        ("  asked: drawing (worker)", "moves_cold_parts.drawing", "ms"),
        ("move, ladder done", "moves_warm", "ms"), ("drag: k painted of 63", "drag_painted", "n"),
        ("drag: release to 64", "drag_release", "ms"), ("dithering on", "dither", "ms"),
        ("color space to lab, no rest", "space_no_rest", "ms"),
        ("  lab palette in to result on screen", "space_no_rest_palette", "ms"),
        ("  of which drawing (worker)", "space_no_rest_render", "ms"),
        ("  lab palettes early / visits", "space_no_rest_early", "count"), ("color space to lab, 1 s rest", "space", "ms"),
        ("server CPU/move, right after", "cpu_per_move_cold", "ms"),
        ("server CPU/move, ladder done", "cpu_per_move_warm", "ms"),
        ("ladder 2..64 complete", "ladder_s", "s"), ("ladder CPU", "ladder_cpu_s", "s"),
    ]
    names = [design.name for design, _ in designs]
    for photo in dict.fromkeys(p for p, _ in results):
        columns = [results[(photo, name)] for name in names]
        others = names[1:]
        print(f"\n{photo}   (p50 / p95, ms unless noted; ratio = p50 of each other design / live p50)")
        print(f"{'':<30} " + " ".join(f"{name:>14}" for name in names) + " " + " ".join(f"{'÷ ' + n[:7]:>9}" for n in others))
        for label, attribute, unit in rows:
            if unit == "count":  # how many visits it was true of, of those measured
                cells = [f"{sum(getattr(f, attribute)):.0f} / {len(getattr(f, attribute))}" for f in columns]
                print(f"{label:<30} " + " ".join(f"{c:>14}" for c in cells))
                continue
            if unit == "split":
                cells = [f"{len(f.moves_cold_prefetched)} / {len(f.moves_cold_asked)}" if f.moves_cold_asked
                         or f.moves_cold_prefetched else "–" for f in columns]
                print(f"{label:<30} " + " ".join(f"{c:>14}" for c in cells))
                continue
            values = [attrgetter(attribute)(f) for f in columns]
            ratios = []
            for other in values[1:]:
                ratio = ""
                if unit != "n" and values[0] and other and statistics.median(values[0]) > 0:
                    ratio = f"{statistics.median(other) / statistics.median(values[0]):.2f}x"
                ratios.append(ratio)
            print(f"{label:<30} " + " ".join(f"{cell(v, unit):>14}" for v in values) + " "
                  + " ".join(f"{r:>9}" for r in ratios))
    print(f"\nmoves: {len(KS)} right after the first result (prefetched: its palette was on the page before the move;"
          f"\nasked: the page asked for it as the slider moved), the same {len(KS)} again once the live ladder is complete"
          f"\n(previous: {len(KS)} other k values it had not visited); color space with no rest: the select changed"
          f"\nthe moment the first result is on screen, then back to rgb before the moves;"
          f"\nfirst result, original and progress: {args.repeat} visits per photo and design, each to a fresh gunicorn"
          f"\n(README defaults: one worker, 4 threads). {time.perf_counter() - began:.0f} s in all.")


if __name__ == "__main__":
    main()
