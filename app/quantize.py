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
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree
from sklearn.cluster import KMeans, MiniBatchKMeans
from threadpoolctl import threadpool_limits

from app import colorspace

MIN_K = 2
MAX_K = 256
COLOR_SPACES = ("rgb", "oklab", "lab")
# Above this many distinct colors the clustering runs on the means of coarse
# RGB bins (COARSE_BITS per channel, finer when needed); the exact polishing
# steps still see every color.
EXACT_POINTS_LIMIT = 1 << 16
COARSE_BITS = 5
POLISH_STEPS = 2
MBK_BATCH = 4096
MBK_ITER = 20
LLOYD_ITER = 30
LLOYD_TOL = 1e-4
SMALL_K = 12
SMALL_K_STARTS = 3
# measure_map sums the error over blocks of about this many pixels.
MEASURE_BLOCK_PIXELS = 1 << 20


@dataclass(frozen=True)
class Histogram:
    """The distinct visible colors of an image and how often each occurs."""

    keys: np.ndarray  # (n,) uint32 packed 0xRRGGBB, ascending
    counts: np.ndarray  # (n,) int64

    @cached_property
    def colors(self) -> np.ndarray:
        return unpack(self.keys)

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


@dataclass(frozen=True)
class PaletteFit:
    """A palette sorted by share, and the palette entry of every histogram color."""

    palette: np.ndarray  # (m,) uint8 RGB rows, m <= k
    shares: np.ndarray  # (m,) float, fraction of visible pixels, descending
    labels: np.ndarray  # (n,) palette index of each histogram color
    psnr: float  # inf when the result is identical to the original
    delta_e: float  # mean CIEDE2000 over visible pixels

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

    By sorting a copy: 5 bytes a pixel at the peak, where a count table of
    every possible color is 128 MB whatever the photo (and no faster).
    """
    ordered = np.sort(np.asarray(keys, dtype=np.uint32))
    if not len(ordered):
        return Histogram(keys=np.zeros(0, np.uint32), counts=np.zeros(0, np.int64))
    change = np.empty(len(ordered), dtype=bool)
    change[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    del change
    counts = np.diff(starts, append=len(ordered))
    return Histogram(keys=ordered[starts], counts=counts.astype(np.int64))


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not MIN_K <= k <= MAX_K:
        raise ValueError(f"k must be an integer between {MIN_K} and {MAX_K}, got {k!r}")


def find_palette(hist: Histogram, k: int, color_space: str = "rgb", seed: int = 0) -> PaletteFit:
    """Find at most k colors that best represent the histogram, by k-means.

    With k or fewer distinct colors present, the image is returned unchanged:
    the palette is its own colors.
    """
    check_k(k)
    if color_space not in COLOR_SPACES:
        raise ValueError(f"color_space must be one of {', '.join(COLOR_SPACES)}, got {color_space!r}")
    if hist.unique_colors == 0:
        raise ValueError("the image has no visible pixels to take colors from")
    colors = hist.colors
    if hist.unique_colors <= k:
        return summarize(hist, colors, np.arange(hist.unique_colors))
    with threadpool_limits(1):  # small fits: OpenMP and BLAS threads cost more than they give
        if color_space == "rgb":
            palette, points = _palette(hist, k, "rgb", seed)
            return summarize(hist, palette, nearest(points, palette))
        # Perceptual: cluster in that space, and keep whichever palette (that
        # one or the RGB one) gives the lower mean CIEDE2000 once every color
        # takes its perceptually nearest entry. At small k the RGB centers
        # sometimes win; this way the perceptual option never does worse.
        # The choice is made on the coarse histogram; only the winner is
        # assigned color by color.
        coarse_lab, coarse_weights = coarsen(hist.colors, hist.lab, hist.counts.astype(np.float64))
        palettes = [_palette(hist, k, space, seed)[0] for space in (color_space, "rgb")]
        scores = [np.dot(nearest_perceptual(coarse_lab, p)[1], coarse_weights) for p in palettes]
        palette = palettes[int(np.argmin(scores))]
        return summarize(hist, palette, *nearest_perceptual(hist.lab, palette))


def _palette(hist: Histogram, k: int, color_space: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means in the given space: a palette in sRGB, and the colors as points of that space."""
    space = colorspace.SPACES[color_space]
    points = space.from_srgb(hist.colors)
    weights = hist.counts.astype(np.float64)
    coarse_points, coarse_weights = coarsen(hist.colors, points, weights, min_bins=4 * k)
    centers = _cluster(coarse_points, coarse_weights, k, seed)
    for _ in range(POLISH_STEPS):  # exact Lloyd steps over every color
        labels = nearest(points, centers)
        centers = weighted_means(points, weights, labels, centers)
    return space.to_srgb(centers), points


