"""k-means on a photo's histogram: competing starts on coarse bins, Lloyd steps on fine bins, then on every color."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from app import binning, cancel, colorspace, histograms, kmeans, lattice, libraries, seeding


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
# a third of its time. After its passes it goes on with COARSE_STEPS Lloyd steps like the others,
# so two passes do (the fewest its fit takes: one step ends before its inertia is known). Against
# five, on the corpus at k = 17-32 (13 photos): mean PSNR +0.0005 dB, 77% of the palettes unchanged,
# at worst -0.036 (kodim23, k = 29), every bench_quality cell still ahead of libimagequant; its fit
# went from 5.3-8.1 to 2.5-3.3 ms CPU (kodim23 and the Olympus 12 MP photo, 4,732 and 5,819 bins).
MBK_KS = (17, 32)
MBK_EPOCHS = 2
# The palettes that compete under CIEDE2000 (color_space lab and oklab) keep the earlier policy:
# three k-means++ starts up to k = 32, one above, and MiniBatchKMeans seeding itself up to 64.
# The mean CIEDE2000 of each corpus photo and k was measured with it; the RGB policy above moves
# it by up to 0.07 either way, and lab must not get worse in any cell.
PERCEPTUAL_STARTS, PERCEPTUAL_STARTS_UP_TO_K = 3, 32
PERCEPTUAL_MBK_MAX_K = 64


def minibatch_competes(k: int) -> bool:
    """Whether MiniBatchKMeans competes with the starts at this k in RGB (MBK_KS)."""
    return MBK_KS[0] <= k <= MBK_KS[1]


def palette(hist: histograms.Histogram, k: int, color_space: str, seed: int,
            exact_limit: int = binning.EXACT_POINTS_LIMIT,
             perceptual: bool = False) -> np.ndarray:
    """k-means in the given space: the palette in sRGB.

    Starts compete on coarse bins; the best one goes on with Lloyd steps on
    fine bins, then on every color, each point taking its nearest center.
    """
    space = colorspace.SPACES[color_space]
    seed_bins = _seed_bins(k)
    by_channel = not perceptual
    coarse_points, coarse_weights, coarse_grid = binning.coarse(hist, color_space, seed_bins, exact_limit, by_channel)
    # The fine bins and the lattice first: they do not depend on the centers, and the command
    # line's import of scikit-learn (which cluster() may wait for) overlaps them.
    fine = binning.fine(hist, color_space, k if by_channel else None) if hist.unique_colors > exact_limit else None
    exact_grid = hist.lattice(color_space)
    centers = cluster(coarse_points, coarse_weights, coarse_grid, k, seed,
                       _kept(hist, color_space, seed_bins, exact_limit, by_channel), perceptual)
    if fine is not None:
        fine_points, fine_weights, fine_grid = fine
        steps = FINE_STEPS_LARGE_K if k > FINE_STEPS_FEWER_ABOVE_K else FINE_STEPS
        centers = kmeans.lloyd(fine_grid, fine_points, fine_weights, centers, steps)
    # The RGB slider's palettes all take this step: its sums' weights are kept for the photo.
    rows = binning.rgb_rows(hist) if color_space == "rgb" else None
    return space.to_srgb(kmeans.lloyd(exact_grid, hist.points(color_space), hist.weights, centers, EXACT_STEPS, rows))


def _seed_bins(k: int) -> int:
    return min(binning.SEED_BINS_PER_CENTER * k, binning.SEED_BINS_MAX)


def _kept(hist: histograms.Histogram, color_space: str, seed_bins: int, exact_limit: int, by_channel: bool):
    """reuse(key, make) for what the starts keep per photo and set of coarse bins (the k-means++ chains)."""
    coarse_key = (color_space, binning.coarse_bits(hist, seed_bins, exact_limit, by_channel))
    return lambda key, make: hist.reuse((coarse_key, key), make)


def rgb_ahead(hist: histograms.Histogram, max_k: int, around: int = 2, seed: int = 0) -> Iterator[None]:
    """What palette() in RGB takes from the photo whatever the k, made ahead for k = 2..max_k, nearest `around`
    first (as the page's ladder goes), one small step a yield (the caller may stop between any two): see
    rgb_ahead_step."""
    for k in rgb_ahead_ks(max_k, hist.unique_colors, around):
        step = 0
        while rgb_ahead_step(hist, k, step, seed):
            step += 1
            yield


def rgb_ahead_ks(max_k: int, unique_colors: int, around: int = 2) -> list[int]:
    """The k values rgb_ahead makes work for, nearest `around` first."""
    return sorted(range(2, min(max_k, unique_colors - 1) + 1), key=lambda k: (abs(k - around), k))


def rgb_ahead_step(hist: histograms.Histogram, k: int, step: int, seed: int = 0) -> bool:
    """Step number `step` of what palette() in RGB at k reads whatever its centers, made now; False when k has no
    such step. Step 0: its fine bins; then the seeds of each k-means++ chain it reads (_chains_read), drawn as
    far as k. These are the very values palette() makes on first need (same keys, same draws), so its palettes
    are the same; a jump to a k not asked before then finds them made."""
    if step == 0:
        if hist.unique_colors > binning.EXACT_POINTS_LIMIT:
            binning.fine(hist, "rgb", k)
        return True
    seed_bins = _seed_bins(k)
    points, weights, _ = binning.coarse(hist, "rgb", seed_bins, binning.EXACT_POINTS_LIMIT, True)
    chains = _chains_read(k, len(points))
    if step > len(chains):
        return False
    start, minibatch = chains[step - 1]
    n_clusters = min(k, len(points))
    chain = _chain(points, weights, n_clusters, seed, start, _kept(hist, "rgb", seed_bins, binning.EXACT_POINTS_LIMIT,
                                                                   True), minibatch)
    if chain is not None:
        chain.head(n_clusters)
    return True


def _chains_read(k: int, points: int) -> list[tuple[int, bool]]:
    """The (start, minibatch) seed chains an RGB palette at k reads on this many coarse points (_rgb_cluster):
    its k-means++ starts, and MiniBatchKMeans's own seeds where it competes and does not seed on a sample."""
    chains = [(start, False) for start in range(starts(k))]
    if minibatch_competes(k) and points <= 3 * MBK_BATCH:
        chains.append((0, True))
    return chains


def cluster(points: np.ndarray, weights: np.ndarray, grid: lattice.Lattice, k: int, seed: int,
             reuse=lambda key, make: make(), perceptual: bool = False) -> np.ndarray:
    """Weighted k-means on (coarse) points: the best of several starts, each refined by Lloyd steps.

    In RGB see _rgb_cluster. `perceptual`: the palettes that compete under
    CIEDE2000 keep the earlier policy, PERCEPTUAL_STARTS k-means++ starts
    and, up to PERCEPTUAL_MBK_MAX_K, MiniBatchKMeans, their steps taken in
    turn; the lowest weighted squared error on these points is kept.
    """
    rows = kmeans.weighted_rows(points, weights)
    if not perceptual:
        return _rgb_cluster(points, weights, grid, k, seed, reuse, rows)
    n_clusters = min(k, len(points))
    candidates = []
    for start in range(PERCEPTUAL_STARTS if k <= PERCEPTUAL_STARTS_UP_TO_K else 1):
        seeds = seeding.kmeans_plusplus(points, n_clusters, weights, seed + start)
        candidates.append(kmeans.lloyd(grid, points, weights, seeds, COARSE_STEPS, rows))
    if k <= PERCEPTUAL_MBK_MAX_K:
        mbk = libraries.sklearn_cluster().MiniBatchKMeans(
            n_clusters=n_clusters, batch_size=MBK_BATCH, max_iter=MBK_ITER, max_no_improvement=5, random_state=seed)
        mbk.fit(points, sample_weight=weights)
        candidates.append(kmeans.lloyd(grid, points, weights, mbk.cluster_centers_, COARSE_STEPS, rows))
    if len(candidates) == 1:
        return candidates[0]
    errors = [kmeans.squared_error(grid, weights, c) for c in candidates]
    return candidates[int(np.argmin(errors))]


def _rgb_cluster(points: np.ndarray, weights: np.ndarray, grid: lattice.Lattice, k: int, seed: int, reuse,
                 rows: np.ndarray) -> np.ndarray:
    """cluster() in RGB: starts(k) k-means++ starts and, in MBK_KS, MiniBatchKMeans compete.

    k-means++ seeding (weighted) is the main start: at large k it lands far
    better than MiniBatchKMeans's, which seeds on a sample. More starts
    compete at small k, where one unlucky start costs most, and
    MiniBatchKMeans competes where it wins (MBK_KS). Seeds come from chains
    kept for the photo under `reuse` (see _seeds). The lowest weighted
    squared error on these points is kept.

    Their Lloyd steps run together (kmeans.lloyd_each): on a few thousand coarse
    points a step's time is mostly the calls, not the arithmetic. Each
    start's centers are those its own lloyd() would give, and of equal
    errors the earlier start wins, as when they ran in turn.
    """
    n_clusters = min(k, len(points))
    chains = _chains_read(k, len(points))
    starting = [_seeds(points, weights, n_clusters, seed, start, reuse) for start, minibatch in chains if not minibatch]
    if minibatch_competes(k):
        cancel.check()
        mbk = libraries.sklearn_cluster().MiniBatchKMeans(
            n_clusters=n_clusters,
            # It seeds itself on a sample when there are more points than its sample.
            init=_seeds(points, weights, n_clusters, seed, 0, reuse, minibatch=True)
            if (0, True) in chains else "k-means++",
            n_init=1,
            batch_size=MBK_BATCH,
            max_iter=MBK_EPOCHS,
            max_no_improvement=5,
            compute_labels=False,
            random_state=seed,
        ).fit(points, sample_weight=weights)
        starting.append(mbk.cluster_centers_)
    if len(starting) == 1:
        return kmeans.lloyd(grid, points, weights, starting[0], COARSE_STEPS, rows)
    search_rows = grid.search_rows()
    candidates = kmeans.lloyd_each(grid, starting, COARSE_STEPS, rows, search_rows)
    cancel.check()
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
    (seeding.minibatch_random).
    """
    chain = _chain(points, weights, n_clusters, seed, start, reuse, minibatch)
    if chain is None:
        return seeding.kmeans_plusplus(points, n_clusters, weights, seed + start)
    return chain.head(n_clusters)


def _chain(points: np.ndarray, weights: np.ndarray, n_clusters: int, seed: int, start: int, reuse,
           minibatch: bool = False) -> seeding.SeedChain | None:
    """_seeds' chain kept under reuse, made when missing; None when n_clusters is beyond the longest it serves."""
    longest = MBK_KS[1] if minibatch else max((up_to_k for up_to_k, count in STARTS if count > start), default=0)
    longest = min(longest, len(points))
    if n_clusters > longest:
        return None

    def random() -> np.random.RandomState:
        return seeding.minibatch_random(seed, len(points)) if minibatch else np.random.RandomState(seed + start)

    return reuse(("seeds", minibatch, seed + start, longest),
                 lambda: seeding.SeedChain(points, weights, random(), SEED_TRIALS))
