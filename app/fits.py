"""The palettes already found for one photo, so a k is clustered once per color space.

A photo's entry in the cache holds one FitCache. POST /api/palettes fills it
k after k, and POST /api/quantize by image_id takes its palette from it, so
the two can never disagree. It is bounded by a count and by bytes; the
oldest fits go first.

One fit may be found ahead (start_ahead): the page's first result is a
k in RGB, and the first thing people change next is the color space, whose
palette costs five times as much at 12 MP. That fit runs on a thread of its
own beside the first result's (the one exception to one k-means at a time),
and gives way: it stops at its next step as soon as someone waits for any
other palette of the photo, or another photo's fit ahead starts.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from app.quantize import Cancelled, PaletteFit

# Room for the slider's whole ladder (k = 2..64) in all three color spaces.
MAX_FITS = 3 * 63
# A fit keeps one label byte per distinct color: at most 16.7 MB for a photo with every color.
MAX_FIT_BYTES = 64 * 2**20

FitKey = tuple[int, str]  # (k, color_space)


def fit_nbytes(fit: PaletteFit) -> int:
    return fit.labels.nbytes + fit.palette.nbytes + fit.shares.nbytes + 128


@dataclass(eq=False)
class Ahead:
    """A fit found ahead, before anyone asks for it (FitCache.start_ahead)."""

    key: FitKey
    beside: frozenset[FitKey]  # palettes waited for that it does not give way to (the one made beside it)
    done: threading.Event = field(default_factory=threading.Event)
    superseded: bool = False  # another photo's fit ahead started: this one stops at its next step
    fit: PaletteFit | None = None  # once done: None when it stopped or failed


# The one fit ahead in this process: a new one supersedes it (the user has gone on to another photo).
_latest_ahead: Ahead | None = None
_latest_lock = threading.Lock()


class FitCache:
    """k-means fits of one photo by (k, color_space), oldest dropped first."""

    def __init__(self, max_fits: int = MAX_FITS, max_bytes: int = MAX_FIT_BYTES):
        self.max_fits = max_fits
        self.max_bytes = max_bytes
        self._fits: OrderedDict[FitKey, PaletteFit] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._waiting: Counter[FitKey] = Counter()  # fits someone is waiting for on this photo, not found yet
        # One k-means at a time per photo: two at once only slow each other down (the GIL, two
        # cores at most), and a request someone waits for then starts as soon as the k in hand is done.
        self._work = threading.Lock()
        self._ahead: Ahead | None = None  # the fit being found ahead, if any

    @contextmanager
    def foreground(self, key: FitKey) -> Iterator[None]:
        """Mark the fit of key as waited for: background work on this photo yields to it (see wanted_now)."""
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
    def wanted_now(self) -> bool:
        """Someone waits for a fit of this photo: background work should not start another."""
        return bool(self._waiting)

    def wanted_instead_of(self, key: FitKey) -> bool:
        """Someone waits for a fit other than key: background work on key should stop at its next step.

        One waiting for key itself is better served by letting that work finish."""
        with self._lock:
            return any(waited != key for waited in self._waiting)

    def start_ahead(self, key: FitKey, make: Callable[[Callable[[], bool]], PaletteFit],
                    beside: tuple[FitKey, ...] = (), finished: Callable[[], None] = lambda: None) -> Ahead | None:
        """Find the fit of key on a thread of its own, now, unless it is here or a fit ahead already runs.

        make(cancelled) finds it, asking cancelled() between its steps (quantize.find_palette's cancelled).
        It stops, and nothing is kept, once someone waits for a palette of this photo other than key
        and those in beside, or another fit ahead starts. finished() runs on that thread when it ends,
        whatever happened, before anyone waiting for it goes on. The Ahead it runs as; None if not started.
        """
        global _latest_ahead
        with self._lock:
            if key in self._fits or self._ahead is not None:
                return None
            ahead = self._ahead = Ahead(key, frozenset(beside))
        with _latest_lock:
            if _latest_ahead is not None:
                _latest_ahead.superseded = True
            _latest_ahead = ahead
        threading.Thread(target=self._find_ahead, args=(ahead, make, finished), name="fit-ahead", daemon=True).start()
        return ahead

    def _find_ahead(self, ahead: Ahead, make: Callable[[Callable[[], bool]], PaletteFit],
                    finished: Callable[[], None]) -> None:
        global _latest_ahead
        try:
            fit = make(lambda: self._gives_way(ahead))
            self.put(ahead.key, fit)
            ahead.fit = fit
        except Cancelled:
            pass
        except Exception:  # noqa: BLE001 - a fit no one asked for yet: whoever asks finds it again and sees the error
            pass
        finally:
            with self._lock:
                self._ahead = None
            with _latest_lock:
                if _latest_ahead is ahead:
                    _latest_ahead = None
            try:
                finished()
            finally:
                ahead.done.set()

    def _gives_way(self, ahead: Ahead) -> bool:
        """Whether the fit ahead should stop: superseded, or someone waits for a palette it does not serve."""
        if ahead.superseded:
            return True
        with self._lock:
            return any(waited != ahead.key and waited not in ahead.beside for waited in self._waiting)

    def _found_ahead(self, key: FitKey) -> PaletteFit | None:
        """The fit of key, once the fit ahead that is finding it ends; None when none is, or it stopped."""
        with self._lock:
            ahead = self._ahead
        if ahead is None or ahead.key != key:
            return None
        ahead.done.wait()
        return ahead.fit

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

    def get_or_make(self, key: FitKey, make: Callable[[], PaletteFit]) -> tuple[PaletteFit, bool]:
        """The fit for key, made when missing (one at a time for this photo); and whether it was kept."""
        fit = self.get(key)
        if fit is not None:
            return fit, True
        fit = self._found_ahead(key)  # found ahead (and counted by it): kept
        if fit is not None:
            return fit, True
        with self._work:
            fit = self.get(key)  # made by another request while this one waited
            if fit is not None:
                return fit, True
            fit = make()
            self.put(key, fit)
        return fit, False
