"""A palette found ahead: the first result's k in CIELAB, begun beside the first result itself.

The page shows a photo's first result in RGB, and the next thing people
change is often the color space. A CIELAB palette takes the server about
five times an RGB one at 12 MP (370 ms against 75), so it is begun on the
second core while the first result is made, rather than when the page asks.
It is the palette /api/palettes and /api/quantize would find (the same call,
kept in the photo's FitCache, which hands it to whoever asks for it).

It gives way (app/fits.py, FitCache.start_ahead): it stops at its next step
once someone waits for any other palette of the photo, or another photo's
palette ahead starts. Its memory is held under the budget like a request's
work on a histogram, and only when that fits now: a palette no one asked
for yet never waits for room, nor makes a cache give way.
"""

from __future__ import annotations

from flask import current_app

from app import budget, quantize
from app.photos import Photo

# The color space fetched ahead: the page's ladder asks for it first too (static/js/ladder.js).
AHEAD_SPACE = "lab"


def start(photo: Photo, k: int, beside: str) -> bool:
    """Begin the palette of k in AHEAD_SPACE on its own thread, beside the request's fit of k in beside.

    Returns whether it began: not when it is found already, a fit ahead runs on this photo,
    the request is in AHEAD_SPACE itself, no cache keeps the photo, or its memory does not fit now."""
    if beside == AHEAD_SPACE or photo.token is None or photo.fits.get((k, AHEAD_SPACE)) is not None:
        return False  # no later request could find it, or it is here
    memory: budget.Budget = current_app.extensions["memory_budget"]
    needed = budget.histogram_request_bytes(photo.hist.unique_colors)
    if not memory.try_hold(needed):
        return False
    photo_cache = current_app.extensions["photo_cache"]
    hist = photo.hist

    def finished() -> None:
        memory.release(needed)
        photo_cache.recount(photo.token, photo.nbytes)  # the entry grew by the palette

    def find(cancelled) -> quantize.PaletteFit:
        return quantize.find_palette(hist, k, AHEAD_SPACE, cancelled=cancelled, measure_delta_e=False)

    started = photo.fits.start_ahead((k, AHEAD_SPACE), find, beside=((k, beside),), finished=finished)
    if started is None:
        memory.release(needed)
    return started is not None
