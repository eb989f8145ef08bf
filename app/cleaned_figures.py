"""Figures of a cleaned image, exact and worked from sums and pairs: PSNR and mean CIEDE2000.

The PSNR comes from the refitted entries' sums (app/palette_refit.py). For
CIEDE2000 a color's pixels keep the entry the color had before cleaning,
except those of merged regions, counted as distinct (color, new entry)
pairs of their own (MovedPairs).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from app import ciede2000, colorspace, histograms, parallel, summary
from app.regions import first_of_each


def psnr_from_sums(hist: histograms.Histogram, palette: np.ndarray, entry_sums: np.ndarray,
                   entry_counts: np.ndarray) -> float:
    """Exact PSNR from sums: sum |x - p|^2 = sum |x|^2 - sum over entries of (2 p.S - n |p|^2)."""
    p = palette.astype(np.float64)
    error = sum_of_squares(hist) - float((2 * (p * entry_sums).sum(axis=1) - entry_counts * (p**2).sum(axis=1)).sum())
    return summary.psnr(max(error, 0.0), hist.pixels)


def sum_of_squares(hist: histograms.Histogram) -> float:
    """sum |x|^2 over the photo's pixels, made once a photo (cleaning makes it beside the merging)."""
    def made() -> float:
        colors = hist.colors.astype(np.float64)
        return float(np.dot((colors**2).sum(axis=1), hist.counts))

    return hist.reuse(("sum of squares",), made)


@dataclass(frozen=True)
class MovedPairs:
    """The pixels of merged regions as distinct (histogram color, new entry) pairs, and how many of each."""

    colors: np.ndarray  # (pairs,) position in the histogram
    entries: np.ndarray  # (pairs,) new palette entry
    counts: np.ndarray  # (pairs,) pixels
    per_color: np.ndarray  # (histogram colors,) moved pixels of each color

    @classmethod
    def of(cls, keys: np.ndarray, entries: np.ndarray, hist: histograms.Histogram) -> MovedPairs:
        return cls.from_counted([counted_pairs(keys, entries)], hist)

    @classmethod
    def from_counted(cls, parts: list[tuple[np.ndarray, np.ndarray]], hist: histograms.Histogram) -> MovedPairs:
        """The pairs of several parts of the moved pixels, each counted by counted_pairs()."""
        pairs, counts = parts[0]
        if len(parts) > 1:  # a pair found in several parts is counted once, with their counts summed
            pairs, counts = np.concatenate([p for p, _ in parts]), np.concatenate([c for _, c in parts])
            order = np.argsort(pairs, kind="stable")
            pairs = pairs[order]
            starts = first_of_each(pairs)
            counts = np.add.reduceat(counts[order], starts) if len(starts) else counts
            pairs = pairs[starts]
        # A color has a pair or two on average: each is found once in the histogram.
        pair_colors = pairs >> 8
        firsts = first_of_each(pair_colors)
        colors = np.repeat(np.searchsorted(hist.keys, pair_colors[firsts]), np.diff(firsts, append=len(pairs)))
        return cls(colors=colors, entries=(pairs & 255).astype(np.intp), counts=counts,
                   per_color=np.bincount(colors, weights=counts, minlength=hist.unique_colors))


def counted_pairs(keys: np.ndarray, entries: np.ndarray, keys_owned: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (color, entry) pairs of some pixels, ascending, as 32-bit numbers; and how many of each.

    With keys_owned (uint32 keys the caller made and lets go of), the pairs are made in their place.
    """
    pairs = keys if keys_owned and keys.dtype == np.uint32 else keys.astype(np.uint32)
    pairs <<= 8  # a 24-bit color and an 8-bit entry: one 32-bit number
    np.bitwise_or(pairs, entries, out=pairs, casting="unsafe")  # entries are below 256, whatever their type
    pairs.sort()
    starts = first_of_each(pairs)
    return pairs[starts], np.diff(starts, append=len(pairs))


def mean_delta_e(hist: histograms.Histogram, usual_entry: np.ndarray, palette: np.ndarray,
                 moved: MovedPairs | Future) -> float:
    """Exact mean CIEDE2000 over visible pixels.

    A color's pixels keep the entry the color had before cleaning, except
    those of merged regions: each color counts once at its usual entry, and
    the merged pixels as (color, entry) pairs of their own. `moved` is the
    MovedPairs, or a future of them still being made in the pool: then the
    usual entries are measured meanwhile, every color.
    """
    palette_lab = colorspace.srgb_to_lab(palette).astype(np.float32)
    usual_lab = palette_lab[usual_entry]
    # Either way the same bytes: CIEDE2000 is taken pair by pair, and a color whose every pixel moved weighs
    # nothing at its usual entry (its finite difference times 0), so skipping it changes no sum.
    if isinstance(moved, MovedPairs):  # colors whose every pixel moved weigh nothing at their usual entry: skipped
        kept = np.flatnonzero(hist.counts > moved.per_color)
        usual_delta = np.zeros(len(usual_lab), dtype=np.float32)
        usual_delta[kept] = ciede2000.between(hist.lab[kept], usual_lab[kept])
    else:  # measured on this core while the pool makes the pairs (a part handed to it would wait behind them)
        with parallel.one_part():
            usual_delta = ciede2000.between(hist.lab, usual_lab)
        moved = moved.result()
    moved_delta = _differences_of_pairs(hist.lab, palette_lab, moved)
    total = np.dot(usual_delta.astype(np.float64), hist.counts - moved.per_color)
    total += np.dot(moved_delta.astype(np.float64), moved.counts)
    return float(total / hist.pixels)


def _differences_of_pairs(lab: np.ndarray, palette_lab: np.ndarray, moved: MovedPairs) -> np.ndarray:
    """CIEDE2000 of each moved pair, its color's and its entry's CIELAB looked up by each core for its own part
    (one gather before the pass took as long as half of it)."""
    out = np.empty(len(moved.colors), dtype=np.result_type(lab.dtype, palette_lab.dtype, np.float32))

    def part(first: int, last: int) -> None:
        with parallel.one_part():  # this part is already one core's share
            out[first:last] = ciede2000.between(lab[moved.colors[first:last]], palette_lab[moved.entries[first:last]])

    parallel.for_ranges(len(out), part)
    return out
