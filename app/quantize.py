"""The k-means engine: pure numpy and scikit-learn, no I/O and no Flask.

Packed pixel keys go in (the visible pixels); their histogram, a palette, a
label for every distinct color and figures of merit come out.

Why it is fast: k-means never sees the pixels one by one. A 12 MP photo
has a few hundred thousand distinct colors, and the weighted histogram of
those colors carries exactly the same information. The clustering runs on
that histogram (binned further for very colorful photos), a few exact
Lloyd steps on the full histogram polish the centers, and every pixel is
then mapped to its palette entry through a 2**24-entry lookup table.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from app import colorspace, lattice, parallel

T = TypeVar("T")

MIN_K = 2
MAX_K = 256
COLOR_SPACES = ("rgb", "oklab", "lab")
# Above this many distinct colors the clustering starts on the means of coarse RGB bins
# (COARSE_BITS per channel, finer until there are SEED_BINS_PER_CENTER bins a center), goes
# on with Lloyd steps on the means of fine bins (FINE_BITS per channel), and ends with
# EXACT_STEPS Lloyd steps over every color.
EXACT_POINTS_LIMIT = 1 << 12
COARSE_BITS = 5
SEED_BINS_PER_CENTER = 16
# ... but no more than SEED_BINS_MAX bins are asked for (k > 192): the seeding and coarse steps
# cost k times the bins, and a photo with 3,072-4,095 bins at 5 bits went to 6 bits (4x the bins)
# at k = 256 for 0.04-0.08 dB (flower.jpg 120 -> 67 ms; still +0.23 dB or more ahead of
# libimagequant). At 8 bins a center (2,048) kodim20 fell 0.27 dB behind it: not lower.
SEED_BINS_MAX = 3072
# Bits per channel (red, green, blue) of a bin; the finest coarse bins have MAX_COARSE_BITS a channel.
Bits = tuple[int, int, int]
MAX_COARSE_BITS = 7
# RGB's seeding bins get finer one channel at a time: of the channels with the fewest bits, the one
# whose extra bit splits the most occupied bins (5/5/5, then 5/5/6 on a photo of blue gradients,
# 6/5/5 on one of reds, ...): about twice the bins a rung, so the coarsest with enough bins holds
# 1-2 times what k asks rather than 1-8. kodim07 at k = 256 seeds on 4,271 bins at 6/5/5 instead of
# 11,206 at 6/6/6 (and ends 0.02 dB better); kodim20 on 3,368 at 5/5/6 (-0.08 dB, still +0.28 ahead
# of libimagequant). A fixed order (green, red, blue) put kodim20 at 5/6/5 and 0.18 dB behind it.
# The perceptual spaces' bins keep getting finer a bit on every channel at once.
FINE_BITS: Bits = (6, 6, 6)
# ... but RGB's fine bins at small k are the coarsest with FINE_BINS_PER_CENTER bins a center, when
# those are coarser (up to k = 8 often the seeding bins themselves): at k = 2-16 the 6-bit bins bought
# 0.001 dB on the corpus's mean (at most 0.015 on a photo) for 15-25% of the palette's time at k <= 8.
FINE_BINS_PER_CENTER = 512
COARSE_STEPS = 10
FINE_STEPS = 6
# Above FINE_STEPS_FEWER_ABOVE_K colors, FINE_STEPS_LARGE_K steps: at k = 64-256 the last three
# bought 0.00-0.04 dB on the corpus (still ahead of libimagequant in every cell without them) and
# cost a third of the fine phase; at k = 24 they are needed (cam_xiaomi 12 MP would tie).
FINE_STEPS_FEWER_ABOVE_K = 32
FINE_STEPS_LARGE_K = 3
EXACT_STEPS = 1
MBK_BATCH = 4096
MBK_ITER = 20
# k-means++ starts that compete, by k: (up to k, starts); one above. Measured on the corpus
# (every photo, k = 2..64, 128, 256; final PSNR of each start): at small k a start is cheap and
# one unlucky start costs most; above 64 one start is within 0.01 dB of three.
STARTS = ((8, 5), (16, 4), (32, 3), (64, 2))
# Trials a k-means++ step (scikit-learn uses 2 + log k): fixed, so that a chain of seeds serves every k.
SEED_TRIALS = 6
# MiniBatchKMeans (from the k-means++ seeds it would draw itself, MBK_EPOCHS passes over the coarse
# points) competes for k in MBK_KS, where it is the better one: added to the three starts there it
# raised the corpus's mean PSNR by 0.009 dB, where a fourth start raised it by 0.005. At other k one
# more start bought as much or more (k = 9-16: 0.009 against 0.004; 33-64: 0.011 against 0.006) for
# a third of its time. After its passes it goes on with COARSE_STEPS Lloyd steps like the others:
# 5 passes instead of 20 changed its result by under 0.01%.
MBK_KS = (17, 32)
MBK_EPOCHS = 5
# The palettes that compete under CIEDE2000 (color_space lab and oklab) keep the earlier policy:
# three k-means++ starts up to k = 32, one above, and MiniBatchKMeans seeding itself up to 64.
# The mean CIEDE2000 of each corpus photo and k was measured with it; the RGB policy above moves
# it by up to 0.07 either way, and lab must not get worse in any cell.
PERCEPTUAL_STARTS, PERCEPTUAL_STARTS_UP_TO_K = 3, 32
PERCEPTUAL_MBK_MAX_K = 64
# The perceptual spaces cluster, choose and refine up to this many colors themselves (their
# smooth photos lose most to binning); above, on at least PERCEPTUAL_BINS coarse bins, and
# PERCEPTUAL_BINS_PER_CENTER a palette entry (at large k the choice needs finer bins).
PERCEPTUAL_EXACT_LIMIT = 1 << 16
PERCEPTUAL_BINS = 1 << 12
PERCEPTUAL_BINS_PER_CENTER = 64
PERCEPTUAL_STEPS = 4
# Then up to MEDIAN_STEPS Weiszfeld steps (_perceptual_steps with median); a color within MEDIAN_MIN_DIFFERENCE
# of its entry pulls as if it were that far (its pull would grow without bound).
MEDIAN_STEPS = 8
MEDIAN_MIN_DIFFERENCE = 1e-3
# The median steps are kept without a check over every color when they lower the mean CIEDE2000 on
# the fine bins by this share or more, and those are MEDIAN_CHECK_FINER times as many as the coarse
# bins or more (_judging_bins).
MEDIAN_SURE_GAIN = 0.005
MEDIAN_CHECK_FINER = 4
LATTICE_FEW_MAX_K = 64
# nearest_perceptual's colors a step: candidates and their CIEDE2000 stay in cache.
NEAREST_PERCEPTUAL_BLOCK = 16384
# The earlier clustering, kept as a competitor in the perceptual spaces (_classic_palette).
CLASSIC_BINS_PER_CENTER = 4
CLASSIC_STARTS, CLASSIC_STARTS_UP_TO_K = 3, 12
CLASSIC_LLOYD_ITER, CLASSIC_LLOYD_TOL = 30, 1e-4
CLASSIC_EXACT_STEPS = 2
# Lattice steps per unit of each space for the exact nearest-entry search (app/lattice.py).
LATTICE_SCALES = {"rgb": 1.0, "lab": 64.0, "oklab": 65536.0}
# What a photo's Histogram holds per distinct color once palettes have been found in every
# space, for cache accounting: key, count, RGB, CIELAB, float weight, three bin numbers (no longer
# kept: room for the means of the more sets of bins RGB asks for at small k), the
# lattices of three spaces and the RGB one's float32 rows (lattice.py), OKLab points, the weighted rows of RGB's exact Lloyd step (32 bytes:
# the slider's every palette takes that step), and allowances for the bins' means, weights and
# lattices (32 bytes a bin and space: photos have about three or more colors a fine bin,
# 12 MP ones ten, and a coarse bin holds several fine ones).
CACHED_BYTES_PER_COLOR = (4 + 8 + 3 + 12 + 8 + 3 * 4 + 3 * lattice.Lattice.BYTES_PER_POINT + lattice.Lattice.BYTE_ROWS_PER_POINT
                          + 12 + 3 * 11 + 3 * 4 + 32)
# measure_map sums the error over blocks of about this many pixels.
MEASURE_BLOCK_PIXELS = 1 << 20

# scikit-learn and scipy.spatial take 1-2 s to import, more than the whole job on a 12 MP photo,
# and only some palettes need them: they are imported when first needed. The server imports
# them when it creates the app (preload), so no request pays; the command line starts the
# import in a thread (preload_in_background) while it decodes the photo and counts its colors.
_preloading: threading.Thread | None = None


def preload() -> None:
    """Import the libraries that some palettes need, now rather than during a request."""
    import scipy.spatial  # noqa: F401
    import sklearn.cluster  # noqa: F401


def preload_in_background() -> None:
    """Start preload() in a thread; the engine waits for it before it uses those libraries."""
    global _preloading
    if _preloading is None:
        _preloading = threading.Thread(target=preload, name="preload", daemon=True)
        _preloading.start()


class Cancelled(Exception):
    """find_palette stopped early: its caller's cancelled() said the palette is no longer wanted."""


