"""Work for the slider made ahead, while no palette of the photo is being found or waited for: its RGB palettes
then find it made.

Every RGB palette of a photo reads things that do not depend on its k alone:
its fine bins and the first k seeds of the k-means++ chains kept for the photo
(clustering.rgb_ahead). Made on first need, they cost a jump to a k the page
has not asked for before 2-5 ms (kodim23 at k = 17, 24, 32, 48, 64), where
most of the slowest jumps are. Once a photo's first RGB palette is answered,
one thread of the worker makes them for the k on either side of it (a few ms:
where a drag starts); once another is found and answered (app/ladder.py: not
while the page draws its first result), for the whole slider
(k = 2..max_k), in small steps, and stops at the step in hand as soon as a
k-means runs on that photo or someone waits for one (it looks before each step);
the next answer lets it go on.
What it adds to the histogram is what the slider's palettes k = 2..max_k would
(the same bytes: 8.3 MB for kodim23, 30.6 MB for the Olympus 12 MP photo,
within the CACHED_BYTES_PER_COLOR the photo cache counts), and it holds no photo
beyond its cache entry: one photo waits for the thread at most (the latest asked),
held weakly, as is the one it works on between two steps. They are the values palette() would
make (same keys, same draws), so every palette stays the same, and they are
kept with the photo's histogram, as palette() keeps them.
"""

from __future__ import annotations

import logging
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

from app import clustering, histograms
from app.fits import FitCache

# One thread for the worker, beside the requests: not in the k-means pool (app/parallel.py), whose
# threads a palette someone waits for needs at once.
_thread = ThreadPoolExecutor(1, thread_name_prefix="kmeans-ahead")
log = logging.getLogger("kmeans_filter.ahead")
_lock = threading.Lock()
_next: tuple | None = None  # (weak histogram, weak fits, max_k, nearest): the one photo waiting for the thread


def make_ahead(hist: histograms.Histogram, fits: FitCache, max_k: int, around: int, nearest: int | None = None) -> None:
    """Go on with the photo's work ahead for k up to max_k, nearest `around` (the first k it was started for) first,
    in the background while its fits are not busy, unless it is done; with `nearest`, for that many k only, for
    now. It takes the place of a photo still waiting."""
    global _next
    state = hist.reuse(("ahead", "rgb", max_k), dict)
    if state.get("done"):
        return
    state.setdefault("around", around)
    with _lock:
        waiting = _next is not None
        _next = (weakref.ref(hist), weakref.ref(fits), max_k, nearest)
    if not waiting:
        _thread.submit(_go_on).add_done_callback(_said)


def waiting() -> int:
    """Photos waiting for the thread (0 or 1)."""
    return int(_next is not None)


def _said(done: Future) -> None:
    """No one waits on this work: an error in it is logged here, or it would pass unseen."""
    if done.exception() is not None:
        log.error("work ahead failed", exc_info=done.exception())


def _go_on() -> None:
    global _next
    with _lock:
        (hist_ref, fits_ref, max_k, nearest), _next = _next, None
    hist = hist_ref()
    if hist is None:  # the photo left the cache meanwhile
        return
    state = hist.reuse(("ahead", "rgb", max_k), dict)
    ks = clustering.rgb_ahead_ks(max_k, hist.unique_colors, state["around"])[:nearest]
    del hist
    # Steps already made cost a lookup each: starting again from the first is cheaper than keeping a generator.
    # Between steps only weak references are held, so a photo that leaves the cache is let go (and the work ends),
    # and each step starts only while no k-means runs on the photo and no one waits for one. BLAS is on one
    # thread for the whole process (libraries.one_blas_thread), as for the palettes that read these seeds.
    for k in ks:
        step = 0
        while True:
            hist, fits = hist_ref(), fits_ref()
            if hist is None or fits is None or fits.busy:
                return
            more = clustering.rgb_ahead_step(hist, k, step)
            del hist, fits
            if not more:
                break
            step += 1
    if nearest is None:
        state["done"] = True
