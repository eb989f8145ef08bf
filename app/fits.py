"""The palettes already found for one photo, so a k is clustered once per color space.

A photo's entry in the cache holds one FitCache. POST /api/palettes fills it
k after k, and POST /api/quantize by image_id takes its palette from it, so
the two can never disagree. It is bounded by a count and by bytes; the
oldest fits go first.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np

from app.summary import PaletteFit

# Room for the slider's whole ladder (k = 2..64) in all three color spaces.
MAX_FITS = 3 * 63
# A fit keeps one label byte per distinct color: at most 16.7 MB for a photo with every color.
MAX_FIT_BYTES = 64 * 2**20

FitKey = tuple[int, str]  # (k, color_space)


def fit_nbytes(fit: PaletteFit) -> int:
    return fit.labels.nbytes + fit.palette.nbytes + fit.shares.nbytes + 128


class FitCache:
    """k-means fits of one photo by (k, color_space), oldest dropped first."""

    def __init__(self, max_fits: int = MAX_FITS, max_bytes: int = MAX_FIT_BYTES):
        self.max_fits = max_fits
        self.max_bytes = max_bytes
        self._fits: OrderedDict[FitKey, PaletteFit] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Fits in progress (or about to begin: expect) that say their palette once it is chosen (get_or_make with
        # announce), and those palettes (k rows each, dropped as the fit lands or fails): for early_palette's waiters.
        self._announcing: Counter[FitKey] = Counter()
        self._expected = False  # a fit begun for an early waiter (background_fits.find_early) has not ended: one at a time
        self._chosen: dict[FitKey, np.ndarray] = {}
        self._changed = threading.Condition(self._lock)
        self._waiting: Counter[FitKey] = Counter()  # fits someone is waiting for on this photo, not found yet
        # One k-means at a time per photo: two at once only slow each other down (the GIL, two
        # cores at most), and a request someone waits for then starts as soon as the k in hand is done.
        self._work = threading.Lock()

    @contextmanager
    def foreground(self, key: FitKey) -> Iterator[None]:
        """Mark the fit of key as waited for: background work on this photo yields to it (wanted_instead_of, busy)."""
        with self._lock:
            self._waiting[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key]

    @property
    def busy(self) -> bool:
        """A k-means runs on this photo, or someone waits for one: work that can wait (app/ahead.py) should."""
        return self._work.locked() or bool(self._waiting)

    def wanted_instead_of(self, key: FitKey) -> bool:
        """Someone waits for a fit other than key: background work on key should stop at its next step.

        One waiting for key itself is better served by letting that work finish."""
        with self._lock:
            return any(waited != key for waited in self._waiting)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._fits)

    def get(self, key: FitKey) -> PaletteFit | None:
        with self._lock:
            fit = self._fits.get(key)
            if fit is not None:
                self._fits.move_to_end(key)
            return fit

    def put(self, key: FitKey, fit: PaletteFit) -> None:
        size = fit_nbytes(fit)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._fits:
                return
            while self._fits and (len(self._fits) >= self.max_fits or self._bytes + size > self.max_bytes):
                _, dropped = self._fits.popitem(last=False)
                self._bytes -= fit_nbytes(dropped)
            self._fits[key] = fit
            self._bytes += size
            self._changed.notify_all()  # an early waiter whose fit another request made

    def get_or_make(self, key: FitKey, make: Callable[..., PaletteFit], announce: bool = False
                    ) -> tuple[PaletteFit, bool]:
        """The fit for key, made when missing (one at a time for this photo); and whether it was kept.

        announce: make is called with a callable to tell the fit's final palette to as soon as it is known
        (early_palette answers it while the rest of the fit, the figures, is made)."""
        fit = self.get(key)
        if fit is not None:
            return fit, True
        with self._work:
            fit = self.get(key)  # made by another request while this one waited
            if fit is not None:
                return fit, True
            if not announce:
                fit = make()
                self.put(key, fit)
                return fit, False
            with self._lock:
                self._announcing[key] += 1
            try:
                fit = make(lambda palette: self._choose(key, palette))
                self.put(key, fit)
            finally:  # landed, failed or cancelled: no one waits on its palette any longer
                self._announced(key)
        return fit, False

    def expect(self, key: FitKey) -> bool:
        """Count key's fit as announcing before the thread that makes it gets there (background_fits.find_early), so that a
        waiter waits for it; False, nothing counted, when the fit is here, one announcing runs, or one expected for
        an early waiter has not ended (one at a time per photo). Each True is ended by unexpect."""
        with self._lock:
            if key in self._fits or self._announcing[key] or self._expected:
                return False
            self._announcing[key] += 1
            self._expected = True
            return True

    def unexpect(self, key: FitKey) -> None:
        with self._lock:
            self._expected = False
        self._announced(key)

    def _announced(self, key: FitKey) -> None:
        with self._lock:
            self._announcing[key] -= 1
            if self._announcing[key] <= 0:
                del self._announcing[key]
            self._chosen.pop(key, None)
            self._changed.notify_all()

    def _choose(self, key: FitKey, palette: np.ndarray) -> None:
        with self._lock:
            if self._announcing[key]:
                self._chosen[key] = np.unique(np.asarray(palette, dtype=np.uint8), axis=0)
                self._changed.notify_all()

    def early_palette(self, key: FitKey) -> np.ndarray | None:
        """The final palette of key's fit, as soon as the fit in progress on this photo has chosen it; None when
        no announcing fit of key runs (or it landed, failed or was cancelled meanwhile): then get_or_make.

        The palette's distinct colors, in no particular order: the fit's own is sorted by share, not known yet."""
        with self._lock:
            while True:
                if key in self._fits:
                    return None
                palette = self._chosen.get(key)
                if palette is not None or not self._announcing[key]:
                    return palette
                self._changed.wait()