# The cancelled() of the find_palette running on this thread, checked between steps (Lloyd steps,
# starts, candidate palettes). A thread-local rather than an argument of every helper.
_cancel_check = threading.local()


class _Latched:
    """A cancelled() asked by several threads of one find_palette: one at a time, and never again once it said True."""

    def __init__(self, cancelled: Callable[[], bool]):
        self._cancelled = cancelled
        self._lock = threading.Lock()
        self._said = False

    def __call__(self) -> bool:
        with self._lock:
            self._said = self._said or bool(self._cancelled())
            return self._said


def _cancellable(cancelled: Callable[[], bool] | None):
    if cancelled is not None and not isinstance(cancelled, _Latched):
        cancelled = _Latched(cancelled)
    return parallel.thread_value(_cancel_check, "cancelled", cancelled)


def _check_cancelled() -> None:
    cancelled = getattr(_cancel_check, "cancelled", None)
    if cancelled is not None and cancelled():
        raise Cancelled()


def sklearn_cluster():
    """sklearn.cluster, once any import started in the background has finished."""
    if _preloading is not None:
        _preloading.join()
    import sklearn.cluster

    return sklearn.cluster


_threadpools: tuple[tuple[bool, ...], ThreadpoolController] | None = None


def single_threaded():
    """A context in which BLAS and OpenMP run on one thread: small fits lose more to their threads than they gain.

    threadpoolctl finds the loaded libraries by reading the process's maps,
    about 1 ms a call: the controller is made once, and again when
    scikit-learn or scipy (which bring their own libraries) have been
    imported since.
    """
    global _threadpools
    loaded = tuple(name in sys.modules for name in ("sklearn.cluster", "scipy.spatial"))
    if _threadpools is None or _threadpools[0] != loaded:
        _threadpools = (loaded, ThreadpoolController())
    return _threadpools[1].limit(limits=1)


def _kd_tree(points: np.ndarray):
    if _preloading is not None:
        _preloading.join()
    from scipy.spatial import cKDTree

    return cKDTree(points)


@dataclass(frozen=True)
class Histogram:
    """The distinct visible colors of an image and how often each occurs."""

    keys: np.ndarray  # (n,) uint32 packed 0xRRGGBB, ascending
    counts: np.ndarray  # (n,) int64
    # What every palette for this photo reuses (points of each space, lattices, coarse bins).
    # Filled on first use, small beside the pixels; two threads filling one entry at once
    # compute the same value.
    _work: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def colors(self) -> np.ndarray:
        return unpack(self.keys)

    @cached_property
    def weights(self) -> np.ndarray:
        return self.counts.astype(np.float64)

    def reuse(self, key: tuple, make):
        """The per-photo value under key, made once."""
        value = self._work.get(key)
        if value is None:
            value = self._work[key] = make()
        return value

    def points(self, color_space: str) -> np.ndarray:
        """The colors as points of a clustering space (float32 in the perceptual ones)."""
        if color_space == "rgb":
            return self.colors
        if color_space == "lab":
            return self.lab
        return self.reuse(("points", color_space), lambda: colorspace.SPACES[color_space].from_srgb(self.colors).astype(np.float32))

    def lattice(self, color_space: str) -> lattice.Lattice:
        return self.reuse(("lattice", color_space),
                          lambda: lattice.Lattice.of(self.points(color_space), LATTICE_SCALES[color_space]))

    @property
    def work_bytes(self) -> int:
        """Bytes held by the per-photo work cache and cached copies."""
        total = sum(getattr(v, "nbytes", 0) for v in self._work.values())
        total += sum(getattr(a, "nbytes", 0) for v in self._work.values() if isinstance(v, tuple) for a in v)
        return total + sum(self.__dict__[name].nbytes for name in ("colors", "lab", "weights") if name in self.__dict__)

    @cached_property
    def lab(self) -> np.ndarray:
        """The colors in CIELAB, kept for every CIEDE2000 measured on this photo.

        float32 halves the time CIEDE2000 takes; its error is far below 0.001.
        """
        return colorspace.srgb_to_lab(self.colors).astype(np.float32)

    @property
    def unique_colors(self) -> int:
        return len(self.keys)

    @property
    def pixels(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True, init=False)
class PaletteFit:
    """A palette sorted by share, and the palette entry of every histogram color.

    delta_e, the mean CIEDE2000 over visible pixels, is either given or
    measured the first time it is read (measure_delta_e): the slider draws
    from a palette alone, and at 12 MP the figure costs a third of an RGB
    palette. Measured now or later, it is the same number (mean_delta_e).
    """

    palette: np.ndarray  # (m,) uint8 RGB rows, m <= k
    shares: np.ndarray  # (m,) float, fraction of visible pixels, descending
    labels: np.ndarray  # (n,) palette index of each histogram color
    psnr: float  # inf when the result is identical to the original

    def __init__(self, palette: np.ndarray, shares: np.ndarray, labels: np.ndarray, psnr: float,
                 delta_e: float | None = None, measure_delta_e: Callable[[], float] | None = None):
        if (delta_e is None) == (measure_delta_e is None):
            raise ValueError("give either delta_e or measure_delta_e")
        for name, value in (("palette", palette), ("shares", shares), ("labels", labels), ("psnr", psnr),
                            ("_delta_e", delta_e), ("_measure_delta_e", measure_delta_e)):
            object.__setattr__(self, name, value)

    @property
    def delta_e(self) -> float:
        """Mean CIEDE2000 over visible pixels, measured on first reading when the fit was made without it."""
        value = self._delta_e
        if value is None:
            # Two threads reading at once both measure, and get the same number.
            value = self._measure_delta_e()
            object.__setattr__(self, "_delta_e", value)
        return value

    @property
    def delta_e_measured(self) -> bool:
        """Whether reading delta_e costs nothing now."""
        return self._delta_e is not None

    def hex_codes(self) -> list[str]:
        return ["#%02x%02x%02x" % tuple(int(v) for v in row) for row in self.palette]


