"""The error-versus-k curve: what each added color buys, for k = 2 to 32.

It is an estimate, made in a fraction of a second on a 12 MP photo: it
works from the photo's color histogram (already counted, never decoded
again) reduced to 5-bit-per-channel bins. Each bin keeps its pixel count,
its mean color and the squared spread of its colors around that mean, so
the PSNR counts the error inside bins too; the mean CIEDE2000 is taken
between bin means and their palette colors. The clustering is one chain:
k + 1 starts from the centers found for k plus the bin that contributes
most error, then a few weighted Lloyd steps. Adding a center never raises
the error in the clustering space, so the curve rises steadily; up to
FRESH_UP_TO_K, a few fresh k-means starts compete with the chain, since
a greedy chain can get stuck where each color matters most. In a
perceptual space the bins take their entry as quantize.find_palette assigns
colors (smallest CIEDE2000), and a chain in RGB competes, as there. The
exact figures for a chosen k are those of quantize.find_palette (/api/quantize).

suggested_k is the knee of PSNR against k by the Kneedle method (Satopää
et al. 2011): with both axes scaled to 0..1, the k where the curve stands
furthest above the straight line from its first to its last point, taken
on the running maximum so that a small dip of the estimate cannot move it.
A photo that some k in range reproduces exactly gets the smallest such k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app import binning, ciede2000, colorspace, histograms, kmeans, libraries, perceptual_match, quantize, summary

CURVE_KS = tuple(range(2, 33))
# Up to this many distinct colors, the curve clusters the colors themselves.
EXACT_COLORS_LIMIT = 4096
LLOYD_STEPS = 20
FRESH_UP_TO_K = 12
FRESH_STARTS = 3


@dataclass(frozen=True)
class CurvePoint:
    k: int
    psnr: float  # dB; inf when the estimate reproduces the photo exactly
    delta_e: float  # mean CIEDE2000


@dataclass(frozen=True)
class Curve:
    points: tuple[CurvePoint, ...]
    suggested_k: int

    def as_json(self) -> dict:
        return {
            "points": [
                {"k": p.k, "psnr": None if math.isinf(p.psnr) else round(p.psnr, 3), "delta_e": round(p.delta_e, 4)}
                for p in self.points
            ],
            "suggested_k": self.suggested_k,
        }


@dataclass(frozen=True)
class _Bins:
    rgb: np.ndarray  # (n, 3) float mean color of each bin
    weights: np.ndarray  # (n,) pixels in each bin
    spread: float  # sum over all pixels of |color - its bin mean|^2


def error_curve(hist: histograms.Histogram, color_space: str = "rgb", ks: tuple[int, ...] = CURVE_KS) -> Curve:
    """PSNR and mean CIEDE2000 at every k in ks (ascending, from 2), and the suggested k."""
    if color_space not in quantize.COLOR_SPACES:
        raise ValueError(f"color_space must be one of {', '.join(quantize.COLOR_SPACES)}, got {color_space!r}")
    if not ks or list(ks) != sorted(set(ks)) or ks[0] < quantize.MIN_K:
        raise ValueError(f"ks must be distinct and ascending from {quantize.MIN_K}, got {ks!r}")
    if hist.unique_colors == 0:
        raise ValueError("the image has no visible pixels to take colors from")
    bins = _bin(hist)
    bin_lab = colorspace.srgb_to_lab(np.rint(bins.rgb).astype(np.uint8))
    # As quantize.find_palette does: a perceptual space competes with RGB, and the
    # palette with the lower mean CIEDE2000 under perceptual assignment wins.
    spaces = ("rgb",) if color_space == "rgb" else (color_space, "rgb")
    with libraries.single_threaded():  # tiny matrices: BLAS threads cost more than they give
        chains = [_palettes(bins, space, ks[-1]) for space in spaces]
        points = [_measure(bins, bin_lab, [chain[k] for chain in chains], k) for k in ks]
    return Curve(tuple(points), suggest_k([p.k for p in points], [p.psnr for p in points]))


def _measure(bins: _Bins, bin_lab: np.ndarray, palettes: list[np.ndarray], k: int) -> CurvePoint:
    """PSNR and mean CIEDE2000 of the bins under the best of the candidate palettes."""
    if len(palettes) == 1:  # RGB: the nearest entry in RGB, as quantize.find_palette assigns
        palette = palettes[0]
        labels = kmeans.nearest(bins.rgb, palette)
        differences = ciede2000.between(bin_lab, colorspace.srgb_to_lab(palette)[labels])
    else:
        assigned = [(p, *perceptual_match.nearest_perceptual(bin_lab, p)) for p in palettes]
        palette, labels, differences = min(assigned, key=lambda a: float(np.dot(a[2], bins.weights)))
    sse = float(np.dot(((bins.rgb - palette[labels]) ** 2).sum(axis=1), bins.weights)) + bins.spread
    psnr = summary.psnr(sse, bins.weights.sum())
    return CurvePoint(k, psnr, float(np.average(differences, weights=bins.weights)))


def _palettes(bins: _Bins, color_space: str, last_k: int) -> dict[int, np.ndarray]:
    """One chain of warm-started k-means in the given space: the sRGB palette at every k up to last_k."""
    space = colorspace.SPACES[color_space]
    points = bins.rgb if color_space == "rgb" else space.from_srgb(np.rint(bins.rgb).astype(np.uint8))
    centers = np.average(points, axis=0, weights=bins.weights)[None, :]
    palettes = {}
    for k in range(2, last_k + 1):
        centers = _lloyd(points, bins.weights, _add_center(points, bins.weights, centers))
        if k <= min(FRESH_UP_TO_K, len(points) - 1):
            # Small k is where a greedy chain gets stuck; a few fresh starts are cheap there.
            fresh = libraries.sklearn_cluster().KMeans(k, n_init=FRESH_STARTS, random_state=0).fit(points, sample_weight=bins.weights)
            if fresh.inertia_ < _error(points, bins.weights, centers):
                centers = fresh.cluster_centers_
        palettes[k] = space.to_srgb(centers)
    return palettes


def _error(points: np.ndarray, weights: np.ndarray, centers: np.ndarray) -> float:
    labels = kmeans.nearest(points, centers)
    return float(np.dot(weights, ((points - centers[labels]) ** 2).sum(axis=1)))


def suggest_k(ks: list[int], psnr: list[float]) -> int:
    """The knee of PSNR against k (Kneedle), or the first k that is exact."""
    exact = [k for k, value in zip(ks, psnr) if math.isinf(value)]
    if exact:
        return exact[0]
    if len(ks) < 3:
        return ks[0]
    x = np.asarray(ks, dtype=np.float64)
    # The running maximum: a small dip of the estimate must not move the knee.
    y = np.maximum.accumulate(np.asarray(psnr, dtype=np.float64))
    rise = y[-1] - y[0]
    if rise <= 1e-9:
        return ks[0]  # flat: more colors buy nothing
    difference = (y - y[0]) / rise - (x - x[0]) / (x[-1] - x[0])
    if difference.max() <= 1e-9:
        return ks[-1]  # no bend: every color still buys as much as the last
    return int(x[np.argmax(difference)])


def _bin(hist: histograms.Histogram) -> _Bins:
    colors = hist.colors
    values = colors.astype(np.float64)
    weights = hist.counts.astype(np.float64)
    means, totals = binning.coarsen(colors, values, weights, exact_limit=EXACT_COLORS_LIMIT)
    # sum w|x - m|^2 = sum w|x|^2 - W|m|^2 within each bin.
    spread = float(np.dot(weights, (values**2).sum(axis=1)) - np.dot(totals, (means**2).sum(axis=1)))
    return _Bins(means, totals, max(spread, 0.0))


def _add_center(points: np.ndarray, weights: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Add the point that contributes most error; none when every point is a center already."""
    labels = kmeans.nearest(points, centers)
    cost = weights * ((points - centers[labels]) ** 2).sum(axis=1)
    worst = int(np.argmax(cost))
    if cost[worst] <= 0:
        return centers
    return np.vstack([centers, points[worst]])


def _lloyd(points: np.ndarray, weights: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """A few weighted Lloyd steps; a center left without points stays put."""
    labels = None
    for _ in range(LLOYD_STEPS):
        new_labels = kmeans.nearest(points, centers)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        centers = kmeans.weighted_means(points, weights, labels, centers)
    return centers