def nearest_perceptual(lab_colors: np.ndarray, palette: np.ndarray, candidates: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Assign each color the palette entry with the smallest CIEDE2000, and that difference.

    Clustering in a perceptual space moves the centers; assigning by the
    metric itself is what lowers the mean difference. The candidates are the
    few entries nearest in CIELAB, where CIEDE2000's minimum almost always lies.
    """
    lab_palette = colorspace.srgb_to_lab(palette).astype(lab_colors.dtype)
    count = min(candidates, len(palette))
    _, near = cKDTree(lab_palette).query(lab_colors, k=count)
    near = near.reshape(len(lab_colors), count)
    differences = np.stack(
        [colorspace.ciede2000(lab_colors, lab_palette[near[:, i]]) for i in range(count)], axis=1
    )
    best = np.argmin(differences, axis=1)
    rows = np.arange(len(lab_colors))
    return near[rows, best], differences[rows, best]


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


def _cluster(points: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """MiniBatchKMeans over weighted points, then Lloyd iterations from its centers.

    At small k one unlucky start can cost half a decibel, and a fit costs
    little, so a few starts are made and the lowest weighted error wins.
    """
    n_clusters = min(k, len(points))
    best = None
    for start in range(SMALL_K_STARTS if k <= SMALL_K else 1):
        mbk = MiniBatchKMeans(
            n_clusters=n_clusters,
            batch_size=MBK_BATCH,
            max_iter=MBK_ITER,
            max_no_improvement=5,
            random_state=seed + start,
        ).fit(points, sample_weight=weights)
        lloyd = KMeans(n_clusters=n_clusters, init=mbk.cluster_centers_, n_init=1, max_iter=LLOYD_ITER, tol=LLOYD_TOL)
        lloyd.fit(points, sample_weight=weights)
        if best is None or lloyd.inertia_ < best.inertia_:
            best = lloyd
    return best.cluster_centers_


def group_means(points, weights, labels, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean of the points in each group (NaN for an empty one) and each group's weight."""
    total = np.bincount(labels, weights=weights, minlength=groups)
    sums = np.stack(
        [np.bincount(labels, weights=weights * points[:, i], minlength=groups) for i in range(points.shape[1])],
        axis=1,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / total[:, None], total


def weighted_means(points, weights, labels, centers):
    """One Lloyd update; a center that lost all its points stays where it was."""
    means, total = group_means(points, weights, labels, len(centers))
    return np.where((total > 0)[:, None], means, centers)


def nearest(points: np.ndarray, centers: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest center (squared Euclidean) for every point, exactly."""
    centers = np.asarray(centers, dtype=np.float64)
    if len(centers) > 32:  # a k-d tree wins once there are many centers
        return cKDTree(centers).query(points)[1]
    center_norms = (centers**2).sum(axis=1)
    out = np.empty(len(points), dtype=np.intp)
    for start in range(0, len(points), chunk):
        block = np.asarray(points[start : start + chunk], dtype=np.float64)
        # |x-c|^2 - |x|^2 = |c|^2 - 2 x.c ; |x|^2 does not change the argmin.
        out[start : start + chunk] = np.argmin(center_norms - 2.0 * block @ centers.T, axis=1)
    return out


def summarize(
    hist: Histogram, palette: np.ndarray, labels: np.ndarray, differences: np.ndarray | None = None
) -> PaletteFit:
    """Drop unused and duplicate entries, sort by share, and measure the error.

    `differences`, the CIEDE2000 of each color to its entry, is computed here
    unless the caller already has it.
    """
    colors, counts = hist.colors, hist.counts
    # Merge entries that rounded to the same 8-bit color, keep only used ones.
    entry_keys = pack(np.asarray(palette, dtype=np.uint8))
    present = np.flatnonzero(np.bincount(labels, minlength=len(entry_keys)))
    used, merged = np.unique(entry_keys[present], return_inverse=True)
    remap = np.zeros(len(entry_keys), dtype=np.intp)
    remap[present] = merged
    labels = remap[labels]
    totals = np.bincount(labels, weights=counts, minlength=len(used))
    order, rank = _by_share(used, totals)
    palette = unpack(used[order])
    labels = rank[labels]
    if differences is None:
        differences = colorspace.ciede2000(hist.lab, colorspace.srgb_to_lab(palette).astype(np.float32)[labels])
    squared_error = float(np.dot(((colors.astype(np.float64) - palette[labels]) ** 2).sum(axis=1), counts))
    return PaletteFit(
        palette=palette,
        shares=totals[order] / counts.sum(),
        labels=labels.astype(np.uint8),
        psnr=psnr(squared_error, counts.sum()),
        delta_e=float(np.average(differences.astype(np.float64), weights=counts)),
    )


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


def index_map(keys: np.ndarray, hist: Histogram, result: PaletteFit) -> np.ndarray:
    """Map every pixel key to its palette index with a lookup table."""
    lut = np.zeros(1 << 24, dtype=np.uint8)
    lut[hist.keys] = result.labels
    return lut[keys]