def pack(rgb: np.ndarray) -> np.ndarray:
    """Pack (..., 3) uint8 colors into uint32 keys 0xRRGGBB, flattened."""
    flat = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 3)
    padded = np.zeros((len(flat), 4), np.uint8)
    # Little-endian uint32 of bytes (B, G, R, 0) is 0x00RRGGBB.
    padded[:, 0], padded[:, 1], padded[:, 2] = flat[:, 2], flat[:, 1], flat[:, 0]
    return padded.view("<u4").ravel()


def unpack(keys: np.ndarray) -> np.ndarray:
    """Unpack uint32 keys 0xRRGGBB into (n, 3) uint8 colors."""
    keys = np.asarray(keys, dtype=np.uint32)
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)


def histogram(keys: np.ndarray) -> Histogram:
    """Count the distinct colors among packed pixel keys.

    By sorting: 5 bytes a pixel at the peak, where a count table of every
    possible color is 128 MB whatever the photo. Each core sorts and counts
    its own share of the pixels (numpy lets go of the GIL while it sorts);
    the shares' histograms, a few hundred thousand colors each, are merged.
    """
    keys = np.asarray(keys, dtype=np.uint32)
    shares = parallel.map_ranges(len(keys), lambda first, last: _sorted_counts(keys[first:last]))
    if len(shares) == 1:
        present, counts = shares[0]
    else:
        present, counts = _sorted_counts(np.concatenate([p for p, _ in shares]),
                                         np.concatenate([c for _, c in shares]))
    return Histogram(keys=present, counts=counts)


