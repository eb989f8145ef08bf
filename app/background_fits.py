"""Palettes found as work nobody waits for: the page's background batches, and the fits begun for someone
waiting for an early palette (POST /api/palettes with early=1, app/ladder.py).

Both say their palette as soon as it is chosen (FitCache.get_or_make with
announce), so a request waiting early answers it while the fit goes on to
assign every color and measure; and both give way to any other palette of
the photo someone waits for.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from app import budget, cancel, parallel, quantize, summary
from app.fits import FitCache, FitKey
from app.histograms import Histogram

log = logging.getLogger("kmeans_filter.background_fits")
# Early fits running at once, over every photo: each goes on after its waiter is answered, outside gunicorn's
# threads, so their number is bounded here as the requests' is there (a waiter finds its palette itself beyond).
_early_fits = threading.BoundedSemaphore(parallel.workers())


def background_fit(hist: Histogram, fits: FitCache, key: FitKey, delta_e: bool = False
                   ) -> tuple[summary.PaletteFit, bool]:
    """The fit of key as work nobody waits for (and whether it was kept): abandoned (cancel.Cancelled) once
    someone waits for another palette of the photo, which then gets the photo's k-means lock within a step,
    not after a whole k. Someone waiting for this very palette lets it finish; one who came first (the page
    asks for the palette it fetched ahead when the user picks it) lets it start: it is the very work they
    wait for, and giving way would throw away what it has done."""
    if fits.wanted_instead_of(key):
        raise cancel.Cancelled()
    k, color_space = key
    return fits.get_or_make(key, lambda chosen: quantize.find_palette(
        hist, k, color_space, cancelled=lambda: fits.wanted_instead_of(key), measure_delta_e=delta_e,
        chosen=chosen), announce=True)


def find_early(hist: Histogram, fits: FitCache, key: FitKey, memory: budget.Budget, count: Callable[[], None]) -> None:
    """Begin the fit of key on a thread of its own for someone waiting for its palette early, unless one runs or is
    expected for the photo (FitCache.expect: one at a time per photo), as many run over every photo as there are
    cores, or the memory budget has no room for it at once: as background work (background_fit). The waiter,
    answered once the palette is chosen, goes; the fit goes on to its figures, and count() counts it in the photo's
    cache entry.
    The thread holds the photo's histogram while its fit runs, no longer."""
    if not _early_fits.acquire(blocking=False):
        return
    needed = budget.histogram_request_bytes(hist.unique_colors)
    if not memory.try_hold(needed):
        _early_fits.release()
        return
    if not fits.expect(key):
        memory.release(needed)
        _early_fits.release()
        return

    def end() -> None:
        fits.unexpect(key)
        memory.release(needed)
        _early_fits.release()

    def run() -> None:
        try:
            _, found_before = background_fit(hist, fits, key)
            if not found_before:
                count()
        except cancel.Cancelled:
            pass  # someone waits for another palette of the photo: the waiter finds this one itself
        except Exception:
            log.exception("early fit failed")
        finally:
            end()

    try:
        threading.Thread(target=run, name="kmeans-early", daemon=True).start()
    except RuntimeError:  # no thread to be had: nothing stays held, and the waiter finds the palette itself
        log.exception("no thread for an early fit")
        end()
