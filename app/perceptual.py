"""find_palette in lab and oklab: competing palettes judged by CIEDE2000, each color taking its perceptually
nearest entry."""

from __future__ import annotations

from typing import Callable, TypeVar

import numpy as np

from app import (binning, cancel, clustering, colorspace, histograms, kmeans, lattice, libraries, parallel, perceptual_match,
                 summary)


T = TypeVar("T")


# The perceptual spaces cluster, choose and refine up to this many colors themselves (their
# smooth photos lose most to binning); above, on at least PERCEPTUAL_BINS coarse bins, and
# PERCEPTUAL_BINS_PER_CENTER a palette entry (at large k the choice needs finer bins).
PERCEPTUAL_EXACT_LIMIT = 1 << 16
PERCEPTUAL_BINS = 1 << 12
PERCEPTUAL_BINS_PER_CENTER = 64
PERCEPTUAL_STEPS = 4
# Then up to MEDIAN_STEPS Weiszfeld steps (steps with median); a color within MEDIAN_MIN_DIFFERENCE
# of its entry pulls as if it were that far (its pull would grow without bound).
MEDIAN_STEPS = 8
MEDIAN_MIN_DIFFERENCE = 1e-3
# The median steps are kept without a check over every color when they lower the mean CIEDE2000 on
# the fine bins by this share or more, and those are MEDIAN_CHECK_FINER times as many as the coarse
# bins or more (judging_bins).
MEDIAN_SURE_GAIN = 0.005
MEDIAN_CHECK_FINER = 4
# The earlier clustering, kept as a competitor in the perceptual spaces (classic_palette).
CLASSIC_BINS_PER_CENTER = 4
CLASSIC_STARTS, CLASSIC_STARTS_UP_TO_K = 3, 12
CLASSIC_LLOYD_ITER, CLASSIC_LLOYD_TOL = 30, 1e-4
CLASSIC_EXACT_STEPS = 2