def _sorted_counts(keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, ascending, and how often each occurs (or the sum of its weights)."""
    if weights is None:
        ordered = np.sort(keys)
    else:
        order = np.argsort(keys, kind="stable")
        ordered, weights = keys[order], weights[order]
    if not len(ordered):
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    change = np.empty(len(ordered), dtype=bool)
    change[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    del change
    if weights is None:
        counts = np.diff(starts, append=len(ordered))
    else:
        counts = np.add.reduceat(weights, starts)
    return ordered[starts], counts.astype(np.int64)


def _minibatch_competes(k: int) -> bool:
    """Whether MiniBatchKMeans competes with the starts at this k in RGB (MBK_KS)."""
    return MBK_KS[0] <= k <= MBK_KS[1]


def needs_scikit_learn(k: int, color_space: str) -> bool:
    """Whether find_palette runs scikit-learn's clustering for this k and color space: in RGB where
    MiniBatchKMeans competes (MBK_KS); the perceptual spaces' classic palette at any k."""
    return color_space != "rgb" or _minibatch_competes(k)


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be an integer between {MIN_K} and {MAX_K}, got {k!r}")


def find_palette(hist: Histogram, k: int, color_space: str = "rgb", seed: int = 0,
                 cancelled: Callable[[], bool] | None = None, measure_delta_e: bool = True) -> PaletteFit:
    """Find at most k colors that best represent the histogram, by k-means.

    With k or fewer distinct colors present, the image is returned unchanged:
    the palette is its own colors. cancelled, when given, is asked between
    steps: once it answers True, Cancelled is raised (a palette no one waits for).
    measure_delta_e=False: in RGB, the mean CIEDE2000 is measured only when the
    fit's delta_e is first read (a palette only to draw with never pays for it);
    the perceptual spaces measure it anyway, to choose their palette.
    """
    check_k(k)
    if color_space not in COLOR_SPACES:
        raise ValueError(f"color_space must be one of {', '.join(COLOR_SPACES)}, got {color_space!r}")
    if hist.unique_colors == 0:
        raise ValueError("the image has no visible pixels to take colors from")
    colors = hist.colors
    if hist.unique_colors <= k:
        return summarize(hist, colors, np.arange(hist.unique_colors), measure_delta_e=measure_delta_e)
    with single_threaded(), _cancellable(cancelled):  # small fits: OpenMP and BLAS threads cost more than they give
        _check_cancelled()
        if color_space == "rgb":
            palette = _palette(hist, k, "rgb", seed)
            differences = measure = None
            if measure_delta_e:
                # Each core measures the CIEDE2000 of its part of the colors as soon as it has their
                # entries: one pass over the colors instead of two. (summarize only merges and
                # reorders entries of the same color, so the differences stay what they are.)
                differences = np.empty(hist.unique_colors, dtype=np.float32)
                measure = colorspace.differences_to_entries(hist.lab, colorspace.srgb_to_lab(palette), differences)
            found = lattice.nearest(hist.lattice("rgb"), palette, then=measure)
            _check_cancelled()
            return summarize(hist, palette, found.labels, differences, measure_delta_e=measure_delta_e,
                             squared_error=float(np.dot(found.squared_distances, hist.weights)))
        return _perceptual_fit(hist, k, color_space, seed)


def _perceptual_fit(hist: Histogram, k: int, color_space: str, seed: int) -> PaletteFit:
    """find_palette in lab and oklab: the palette with the lowest mean CIEDE2000 of three competitors.

    Cluster in that space, the earlier clustering (_classic_palette) and the
    RGB one: whichever gives the lower mean CIEDE2000 once every color takes
    its perceptually nearest entry is kept (at small k the RGB centers
    sometimes win; this way the perceptual option never does worse). The
    choice is made on the coarse histogram; only the winner is assigned
    color by color. The three are independent and run side by side on the
    cores, each on one thread.
    """
    bins = max(PERCEPTUAL_BINS, PERCEPTUAL_BINS_PER_CENTER * k)
    coarse_lab, coarse_weights, _ = _coarse(hist, "lab", bins, PERCEPTUAL_EXACT_LIMIT)
    coarse_lab = coarse_lab.astype(np.float32)
    # A photo's first palette in this space converts its colors and makes the lattices the competitors share
    # here, on every core, before they start side by side (each would otherwise make its own copy at once).
    hist.lattice(color_space), hist.lattice("rgb")
    competitors = (
        lambda: _palette(hist, k, color_space, seed, PERCEPTUAL_EXACT_LIMIT, perceptual=True),
        lambda: _classic_palette(hist, k, color_space, seed),
        lambda: _palette(hist, k, "rgb", seed, perceptual=True),
    )
    scored = parallel.side_by_side(*(_on_one_thread(lambda make=make: _perceptual_steps(coarse_lab, coarse_weights, make()))
                                     for make in competitors))
    palette = min(scored, key=lambda pair: pair[1])[0]
    _check_cancelled()
    # The median steps on the coarse bins, beside the palette's score on the fine bins that may judge them.
    fine = _judging_bins(hist, len(coarse_weights))
    (median, _), before = parallel.side_by_side(
        lambda: _perceptual_steps(coarse_lab, coarse_weights, palette, median=True),
        _on_one_thread(lambda: _total_difference(fine, palette) if fine is not None else None))
    _check_cancelled()
    # Every color is assigned to the median palette whatever the judging bins say, so both run at once.
    (labels, differences), after = parallel.side_by_side(
        lambda: nearest_perceptual(hist.lab, median, grid=hist.lattice("lab")),
        _on_one_thread(lambda: _total_difference(fine, median) if fine is not None and median is not palette else None))
    final = median
    if median is not palette and (after is None or after > before * (1 - MEDIAN_SURE_GAIN)):
        # Not sure from the bins: the median steps are kept only if they lower the mean CIEDE2000
        # over every color too, so the palette does no worse than without them.
        _check_cancelled()
        start_labels, start_differences = nearest_perceptual(hist.lab, palette, grid=hist.lattice("lab"))
        if np.dot(differences, hist.weights) >= np.dot(start_differences, hist.weights):
            final, labels, differences = palette, start_labels, start_differences
    _check_cancelled()
    return summarize(hist, final, labels, differences)


def _judging_bins(hist: Histogram, coarse_bins: int) -> tuple[np.ndarray, np.ndarray, lattice.Lattice] | None:
    """The fine bins in CIELAB that judge the median steps, when they are MEDIAN_CHECK_FINER times as many as
    the coarse bins the steps were taken on or more; None when every color must judge them.

    Where the median steps lower the mean CIEDE2000 on these bins by
    MEDIAN_SURE_GAIN or more, they are kept without assigning every color to
    both palettes (a third of a 12 MP lab palette's time). The fine bins see
    the colors the coarse ones hide, so they judge the steps out of sample:
    on the corpus (k up to 64, lab and oklab) their gain was above the gain
    over every color by at most 0.0043, and every time it was 0.005 or more
    the gain over every color was 0.0018 or more.
    """
    if hist.unique_colors <= PERCEPTUAL_EXACT_LIMIT:
        return None
    fine = _bins(hist, "lab", FINE_BITS)
    return fine if len(fine[1]) >= MEDIAN_CHECK_FINER * coarse_bins else None


def _total_difference(bins: tuple[np.ndarray, np.ndarray, lattice.Lattice], palette: np.ndarray) -> float:
    """The weighted sum of CIEDE2000 of the bins to their perceptually nearest entries."""
    lab, weights, grid = bins
    return float(np.dot(nearest_perceptual(lab, palette, grid=grid)[1], weights))


def _on_one_thread(step: Callable[[], T]) -> Callable[[], T]:
    """step for parallel.side_by_side: its passes stay on the thread that runs it (parallel.one_part),
    and it is cancelled as the find_palette that started it is."""
    cancelled = getattr(_cancel_check, "cancelled", None)

    def run() -> T:
        with parallel.one_part(), _cancellable(cancelled):
            return step()

    return run


def _perceptual_steps(lab: np.ndarray, weights: np.ndarray, palette: np.ndarray,
                      median: bool = False) -> tuple[np.ndarray, float]:
    """Steps under the perceptual assignment, kept while they lower the weighted mean CIEDE2000.

    Each color takes the entry with the smallest CIEDE2000. Then each entry
    moves to the CIELAB mean of its colors (PERCEPTUAL_STEPS Lloyd steps): the
    clustering in a space of squared distances knows nothing of the metric
    the result is judged by. With median, to the mean weighted by weight /
    CIEDE2000 (MEDIAN_STEPS Weiszfeld steps): the mean CIEDE2000 is a mean of
    distances, not of squared ones, and the point that minimizes it for a
    group of colors is a median, not their mean. On the corpus the median
    steps lowered the mean CIEDE2000 at every k tried (china.jpg at k = 2:
    12.42 -> 12.26, below libimagequant's 12.39). The palette comes back
    as given when no step lowered it.
    """
    labels, differences = nearest_perceptual(lab, palette)
    score = float(np.dot(differences, weights))
    for _ in range(MEDIAN_STEPS if median else PERCEPTUAL_STEPS):
        _check_cancelled()
        pull = weights / np.maximum(differences.astype(np.float64), MEDIAN_MIN_DIFFERENCE) if median else weights
        means = weighted_means(lab, pull, labels, colorspace.srgb_to_lab(palette))
        moved = np.unique(colorspace.lab_to_srgb(means), axis=0)
        moved_labels, moved_differences = nearest_perceptual(lab, moved)
        moved_score = float(np.dot(moved_differences, weights))
        if moved_score >= score:
            break
        palette, labels, differences, score = moved, moved_labels, moved_differences, moved_score
    return palette, score


def _palette(hist: Histogram, k: int, color_space: str, seed: int, exact_limit: int = EXACT_POINTS_LIMIT,
             perceptual: bool = False) -> np.ndarray:
    """k-means in the given space: the palette in sRGB.

    Starts compete on coarse bins; the best one goes on with Lloyd steps on
    fine bins, then on every color, each point taking its nearest center.
    """
    space = colorspace.SPACES[color_space]
    seed_bins = min(SEED_BINS_PER_CENTER * k, SEED_BINS_MAX)
    by_channel = not perceptual
    coarse_points, coarse_weights, coarse_grid = _coarse(hist, color_space, seed_bins, exact_limit, by_channel)
    # The fine bins and the lattice first: they do not depend on the centers, and the command
    # line's import of scikit-learn (which _cluster may wait for) overlaps them.
    fine = _fine(hist, color_space, k if by_channel else None) if hist.unique_colors > exact_limit else None
    exact_grid = hist.lattice(color_space)
    coarse_key = (color_space, _coarse_bits(hist, seed_bins, exact_limit, by_channel))
    centers = _cluster(coarse_points, coarse_weights, coarse_grid, k, seed,
                       lambda key, make: hist.reuse((coarse_key, key), make), perceptual)
    if fine is not None:
        fine_points, fine_weights, fine_grid = fine
        steps = FINE_STEPS_LARGE_K if k > FINE_STEPS_FEWER_ABOVE_K else FINE_STEPS
        centers = lloyd(fine_grid, fine_points, fine_weights, centers, steps)
    # The RGB slider's palettes all take this step: its sums' weights are kept for the photo.
    rows = _rgb_rows(hist) if color_space == "rgb" else None
    return space.to_srgb(lloyd(exact_grid, hist.points(color_space), hist.weights, centers, EXACT_STEPS, rows))


def _rgb_rows(hist: Histogram) -> np.ndarray:
    """weighted_rows of the photo's colors in RGB, kept: every RGB palette's exact step sums them, and the bins' means."""
    return hist.reuse(("rows", "rgb"), lambda: weighted_rows(hist.colors, hist.weights))


def _classic_palette(hist: Histogram, k: int, color_space: str, seed: int) -> np.ndarray:
    """The engine's earlier clustering, a competitor in the perceptual spaces.

    MiniBatchKMeans, then scikit-learn's Lloyd iterations from its centers,
    on coarse bins (the colors themselves up to PERCEPTUAL_EXACT_LIMIT), and
    two Lloyd steps over every color. Under CIEDE2000 it still wins on some
    photos and k, mostly at large k, so it competes rather than goes.
    """
    points, weights, _ = _coarse(hist, color_space, CLASSIC_BINS_PER_CENTER * k, PERCEPTUAL_EXACT_LIMIT)
    points = points.astype(np.float64)
    n_clusters = min(k, len(points))
    cluster = sklearn_cluster()
    best = None
    for start in range(CLASSIC_STARTS if k <= CLASSIC_STARTS_UP_TO_K else 1):
        _check_cancelled()
        mbk = cluster.MiniBatchKMeans(n_clusters=n_clusters, batch_size=MBK_BATCH, max_iter=MBK_ITER, max_no_improvement=5,
                              random_state=seed + start).fit(points, sample_weight=weights)
        fit = cluster.KMeans(n_clusters=n_clusters, init=mbk.cluster_centers_, n_init=1, max_iter=CLASSIC_LLOYD_ITER,
                     tol=CLASSIC_LLOYD_TOL).fit(points, sample_weight=weights)
        if best is None or fit.inertia_ < best.inertia_:
            best = fit
    centers = lloyd(hist.lattice(color_space), hist.points(color_space), hist.weights, best.cluster_centers_,
                    CLASSIC_EXACT_STEPS)
    return colorspace.SPACES[color_space].to_srgb(centers)


def lloyd(grid: lattice.Lattice, points, weights, centers: np.ndarray, steps: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Up to `steps` weighted Lloyd steps, each point taking its nearest center on the lattice; stops when no label changes.

    rows: weighted_rows(points, weights), when the caller keeps them.
    """
    if rows is None:
        rows = weighted_rows(points, weights)
    search_rows = grid.search_rows() if steps > 1 else None
    labels = None
    for _ in range(steps):
        _check_cancelled()
        new_labels = lattice.nearest_labels(grid, grid.snap(centers), search_rows)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        centers = _lloyd_update(rows, labels, centers)
    return centers


def _lloyd_each(grid: lattice.Lattice, starting: list[np.ndarray], steps: int, rows: np.ndarray,
                search_rows: np.ndarray | None) -> list[np.ndarray]:
    """lloyd() from several starts of as many centers each, their steps taken together: one search and one update
    a step for all the starts not settled yet. Each start's centers come out as its own lloyd() gives them.
    search_rows: grid.search_rows(), which the caller keeps for its own search.

    (A start whose labels did not change is settled: lloyd() stops there. The update sums each start's
    points in the same order as lloyd() does, so every sum and center is the same float.)
    """
    centers = [np.array(start, dtype=np.float64) for start in starting]
    count = len(centers[0])
    repeated = np.tile(rows, len(centers))  # each start's rows one after the other: one bincount a row for all
    n = rows.shape[1]
    labels: list[np.ndarray | None] = [None] * len(centers)
    going = list(range(len(centers)))
    for _ in range(steps):
        _check_cancelled()
        found = lattice.nearest_each(grid, [grid.snap(centers[start]) for start in going], search_rows=search_rows)[0]
        moving = [(start, new) for start, new in zip(going, found)
                  if labels[start] is None or not np.array_equal(new, labels[start])]
        if not moving:
            break
        going = [start for start, _ in moving]
        grouped = np.concatenate([new + place * count for place, (_, new) in enumerate(moving)])
        settling = np.concatenate([centers[start] for start in going])
        moved = _lloyd_update(repeated[:, : len(moving) * n], grouped, settling)
        for place, (start, new) in enumerate(moving):
            labels[start] = new
            centers[start] = moved[place * count:(place + 1) * count]
    return centers


def _lloyd_update(rows: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Each center moved to the weighted mean of its points (rows: weighted_rows); one left without points stays put.

    The sums and quotients of _row_means, without its stack and error state (a coarse step is a tenth of a ms).
    """
    groups = len(centers)
    total = np.bincount(labels, weights=rows[0], minlength=groups)
    sums = np.empty((groups, len(rows) - 1))
    for dimension, row in enumerate(rows[1:]):
        sums[:, dimension] = np.bincount(labels, weights=row, minlength=groups)
    moved = np.array(centers, dtype=np.float64)
    np.divide(sums, total[:, None], out=moved, where=(total > 0)[:, None])
    return moved


def weighted_rows(points, weights) -> np.ndarray:
    """[w, w x_0, w x_1, w x_2] as the rows of one float64 array: what each Lloyd update sums by label."""
    rows = np.empty((points.shape[1] + 1, len(points)))
    rows[0] = weights
    np.multiply(np.asarray(points).T, weights, out=rows[1:])
    return rows


def _squared_error(grid: lattice.Lattice, weights: np.ndarray, centers: np.ndarray) -> float:
    return float(np.dot(lattice.nearest(grid, grid.snap(centers)).squared_distances, weights))


def _fine(hist: Histogram, color_space: str, k: int | None = None) -> tuple[np.ndarray, np.ndarray, lattice.Lattice]:
    """The fine bins: FINE_BITS, or for k the coarsest bins (one channel at a time) with at least
    FINE_BINS_PER_CENTER a center, when those are coarser."""
    if k is None:
        return _bins(hist, color_space, FINE_BITS)
    bits = _coarse_bits(hist, FINE_BINS_PER_CENTER * k, 0, by_channel=True)
    return _bins(hist, color_space, FINE_BITS if bits is None or sum(bits) >= sum(FINE_BITS) else bits)


def _coarse(
    hist: Histogram, color_space: str, min_bins: int, exact_limit: int = EXACT_POINTS_LIMIT, by_channel: bool = False,
) -> tuple[np.ndarray, np.ndarray, lattice.Lattice]:
    """The histogram in that space, as the means of the coarsest RGB bins of which at least `min_bins` are occupied.

    Up to `exact_limit` colors, the colors themselves. by_channel: the bins
    get finer one channel at a time (_finer), else on all three at once.
    """
    bits = _coarse_bits(hist, min_bins, exact_limit, by_channel)
    if bits is None:
        return hist.points(color_space).astype(np.float32), hist.weights, hist.lattice(color_space)
    return _bins(hist, color_space, bits)


def _coarse_bits(hist: Histogram, min_bins: int, exact_limit: int, by_channel: bool = False) -> Bits | None:
    """The bits per channel of the coarse bins _coarse takes; None for the colors themselves."""
    if hist.unique_colors <= exact_limit:
        return None
    bits = (COARSE_BITS,) * 3
    while _occupied(hist, bits) < min_bins:
        if min(bits) == MAX_COARSE_BITS:
            return None
        bits = _finer(hist, bits) if by_channel else tuple(b + 1 for b in bits)
    return bits


def _finer(hist: Histogram, bits: Bits) -> Bits:
    """One bit more on the channel, among those with the fewest bits, that gives the most occupied bins
    (green, then red, then blue on a tie)."""
    fewest = min(bits)
    options = [tuple(b + (channel == c) for c, b in enumerate(bits)) for channel in (1, 0, 2) if bits[channel] == fewest]
    return max(options, key=lambda option: _occupied(hist, option))


def _occupied(hist: Histogram, bits: Bits) -> int:
    """How many RGB bins at `bits` hold a color of the photo (kept: an int, where the bins' numbers are 4 bytes a color)."""
    return hist.reuse(("occupied", bits), lambda: int(np.count_nonzero(np.bincount(_bin_numbers(hist.keys, bits)))))


def _bins(hist: Histogram, color_space: str, bits: Bits) -> tuple[np.ndarray, np.ndarray, lattice.Lattice]:
    """The weighted means (float32) of the RGB bins at `bits` (red, green, blue) in that space, their weights and lattice.

    Kept for the photo's next palettes. The lattice is 8 times finer than
    the colors' own, as the means fall between lattice points.
    """
    def make():
        labels, groups = _coarse_bins(hist, bits)
        if color_space == "rgb":  # the sums group_means would make are those of the rows kept for the exact step
            means, totals = _row_means(_rgb_rows(hist), labels, groups)
        else:
            means, totals = group_means(hist.points(color_space), hist.weights, labels, groups)
        return means.astype(np.float32), totals, lattice.Lattice.of(means, 8 * LATTICE_SCALES[color_space])

    return hist.reuse(("bins", color_space, bits), make)


def _coarse_bins(hist: Histogram, bits: Bits) -> tuple[np.ndarray, int]:
    """Each color's coarse RGB bin at `bits` (red, green, blue), numbered among the occupied bins, and their count.

    Not kept: only the bins' means are (_bins), and the numbers cost 4 bytes a
    color for each set of bins a photo's palettes ask for.
    """
    bins = _bin_numbers(hist.keys, bits)
    occupied = np.bincount(bins, minlength=1 << sum(bits))
    used = np.flatnonzero(occupied)
    lookup = np.zeros(len(occupied), dtype=np.int32)
    lookup[used] = np.arange(len(used))
    return lookup[bins], len(used)


def _bin_numbers(keys: np.ndarray, bits: Bits) -> np.ndarray:
    """The RGB bin of each color key 0xRRGGBB at `bits` (red, green, blue): its top bits of each channel, packed."""
    red, green, blue = bits
    bins = (keys >> (24 - red)) << (green + blue)
    bins |= ((keys >> (16 - green)) & ((1 << green) - 1)) << blue
    bins |= (keys >> (8 - blue)) & ((1 << blue) - 1)
    return bins.astype(np.intp)


def nearest_perceptual(
    lab_colors: np.ndarray, palette: np.ndarray, candidates: int = 3, grid: lattice.Lattice | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Assign each color the palette entry with the smallest CIEDE2000, and that difference.

    Clustering in a perceptual space moves the centers; assigning by the
    metric itself is what lowers the mean difference. The candidates are the
    few entries nearest in CIELAB, where CIEDE2000's minimum almost always lies:
    found on the colors' CIELAB lattice when it is given (up to 64 entries,
    where that beats a k-d tree), else by a k-d tree. Of equal differences
    the nearer candidate wins.

    Each core takes its part of the colors a block at a time: candidates,
    their differences and the choice, while the block is in cache. The
    caller's cancelled() is asked between blocks.
    """
    lab_palette = colorspace.srgb_to_lab(palette).astype(lab_colors.dtype)
    count = min(candidates, len(palette))
    n = len(lab_colors)
    labels = np.empty(n, dtype=np.intp)
    differences = np.empty(n, dtype=np.result_type(lab_colors.dtype, np.float32))
    chosen = np.empty(n, dtype=differences.dtype)  # the difference to one candidate, a block at a time
    measure = colorspace.differences_to_entries(lab_colors, lab_palette, chosen)
    if grid is not None and len(palette) <= LATTICE_FEW_MAX_K:
        snapped = grid.snap(lab_palette)
        near_of = lambda first, last: lattice.nearest_few(  # noqa: E731
            lattice.Lattice(grid.coordinates[:, first:last], grid.scale), snapped, count)
    else:
        tree = _kd_tree(lab_palette)
        near_of = lambda first, last: tree.query(lab_colors[first:last], k=count)[1].reshape(last - first, count)  # noqa: E731
    cancelled = getattr(_cancel_check, "cancelled", None)

    def part(first: int, last: int) -> None:
        for start in range(first, last, NEAREST_PERCEPTUAL_BLOCK):
            if cancelled is not None and cancelled():
                raise Cancelled()
            stop = min(start + NEAREST_PERCEPTUAL_BLOCK, last)
            near = near_of(start, stop)
            best, best_labels = differences[start:stop], labels[start:stop]
            measure(start, stop, near[:, 0])
            best[:], best_labels[:] = chosen[start:stop], near[:, 0]
            for rank in range(1, count):
                measure(start, stop, near[:, rank])
                closer = chosen[start:stop] < best
                np.copyto(best, chosen[start:stop], where=closer)
                np.copyto(best_labels, near[:, rank], where=closer)

    parallel.for_ranges(n, part)
    return labels, differences


def coarsen(colors, points, weights, min_bins: int = 0, exact_limit: int = EXACT_POINTS_LIMIT):
    """Reduce a very colorful histogram to the weighted means of coarse RGB bins.

    Bins start at COARSE_BITS per channel and get finer until at least
    `min_bins` are occupied, so a narrow-gamut photo still has room for k colors.
    Up to `exact_limit` colors, the points themselves are returned.
    """
    if len(colors) <= exact_limit:
        return points, weights
    for bits in range(COARSE_BITS, 8):
        c = colors.astype(np.intp) >> (8 - bits)
        bins = (c[:, 0] << (2 * bits)) | (c[:, 1] << bits) | c[:, 2]
        occupied = np.bincount(bins, minlength=1 << (3 * bits))
        used = np.flatnonzero(occupied)
        if len(used) >= min_bins:
            lookup = np.zeros(len(occupied), dtype=np.intp)
            lookup[used] = np.arange(len(used))
            return group_means(points, weights, lookup[bins], len(used))
    return points, weights


def _cluster(points: np.ndarray, weights: np.ndarray, grid: lattice.Lattice, k: int, seed: int,
             reuse=lambda key, make: make(), perceptual: bool = False) -> np.ndarray:
    """Weighted k-means on (coarse) points: the best of several starts, each refined by Lloyd steps.

    In RGB see _rgb_cluster. `perceptual`: the palettes that compete under
    CIEDE2000 keep the earlier policy, PERCEPTUAL_STARTS k-means++ starts
    and, up to PERCEPTUAL_MBK_MAX_K, MiniBatchKMeans, their steps taken in
    turn; the lowest weighted squared error on these points is kept.
    """
    rows = weighted_rows(points, weights)
    if not perceptual:
        return _rgb_cluster(points, weights, grid, k, seed, reuse, rows)
    n_clusters = min(k, len(points))
    candidates = []
    for start in range(PERCEPTUAL_STARTS if k <= PERCEPTUAL_STARTS_UP_TO_K else 1):
        seeds = kmeans_plusplus(points, n_clusters, weights, seed + start)
        candidates.append(lloyd(grid, points, weights, seeds, COARSE_STEPS, rows))
    if k <= PERCEPTUAL_MBK_MAX_K:
        mbk = sklearn_cluster().MiniBatchKMeans(n_clusters=n_clusters, batch_size=MBK_BATCH, max_iter=MBK_ITER,
                                                max_no_improvement=5, random_state=seed)
        mbk.fit(points, sample_weight=weights)
        candidates.append(lloyd(grid, points, weights, mbk.cluster_centers_, COARSE_STEPS, rows))
    if len(candidates) == 1:
        return candidates[0]
    errors = [_squared_error(grid, weights, c) for c in candidates]
    return candidates[int(np.argmin(errors))]


def _rgb_cluster(points: np.ndarray, weights: np.ndarray, grid: lattice.Lattice, k: int, seed: int, reuse,
                 rows: np.ndarray) -> np.ndarray:
    """_cluster in RGB: starts(k) k-means++ starts and, in MBK_KS, MiniBatchKMeans compete.

    k-means++ seeding (weighted) is the main start: at large k it lands far
    better than MiniBatchKMeans's, which seeds on a sample. More starts
    compete at small k, where one unlucky start costs most, and
    MiniBatchKMeans competes where it wins (MBK_KS). Seeds come from chains
    kept for the photo under `reuse` (see _seeds). The lowest weighted
    squared error on these points is kept.

    Their Lloyd steps run together (_lloyd_each): on a few thousand coarse
    points a step's time is mostly the calls, not the arithmetic. Each
    start's centers are those its own lloyd() would give, and of equal
    errors the earlier start wins, as when they ran in turn.
    """
    n_clusters = min(k, len(points))
    starting = [_seeds(points, weights, n_clusters, seed, start, reuse) for start in range(starts(k))]
    if _minibatch_competes(k):
        _check_cancelled()
        mbk = sklearn_cluster().MiniBatchKMeans(
            n_clusters=n_clusters,
            # It seeds itself on a sample when there are more points than its sample.
            init=_seeds(points, weights, n_clusters, seed, 0, reuse, minibatch=True)
            if len(points) <= 3 * MBK_BATCH else "k-means++",
            n_init=1,
            batch_size=MBK_BATCH,
            max_iter=MBK_EPOCHS,
            max_no_improvement=5,
            compute_labels=False,
            random_state=seed,
        ).fit(points, sample_weight=weights)
        starting.append(mbk.cluster_centers_)
    if len(starting) == 1:
        return lloyd(grid, points, weights, starting[0], COARSE_STEPS, rows)
    search_rows = grid.search_rows()
    candidates = _lloyd_each(grid, starting, COARSE_STEPS, rows, search_rows)
    _check_cancelled()
    squared = lattice.nearest_each(grid, [grid.snap(c) for c in candidates], with_distances=True,
                                   search_rows=search_rows)[1]
    errors = [float(np.dot(row, weights)) for row in squared]
    return candidates[int(np.argmin(errors))]


def starts(k: int) -> int:
    """How many k-means++ seeds compete at k."""
    return next((count for up_to_k, count in STARTS if k <= up_to_k), 1)


def _seeds(points: np.ndarray, weights: np.ndarray, n_clusters: int, seed: int, start: int, reuse,
           minibatch: bool = False) -> np.ndarray:
    """The first n_clusters k-means++ seeds of start number `start`, from a chain kept per photo and set of points.

    With a fixed number of trials a step, the seeds for k are the first k of
    the seeds for any larger k: one chain serves every k up to the largest
    that uses it, and is drawn only as far as the largest k asked so far (a
    request at k = 2 draws 2 seeds, not the 64 a later k might want).
    minibatch: the seeds MiniBatchKMeans(random_state=seed) draws for itself
    (_minibatch_random).
    """
    longest = MBK_KS[1] if minibatch else max((up_to_k for up_to_k, count in STARTS if count > start), default=0)
    longest = min(longest, len(points))
    if n_clusters > longest:
        return kmeans_plusplus(points, n_clusters, weights, seed + start)
    random = (lambda: _minibatch_random(seed, len(points))) if minibatch else (lambda: np.random.RandomState(seed + start))
    chain = reuse(("seeds", minibatch, seed + start, longest),
                  lambda: SeedChain(points, weights, random(), SEED_TRIALS))
    return chain.head(n_clusters)


def _minibatch_random(seed: int, n_points: int) -> np.random.RandomState:
    """The random stream with which MiniBatchKMeans(random_state=seed) draws its k-means++ seeds.

    Its own k-means++ goes through scikit-learn's general-purpose distance
    routine at every step, half of its fit at k = 32; the seeds are drawn
    here and handed to it. With at most 3 * MBK_BATCH points it first draws
    a validation sample of them all, then the seeds.
    """
    random = np.random.RandomState(seed)
    random.randint(0, n_points, n_points)  # its validation sample: every point, as there are few
    return random


def kmeans_plusplus(points: np.ndarray, n_clusters: int, weights: np.ndarray,
                    seed: int | np.random.RandomState, trials: int | None = None) -> np.ndarray:
    """Weighted greedy k-means++ seeds: scikit-learn's algorithm and random stream, without its overhead.

    Each new center is the best of 2 + log(k) candidates (or `trials`) drawn
    in proportion to weight times squared distance. scikit-learn's
    `kmeans_plusplus` checks its arguments and computes distances through a
    general-purpose routine on every one of the k steps, which was 40% of a
    small photo's request; here a step is a few numpy operations on (trials, n) arrays.
    """
    return SeedChain(points, weights, seed, trials or 2 + int(np.log(n_clusters))).head(n_clusters)


class SeedChain:
    """k-means++ seeds drawn step by step as they are asked for (kmeans_plusplus's algorithm).

    head(n) draws up to n seeds and returns the first n: with a fixed number
    of trials a step, the seeds drawn for a smaller n are the head of those
    for a larger one, whether drawn at once or in turns. Kept for a photo,
    two threads may ask at once: a lock keeps the draws in order.
    """

    def __init__(self, points: np.ndarray, weights: np.ndarray, seed: int | np.random.RandomState, trials: int):
        points = np.asarray(points, dtype=np.float64)
        n, dims = points.shape
        # Rows [x, 1, |x|^2]: their product with a candidate's [-2 c, |c|^2, 1] is |x - c|^2 for every
        # point in one matrix product, where a product and two sums took three times as long.
        self._rows = np.empty((dims + 2, n))
        self._rows[:dims] = points.T
        self._rows[dims] = 1.0
        self._rows[dims + 1] = np.einsum("ij,ij->i", points, points)
        self._weights = np.asarray(weights, dtype=np.float64)
        self._random = seed if isinstance(seed, np.random.RandomState) else np.random.RandomState(seed)
        self._trials = trials
        self._lock = threading.Lock()
        first = self._random.choice(n, p=self._weights / self._weights.sum())
        self._chosen = [int(first)]
        self._closest = self._squared_distances(np.array([first]))[0]
        self._potential = self._closest @ self._weights

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes + self._closest.nbytes  # the weights are the bins' own, counted with them

    def head(self, n: int) -> np.ndarray:
        """The first n seeds, (n, dims) float64."""
        with self._lock:
            while len(self._chosen) < n:
                self._step()
            return self._rows[:-2, self._chosen[:n]].T.copy()

    def _squared_distances(self, chosen: np.ndarray) -> np.ndarray:
        """(candidates, n) squared distances of every point to each chosen point."""
        dims = len(self._rows) - 2
        candidates = np.empty((len(chosen), dims + 2))
        candidates[:, :dims] = -2.0 * self._rows[:dims, chosen].T
        candidates[:, dims] = self._rows[dims + 1, chosen]
        candidates[:, dims + 1] = 1.0
        found = candidates @ self._rows
        return np.maximum(found, 0.0, out=found)

    def _step(self) -> None:
        draws = self._random.uniform(size=self._trials) * self._potential
        chosen = np.searchsorted(np.cumsum(self._weights * self._closest), draws)
        np.minimum(chosen, len(self._weights) - 1, out=chosen)  # (np.clip costs ten times as much)
        distances = self._squared_distances(chosen)
        np.minimum(distances, self._closest, out=distances)
        potentials = distances @ self._weights
        best = int(np.argmin(potentials))
        self._potential, self._closest = potentials[best], distances[best]
        self._chosen.append(int(chosen[best]))


def group_means(points, weights, labels, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean of the points in each group (NaN for an empty one) and each group's weight."""
    return _row_means(weighted_rows(points, weights), labels, groups)


def _row_means(rows: np.ndarray, labels: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """group_means from weighted_rows(points, weights): what a Lloyd update and the bins' means both sum."""
    total = np.bincount(labels, weights=rows[0], minlength=groups)
    sums = np.stack([np.bincount(labels, weights=row, minlength=groups) for row in rows[1:]], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / total[:, None], total


def weighted_means(points, weights, labels, centers):
    """One Lloyd update; a center that lost all its points stays where it was."""
    return _lloyd_update(weighted_rows(points, weights), labels, centers)


def nearest(points: np.ndarray, centers: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest center (squared Euclidean) for every point, exactly."""
    centers = np.asarray(centers, dtype=np.float64)
    if len(centers) > 32:  # a k-d tree wins once there are many centers
        return _kd_tree(centers).query(points)[1]
    center_norms = (centers**2).sum(axis=1)
    out = np.empty(len(points), dtype=np.intp)
    for start in range(0, len(points), chunk):
        block = np.asarray(points[start : start + chunk], dtype=np.float64)
        # |x-c|^2 - |x|^2 = |c|^2 - 2 x.c ; |x|^2 does not change the argmin.
        out[start : start + chunk] = np.argmin(center_norms - 2.0 * block @ centers.T, axis=1)
    return out


def summarize(
    hist: Histogram,
    palette: np.ndarray,
    labels: np.ndarray,
    differences: np.ndarray | None = None,
    squared_error: float | None = None,
    measure_delta_e: bool = True,
) -> PaletteFit:
    """Drop unused and duplicate entries, sort by share, and measure the error.

    `differences`, the CIEDE2000 of each color to its entry, and
    `squared_error`, the summed squared RGB error over pixels, are computed
    here unless the caller already has them. Without differences and with
    measure_delta_e=False, the mean CIEDE2000 is left to the fit's first
    reading of delta_e (mean_delta_e, the same number).
    """
    colors, counts = hist.colors, hist.counts
    # Merge entries that rounded to the same 8-bit color, keep only used ones.
    entry_keys = pack(np.asarray(palette, dtype=np.uint8))
    entry_totals = np.bincount(labels, weights=hist.weights, minlength=len(entry_keys))
    present = np.flatnonzero(entry_totals)  # every color counts at least one pixel
    used, merged = np.unique(entry_keys[present], return_inverse=True)
    remap = np.zeros(len(entry_keys), dtype=np.intp)
    remap[present] = merged
    totals = np.bincount(remap[present], weights=entry_totals[present], minlength=len(used))
    order, rank = _by_share(used, totals)
    palette = unpack(used[order])
    # One look-up per color (old entry -> merged -> rank), straight into the fit's bytes.
    labels = rank[remap].astype(np.uint8)[labels]
    if squared_error is None:
        squared_error = float(np.dot(((colors.astype(np.float64) - palette[labels]) ** 2).sum(axis=1), counts))
    if differences is not None:
        measured = {"delta_e": _mean_over_pixels(hist, differences)}
    elif measure_delta_e:
        measured = {"delta_e": mean_delta_e(hist, palette, labels)}
    else:
        measured = {"measure_delta_e": lambda: mean_delta_e(hist, palette, labels)}
    return PaletteFit(palette=palette, shares=totals[order] / counts.sum(), labels=labels,
                      psnr=psnr(squared_error, counts.sum()), **measured)


def mean_delta_e(hist: Histogram, palette: np.ndarray, labels: np.ndarray) -> float:
    """The mean CIEDE2000 over visible pixels when each histogram color takes its entry of the palette.

    The number find_palette measured during its last assignment (in the
    same float32 CIELAB, the same parts per core, and one thread for the sum),
    so a figure measured later is the figure measured then.
    """
    with single_threaded():
        lab_palette = colorspace.srgb_to_lab(palette).astype(np.float32)
        return _mean_over_pixels(hist, colorspace.ciede2000_to_entries(hist.lab, lab_palette, labels))


def _mean_over_pixels(hist: Histogram, differences: np.ndarray) -> float:
    return float(np.dot(differences, hist.weights) / hist.weights.sum())


def _by_share(palette_keys: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order entries by share descending, then by color, and the rank of each entry."""
    order = np.lexsort((palette_keys, -totals))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return order, rank


def measure_map(
    rgb: np.ndarray, alpha: np.ndarray | None, indices: np.ndarray, palette: np.ndarray
) -> tuple[PaletteFit, np.ndarray]:
    """Figures for an index map made pixel by pixel (dithering), palette re-sorted by share.

    PSNR is exact; the mean CIEDE2000 is taken on an even sample of at most
    a million visible pixels, since error diffusion gives every pixel its own pair.
    The error is summed a block of rows at a time, so no full-size float copy is made.
    """
    palette = np.asarray(palette, dtype=np.uint8)
    height, width = indices.shape
    visible_count = height * width if alpha is None else int(np.count_nonzero(alpha))
    totals = np.zeros(len(palette), dtype=np.float64)
    sse = 0.0
    step = max(1, visible_count // 1_000_000)
    sample_rgb, sample_idx = [], []
    offset = 0  # visible pixels before this block, to keep the sample even across blocks
    rows = max(1, MEASURE_BLOCK_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        block_idx = indices[top : top + rows].reshape(-1)
        block_rgb = rgb[top : top + rows].reshape(-1, 3)
        if alpha is not None:
            shown = alpha[top : top + rows].reshape(-1) > 0
            block_idx, block_rgb = block_idx[shown], block_rgb[shown]
        totals += np.bincount(block_idx, minlength=len(palette))
        difference = block_rgb.astype(np.int32) - palette[block_idx]
        sse += float(np.einsum("ij,ij->", difference, difference, dtype=np.float64))
        first = (-offset) % step
        sample_rgb.append(block_rgb[first::step])
        sample_idx.append(block_idx[first::step])
        offset += len(block_idx)
    order, rank = _by_share(pack(palette), totals)
    used = totals[order] > 0
    order, keep = order[used], np.cumsum(used) - 1
    rank = keep[rank].astype(np.uint8)
    sample_rgb, sample_idx = np.concatenate(sample_rgb), np.concatenate(sample_idx)
    result = PaletteFit(
        palette=palette[order],
        shares=totals[order] / visible_count,
        labels=np.zeros(0, np.uint8),
        psnr=psnr(sse, visible_count),
        delta_e=float(colorspace.ciede2000_srgb(sample_rgb, palette[sample_idx]).mean()),
    )
    return result, rank[indices]


def psnr(squared_error: float, pixels: int) -> float:
    """PSNR in dB of an 8-bit RGB result from its summed squared error; inf when exact."""
    mse = squared_error / (3.0 * pixels)
    return math.inf if mse <= 0 else 10.0 * math.log10(255.0**2 / mse)


def lookup_table(hist: Histogram, result: PaletteFit) -> np.ndarray:
    """The palette index of each of the 2**24 color keys (those the photo lacks map to 0)."""
    table = np.zeros(1 << 24, dtype=np.uint8)
    table[hist.keys] = result.labels
    return table


def index_map(keys: np.ndarray, hist: Histogram, result: PaletteFit) -> np.ndarray:
    """Map every pixel key to its palette index with a lookup table."""
    return lookup_table(hist, result)[keys]
