"""The k-means engine: pure numpy and scikit-learn, no I/O and no Flask.

Packed pixel keys go in (the visible pixels); their histogram, a palette, a
label for every distinct color and figures of merit come out.

Why it is fast: k-means never sees the pixels one by one. A 12 MP photo
has a few hundred thousand distinct colors, and the weighted histogram of
those colors carries exactly the same information. The clustering runs on
that histogram (binned further for very colorful photos), a few exact
Lloyd steps on the full histogram polish the centers, and every pixel is
then mapped to its palette entry through a 2**24-entry lookup table.

The parts: histograms (the distinct colors), binning (coarse and fine bins),
seeding (k-means++), kmeans (Lloyd steps), clustering (the RGB palette and
its competing starts), perceptual (lab and oklab, judged by CIEDE2000) and
summary (the fit: shares, PSNR, CIEDE2000, index maps); cancel stops a
palette no one waits for, and libraries imports scikit-learn and scipy
when first needed.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from app import cancel, ciede2000, clustering, colorspace, lattice, libraries, perceptual, summary
from app.histograms import Histogram
from app.summary import PaletteFit

MIN_K = 2
MAX_K = 256
COLOR_SPACES = ("rgb", "oklab", "lab")


def needs_scikit_learn(k: int, color_space: str) -> bool:
    """Whether find_palette runs scikit-learn's clustering for this k and color space: in RGB where
    MiniBatchKMeans competes (clustering.MBK_KS); the perceptual spaces' classic palette at any k."""
    return color_space != "rgb" or clustering.minibatch_competes(k)


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be an integer between {MIN_K} and {MAX_K}, got {k!r}")


def find_palette(hist: Histogram, k: int, color_space: str = "rgb", seed: int = 0,
                 cancelled: Callable[[], bool] | None = None, measure_delta_e: bool = True,
                 chosen: Callable[[np.ndarray], None] | None = None) -> PaletteFit:
    """Find at most k colors that best represent the histogram, by k-means.

    With k or fewer distinct colors present, the image is returned unchanged:
    the palette is its own colors. cancelled, when given, is asked between
    steps: once it answers True, Cancelled is raised (a palette no one waits for).
    measure_delta_e=False: in RGB, the mean CIEDE2000 is measured only when the
    fit's delta_e is first read (a palette only to draw with never pays for it);
    the perceptual spaces measure it anyway, to choose their palette.
    chosen, when given, is told the final palette (its distinct colors, in any order) as soon as the perceptual
    spaces know it, before the figures are measured; RGB palettes do not say it early.
    """
    check_k(k)
    if color_space not in COLOR_SPACES:
        raise ValueError(f"color_space must be one of {', '.join(COLOR_SPACES)}, got {color_space!r}")
    if hist.unique_colors == 0:
        raise ValueError("the image has no visible pixels to take colors from")
    colors = hist.colors
    if hist.unique_colors <= k:
        return summary.summarize(hist, colors, np.arange(hist.unique_colors), measure_delta_e=measure_delta_e)
    # Small fits: OpenMP and BLAS threads cost more than they give.
    with libraries.single_threaded(), cancel.cancellable(cancelled):
        cancel.check()
        if color_space == "rgb":
            palette = clustering.palette(hist, k, "rgb", seed)
            differences = measure = None
            if measure_delta_e:
                # Each core measures the CIEDE2000 of its part of the colors as soon as it has their
                # entries: one pass over the colors instead of two. (summarize only merges and
                # reorders entries of the same color, so the differences stay what they are.)
                differences = np.empty(hist.unique_colors, dtype=np.float32)
                measure = ciede2000.differences_to_entries(hist.lab, colorspace.srgb_to_lab(palette), differences)
            found = lattice.nearest(hist.lattice("rgb"), palette, then=measure)
            cancel.check()
            return summary.summarize(hist, palette, found.labels, differences, measure_delta_e=measure_delta_e,
                                     squared_error=float(np.dot(found.squared_distances, hist.weights)))
        return perceptual.fit(hist, k, color_space, seed, chosen)