def fit(hist: histograms.Histogram, k: int, color_space: str, seed: int,
        chosen: Callable[[np.ndarray], None] | None = None) -> summary.PaletteFit:
    """find_palette in lab and oklab: the palette with the lowest mean CIEDE2000 of three competitors.

    Cluster in that space, the earlier clustering (classic_palette) and the
    RGB one: whichever gives the lower mean CIEDE2000 once every color takes
    its perceptually nearest entry is kept (at small k the RGB centers
    sometimes win; this way the perceptual option never does worse). The
    choice is made on the coarse histogram; only the winner is assigned
    color by color. The three are independent and run side by side on the
    cores, each on one thread.

    chosen, when given, is told the final palette as soon as it is known:
    mostly before every color is assigned to it (a third of the time, at
    12 MP), which only the figures need. Every fit in the background is given
    one (someone may come to wait for it early), and then judges the median
    steps before it assigns every color, not beside it (~3 ms more at 12 MP).
    """
    says_early, chosen = chosen is not None, chosen or (lambda palette: None)
    # The RGB competitor needs none of the photo's CIELAB: it starts at once, on the pool, while this thread
    # converts the colors and bins them in CIELAB (a photo's first palette in this space), and it holds the
    # GIL for its MiniBatchKMeans while that conversion, mostly numpy, does not. Only its score waits for the bins.
    rgb_palette = _on_one_thread(lambda: clustering.palette(hist, k, "rgb", seed, perceptual=True))
    with parallel.in_background(rgb_palette) as rgb_found:
        bins = max(PERCEPTUAL_BINS, PERCEPTUAL_BINS_PER_CENTER * k)
        if hist.unique_colors > PERCEPTUAL_EXACT_LIMIT:  # coarse bins, which share nothing with the rest
            hist.lab  # noqa: B018 - made once, on every core, before the two steps below read it side by side
            (coarse_lab, coarse_weights, coarse_grid), _ = parallel.side_by_side(
                lambda: binning.coarse(hist, "lab", bins, PERCEPTUAL_EXACT_LIMIT),
                _on_one_thread(lambda: _shared_by_competitors(hist, color_space)))
        else:  # the colors themselves, and their lattice
            coarse_lab, coarse_weights, coarse_grid = binning.coarse(hist, "lab", bins, PERCEPTUAL_EXACT_LIMIT)
            _shared_by_competitors(hist, color_space)
        coarse_lab = coarse_lab.astype(np.float32)
        # The steps find their candidates on the bins' lattice (8 times finer than the colors'), where that is
        # quicker than a k-d tree; on the colors themselves they keep the k-d tree, whose exact candidates the
        # corpus's results were measured with (there the colors' own lattice changed 2 of 117 cells by 0.001).
        if coarse_grid is hist.lattice("lab"):
            coarse_grid = None
        competitors = (
            lambda: clustering.palette(hist, k, color_space, seed, PERCEPTUAL_EXACT_LIMIT, perceptual=True),
            lambda: classic_palette(hist, k, color_space, seed),
            rgb_found.result,  # its score queues behind it on the pool
        )
        scored = parallel.side_by_side(*(_on_one_thread(lambda make=make: steps(coarse_lab, coarse_weights, make(),
                                                                                grid=coarse_grid))
                                         for make in competitors))
    palette = min(scored, key=lambda pair: pair[1])[0]
    cancel.check()
    # The median steps on the coarse bins, beside the palette's score on the fine bins that may judge them.
    fine = judging_bins(hist, len(coarse_weights))
    (median, _), before = parallel.side_by_side(
        lambda: steps(coarse_lab, coarse_weights, palette, median=True, grid=coarse_grid),
        _on_one_thread(lambda: total_difference(fine, palette) if fine is not None else None))
    cancel.check()
    if median is palette:
        chosen(palette)

    def judge_median() -> float | None:
        if fine is None or median is palette:
            return None
        after = total_difference(fine, median)
        if after <= before * (1 - MEDIAN_SURE_GAIN):
            chosen(median)  # sure from the bins: kept, while every color is still being assigned to it
        return after

    def assign_median() -> tuple[np.ndarray, np.ndarray]:
        return perceptual_match.nearest_perceptual(hist.lab, median, grid=hist.lattice("lab"))

    if says_early:  # someone may wait for the palette (FitCache.early_palette): the judge first, on both cores
        after = judge_median()
        labels, differences = assign_median()
    else:  # every color is assigned to the median palette whatever the judging bins say, so both run at once
        (labels, differences), after = parallel.side_by_side(assign_median, _on_one_thread(judge_median))
    final = median
    if median is not palette and (after is None or after > before * (1 - MEDIAN_SURE_GAIN)):
        # Not sure from the bins: the median steps are kept only if they lower the mean CIEDE2000
        # over every color too, so the palette does no worse than without them.
        cancel.check()
        start_labels, start_differences = perceptual_match.nearest_perceptual(hist.lab, palette,
                                                                              grid=hist.lattice("lab"))
        if np.dot(differences, hist.weights) >= np.dot(start_differences, hist.weights):
            final, labels, differences = palette, start_labels, start_differences
        chosen(final)
    cancel.check()
    return summary.summarize(hist, final, labels, differences)


def _shared_by_competitors(hist: histograms.Histogram, color_space: str) -> None:
    """What both competitors in this space read, made before they start side by side (each would otherwise
    make its own copy at once): the colors' lattice and, above PERCEPTUAL_EXACT_LIMIT colors, the fine bins
    (the clustering's Lloyd steps there, and in CIELAB the bins that judge the median steps)."""
    hist.lattice(color_space)
    if hist.unique_colors > PERCEPTUAL_EXACT_LIMIT:
        binning.means(hist, color_space, binning.FINE_BITS)


