"""A palette's fit to a photo: entries sorted by share, each color's entry, PSNR and mean CIEDE2000."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from app import ciede2000, colorspace, histograms, libraries, parallel


# measure_map sums the error over blocks of about this many pixels.
MEASURE_BLOCK_PIXELS = 1 << 20


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
        return hex_codes(self.palette)


def hex_codes(palette: np.ndarray) -> list[str]:
    """#rrggbb of each row of an (m, 3) uint8 palette."""
    return ["#%02x%02x%02x" % tuple(int(v) for v in row) for row in palette]


def summarize(
    hist: histograms.Histogram,
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
    counts = hist.counts
    # Merge entries that rounded to the same 8-bit color, keep only used ones.
    entry_keys = histograms.pack(np.asarray(palette, dtype=np.uint8))
    entry_totals = np.bincount(labels, weights=hist.weights, minlength=len(entry_keys))
    present = np.flatnonzero(entry_totals)  # every color counts at least one pixel
    used, merged = np.unique(entry_keys[present], return_inverse=True)
    remap = np.zeros(len(entry_keys), dtype=np.intp)
    remap[present] = merged
    totals = np.bincount(remap[present], weights=entry_totals[present], minlength=len(used))
    order, rank = _by_share(used, totals)
    palette = histograms.unpack(used[order])
    # One look-up per color (old entry -> merged -> rank), straight into the fit's bytes.
    labels = rank[remap].astype(np.uint8)[labels]
    if squared_error is None:
        squared_error = summed_squared_error(hist, palette, labels)
    if differences is not None:
        measured = {"delta_e": _mean_over_pixels(hist, differences)}
    elif measure_delta_e:
        measured = {"delta_e": mean_delta_e(hist, palette, labels)}
    else:
        measured = {"measure_delta_e": lambda: mean_delta_e(hist, palette, labels)}
    return PaletteFit(palette=palette, shares=totals[order] / counts.sum(), labels=labels,
                      psnr=psnr(squared_error, counts.sum()), **measured)


def summed_squared_error(hist: histograms.Histogram, palette: np.ndarray, labels: np.ndarray) -> float:
    """The squared RGB error summed over pixels: each color's error made by the cores for their part of the
    colors (half the time at 12 MP), then one sum over them."""
    colors, entries = hist.colors, np.asarray(palette, dtype=np.uint8)
    errors = np.empty(len(colors))

    def part(first: int, last: int) -> None:
        errors[first:last] = ((colors[first:last].astype(np.float64) - entries[labels[first:last]]) ** 2).sum(axis=1)

    parallel.for_ranges(len(colors), part)
    return float(np.dot(errors, hist.counts))


def mean_delta_e(hist: histograms.Histogram, palette: np.ndarray, labels: np.ndarray) -> float:
    """The mean CIEDE2000 over visible pixels when each histogram color takes its entry of the palette.

    The number find_palette measured during its last assignment (in the
    same float32 CIELAB, the same parts per core, and one thread for the sum),
    so a figure measured later is the figure measured then.
    """
    with libraries.single_threaded():
        lab_palette = colorspace.srgb_to_lab(palette).astype(np.float32)
        return _mean_over_pixels(hist, ciede2000.to_entries(hist.lab, lab_palette, labels))


def _mean_over_pixels(hist: histograms.Histogram, differences: np.ndarray) -> float:
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
    order, rank = _by_share(histograms.pack(palette), totals)
    used = totals[order] > 0
    order, keep = order[used], np.cumsum(used) - 1
    rank = keep[rank].astype(np.uint8)
    sample_rgb, sample_idx = np.concatenate(sample_rgb), np.concatenate(sample_idx)
    result = PaletteFit(
        palette=palette[order],
        shares=totals[order] / visible_count,
        labels=np.zeros(0, np.uint8),
        psnr=psnr(sse, visible_count),
        delta_e=float(ciede2000.between_srgb(sample_rgb, palette[sample_idx]).mean()),
    )
    return result, rank[indices]


def psnr(squared_error: float, pixels: int) -> float:
    """PSNR in dB of an 8-bit RGB result from its summed squared error; inf when exact."""
    mse = squared_error / (3.0 * pixels)
    return math.inf if mse <= 0 else 10.0 * math.log10(255.0**2 / mse)


def lookup_table(hist: histograms.Histogram, result: PaletteFit) -> np.ndarray:
    """The palette index of each of the 2**24 color keys (those the photo lacks map to 0)."""
    table = np.zeros(1 << 24, dtype=np.uint8)
    table[hist.keys] = result.labels
    return table


def index_map(keys: np.ndarray, hist: histograms.Histogram, result: PaletteFit) -> np.ndarray:
    """Map every pixel key to its palette index with a lookup table."""
    return lookup_table(hist, result)[keys]
