"""Work for the slider made ahead, while no one waits: a photo's RGB palettes then find it made.

Every RGB palette of a photo reads things that do not depend on its k alone:
its fine bins and the first k seeds of the k-means++ chains kept for the photo
(clustering.rgb_ahead). Made on first need, they cost a jump to a k the page
has not asked for before 2-5 ms (kodim23 at k = 17, 24, 32, 48, 64), where
most of the slowest jumps are. Once a palette of a photo is answered, one
thread of the worker makes them for the whole slider (k = 2..max_k) in small
steps, and stops at the step in hand as soon as someone waits for a palette of
that photo; the next answer lets it go on. They are the values palette() would
make (same keys, same draws), so every palette stays the same, and they are
kept with the photo's histogram, as palette() keeps them.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from app import clustering, histograms

# One thread for the worker, beside the requests: not in the k-means pool (app/parallel.py), whose
# threads a palette someone waits for needs at once. Photos' work ahead goes one photo at a time.
_thread = ThreadPoolExecutor(1, thread_name_prefix="kmeans-ahead")
log = logging.getLogger("kmeans_filter.ahead")


def make_ahead(hist: histograms.Histogram, max_k: int, around: int, someone_waits: Callable[[], bool]) -> None:
    """Go on with the photo's work ahead for k up to max_k, nearest `around` (the photo's first k asked) first,
    in the background, unless it is done or on its way."""
    state = hist.reuse(("ahead", "rgb", max_k), dict)
    if state.get("done") or state.get("queued"):
        return
    state["queued"] = True
    state.setdefault("around", around)
    _thread.submit(_go_on, hist, max_k, state, someone_waits).add_done_callback(_said)


def _said(done: Future) -> None:
    """No one waits on this work: an error in it is logged here, or it would pass unseen."""
    if done.exception() is not None:
        log.error("work ahead failed", exc_info=done.exception())


def _go_on(hist: histograms.Histogram, max_k: int, state: dict, someone_waits: Callable[[], bool]) -> None:
    state["queued"] = False
    # Steps already made cost a lookup each: starting again from the first is cheaper than keeping a generator,
    # which would hold the histogram beyond its cache entry. Not in libraries.single_threaded(): its limit is
    # the process's, and leaving it here would lift the one a palette begun meanwhile has set. The chains'
    # products give the same seeds whatever BLAS's threads (every corpus photo, k = 2..64, at 1 and 2).
    for _ in clustering.rgb_ahead(hist, max_k, state["around"]):
        if someone_waits():
            return
    state["done"] = True
