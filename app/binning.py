"""Coarse and fine RGB bins of a photo's colors, on which the clustering starts before it sees every color."""

from __future__ import annotations

import numpy as np

from app import histograms, kmeans, lattice


# Above this many distinct colors the clustering starts on the means of coarse RGB bins
# (COARSE_BITS per channel, finer until there are SEED_BINS_PER_CENTER bins a center), goes
# on with Lloyd steps on the means of fine bins (FINE_BITS per channel), and ends with
# clustering.EXACT_STEPS Lloyd steps over every color.
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


Bins = tuple[np.ndarray, np.ndarray, lattice.Lattice]  # the bins' weighted means, their weights and lattice


def fine(hist: histograms.Histogram, color_space: str, k: int | None = None) -> Bins:
    """The fine bins: FINE_BITS, or for k the coarsest bins (one channel at a time) with at least
    FINE_BINS_PER_CENTER a center, when those are coarser."""
    if k is None:
        return means(hist, color_space, FINE_BITS)
    bits = coarse_bits(hist, FINE_BINS_PER_CENTER * k, 0, by_channel=True)
    return means(hist, color_space, FINE_BITS if bits is None or sum(bits) >= sum(FINE_BITS) else bits)


def coarse(
    hist: histograms.Histogram, color_space: str, min_bins: int, exact_limit: int = EXACT_POINTS_LIMIT,
    by_channel: bool = False,
) -> Bins:
    """The histogram in that space, as the means of the coarsest RGB bins of which at least `min_bins` are occupied.

    Up to `exact_limit` colors, the colors themselves. by_channel: the bins
    get finer one channel at a time (_finer), else on all three at once.
    """
    bits = coarse_bits(hist, min_bins, exact_limit, by_channel)
    if bits is None:
        return hist.points(color_space).astype(np.float32), hist.weights, hist.lattice(color_space)
    return means(hist, color_space, bits)


def coarse_bits(hist: histograms.Histogram, min_bins: int, exact_limit: int, by_channel: bool = False) -> Bits | None:
    """The bits per channel of the coarse bins coarse() takes; None for the colors themselves."""
    if hist.unique_colors <= exact_limit:
        return None
    bits = (COARSE_BITS,) * 3
    while occupied(hist, bits) < min_bins:
        if min(bits) == MAX_COARSE_BITS:
            return None
        bits = _finer(hist, bits) if by_channel else tuple(b + 1 for b in bits)
    return bits


def _finer(hist: histograms.Histogram, bits: Bits) -> Bits:
    """One bit more on the channel, among those with the fewest bits, that gives the most occupied bins
    (green, then red, then blue on a tie)."""
    fewest = min(bits)
    options = [tuple(b + (channel == c) for c, b in enumerate(bits))
               for channel in (1, 0, 2) if bits[channel] == fewest]
    return max(options, key=lambda option: occupied(hist, option))


def occupied(hist: histograms.Histogram, bits: Bits) -> int:
    """How many RGB bins at `bits` hold a color of the photo.

    Kept: an int, where the bins' numbers are 4 bytes a color.
    """
    return hist.reuse(("occupied", bits), lambda: int(np.count_nonzero(np.bincount(_bin_numbers(hist.keys, bits)))))


def means(hist: histograms.Histogram, color_space: str, bits: Bits) -> Bins:
    """The weighted means (float32) of the RGB bins at `bits` (red, green, blue) in that space, their weights
    and lattice.

    Kept for the photo's next palettes. The lattice is 8 times finer than
    the colors' own, as the means fall between lattice points.
    """
    def make():
        labels, groups = _coarse_bins(hist, bits)
        if color_space == "rgb":  # the sums group_means would make are those of the rows kept for the exact step
            means, totals = kmeans.row_means(rgb_rows(hist), labels, groups)
        else:
            means, totals = kmeans.group_means(hist.points(color_space), hist.weights, labels, groups)
        return means.astype(np.float32), totals, lattice.Lattice.of(means, 8 * histograms.LATTICE_SCALES[color_space])

    return hist.reuse(("bins", color_space, bits), make)


def _coarse_bins(hist: histograms.Histogram, bits: Bits) -> tuple[np.ndarray, int]:
    """Each color's coarse RGB bin at `bits` (red, green, blue), numbered among the occupied bins, and their count.

    Not kept: only the bins' means are (means()), and the numbers cost 4 bytes a
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
            return kmeans.group_means(points, weights, lookup[bins], len(used))
    return points, weights


def rgb_rows(hist: histograms.Histogram) -> np.ndarray:
    """weighted_rows of the photo's colors in RGB, kept: every RGB palette's exact step sums them, and the
    bins' means."""
    return hist.reuse(("rows", "rgb"), lambda: kmeans.weighted_rows(hist.colors, hist.weights))