def judging_bins(hist: histograms.Histogram, coarse_bins: int) -> tuple[np.ndarray, np.ndarray, lattice.Lattice] | None:
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
    fine = binning.means(hist, "lab", binning.FINE_BITS)
    return fine if len(fine[1]) >= MEDIAN_CHECK_FINER * coarse_bins else None


def total_difference(bins: tuple[np.ndarray, np.ndarray, lattice.Lattice], palette: np.ndarray) -> float:
    """The weighted sum of CIEDE2000 of the bins to their perceptually nearest entries."""
    lab, weights, grid = bins
    return float(np.dot(perceptual_match.nearest_perceptual(lab, palette, grid=grid)[1], weights))


def _on_one_thread(step: Callable[[], T]) -> Callable[[], T]:
    """step for parallel.side_by_side: its passes stay on the thread that runs it (parallel.one_part),
    and it is cancelled as the find_palette that started it is."""
    cancelled = cancel.current()

    def run() -> T:
        with parallel.one_part(), cancel.cancellable(cancelled):
            return step()

    return run


def steps(lab: np.ndarray, weights: np.ndarray, palette: np.ndarray, median: bool = False,
          grid: lattice.Lattice | None = None) -> tuple[np.ndarray, float]:
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
    as given when no step lowered it. grid: the points' CIELAB lattice, where
    the candidates are found faster than by a k-d tree (nearest_perceptual).
    """
    labels, differences = perceptual_match.nearest_perceptual(lab, palette, grid=grid)
    score = float(np.dot(differences, weights))
    for _ in range(MEDIAN_STEPS if median else PERCEPTUAL_STEPS):
        cancel.check()
        pull = weights / np.maximum(differences.astype(np.float64), MEDIAN_MIN_DIFFERENCE) if median else weights
        means = kmeans.weighted_means(lab, pull, labels, colorspace.srgb_to_lab(palette))
        moved = np.unique(colorspace.lab_to_srgb(means), axis=0)
        moved_labels, moved_differences = perceptual_match.nearest_perceptual(lab, moved, grid=grid)
        moved_score = float(np.dot(moved_differences, weights))
        if moved_score >= score:
            break
        palette, labels, differences, score = moved, moved_labels, moved_differences, moved_score
    return palette, score


def classic_palette(hist: histograms.Histogram, k: int, color_space: str, seed: int) -> np.ndarray:
    """The engine's earlier clustering, a competitor in the perceptual spaces.

    MiniBatchKMeans, then scikit-learn's Lloyd iterations from its centers,
    on coarse bins (the colors themselves up to PERCEPTUAL_EXACT_LIMIT), and
    two Lloyd steps over every color. Under CIEDE2000 it still wins on some
    photos and k, mostly at large k, so it competes rather than goes.
    """
    points, weights, _ = binning.coarse(hist, color_space, CLASSIC_BINS_PER_CENTER * k, PERCEPTUAL_EXACT_LIMIT)
    points = points.astype(np.float64)
    n_clusters = min(k, len(points))
    cluster = libraries.sklearn_cluster()
    best = None
    for start in range(CLASSIC_STARTS if k <= CLASSIC_STARTS_UP_TO_K else 1):
        cancel.check()
        mbk = cluster.MiniBatchKMeans(n_clusters=n_clusters, batch_size=clustering.MBK_BATCH,
                                      max_iter=clustering.MBK_ITER, max_no_improvement=5,
                                      random_state=seed + start).fit(points, sample_weight=weights)
        fit = cluster.KMeans(n_clusters=n_clusters, init=mbk.cluster_centers_, n_init=1, max_iter=CLASSIC_LLOYD_ITER,
                             tol=CLASSIC_LLOYD_TOL).fit(points, sample_weight=weights)
        if best is None or fit.inertia_ < best.inertia_:
            best = fit
    centers = kmeans.lloyd(hist.lattice(color_space), hist.points(color_space), hist.weights, best.cluster_centers_,
                           CLASSIC_EXACT_STEPS)
    return colorspace.SPACES[color_space].to_srgb(centers)
