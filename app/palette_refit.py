"""The palette refit after cleaning: one Lloyd step with the labels fixed, worked from sums.

Each palette entry becomes the mean of the original pixels that now carry
it (app/cleaning.py). The entries' starting sums come from the photo's
histogram; the specks filled before labelling (app/specks.py) and the
regions that merged then move their pixels between entries. Entries that
round to one color become one, and the palette is sorted by share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app import histograms
from app.regions import Regions


def entry_sums(hist: histograms.Histogram, color_labels: np.ndarray, entries: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and summed colors of each palette entry before cleaning, from the histogram."""
    counts = np.bincount(color_labels, weights=hist.counts, minlength=entries)
    sums = np.stack([np.bincount(color_labels, weights=hist.counts * hist.colors[:, c], minlength=entries)
                     for c in range(3)], axis=1)
    return counts, sums


def move_specks(counts: np.ndarray, entry_sums: np.ndarray, specks, keys: np.ndarray, filled: np.ndarray) -> None:
    """Move the specks' pixels, in the entries' pixel counts and color sums, from their own entry to the one
    they were filled with: the sums then describe the map that was labelled."""
    if not len(specks):
        return
    colors = histograms.unpack(keys[specks.position]).astype(np.float64)
    entries = len(counts)
    for sign, entry in ((-1, specks.index), (1, filled.ravel()[specks.position])):
        counts += sign * np.bincount(entry, minlength=entries)
        for c in range(3):
            entry_sums[:, c] += sign * np.bincount(entry, weights=colors[:, c], minlength=entries)


@dataclass(frozen=True)
class Refit:
    """The refitted palette, sorted by share (ties by color), and where each entry before it went."""

    palette: np.ndarray  # (entries after, 3) uint8
    counts: np.ndarray  # (entries after,) pixels of each entry, in the palette's order
    sums: np.ndarray  # (entries after, 3) summed colors of each entry's pixels
    new_of_old: np.ndarray  # (entries before,) intp: each entry's place in the refitted palette
    renumber: np.ndarray  # new_of_old as uint8, to renumber a map
    joined: bool  # two refitted entries rounded to one color: regions of those colors may now touch


def refit_palette(counts: np.ndarray, entry_sums: np.ndarray, regions: Regions, moved_region: np.ndarray,
                  final_index: np.ndarray, sums: np.ndarray) -> Refit:
    """The palette refitted to the cleaned regions, from the entries' pixel counts and color sums before
    merging (changed in place) and the sums of the colors of the regions that moved (`sums`)."""
    # One Lloyd step with the labels fixed: each entry becomes the mean of its pixels.
    entries = len(counts)
    moved = np.flatnonzero(moved_region)
    for sign, entry in ((-1, regions.index[moved]), (1, final_index[moved])):
        counts += sign * np.bincount(entry, weights=regions.size[moved], minlength=entries)
        for c in range(3):
            entry_sums[:, c] += sign * np.bincount(entry, weights=sums[moved, c], minlength=entries)
    used = np.flatnonzero(counts > 0)
    refit = np.clip(np.rint(entry_sums[used] / counts[used, None]), 0, 255).astype(np.uint8)
    # Entries that rounded to one color become one; then sort by share, ties by color.
    refit_keys, joined = np.unique(histograms.pack(refit), return_inverse=True)
    totals = np.bincount(joined, weights=counts[used], minlength=len(refit_keys))
    order = np.lexsort((refit_keys, -totals))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new_of_old = np.zeros(entries, dtype=np.intp)
    new_of_old[used] = rank[joined]
    final_palette = histograms.unpack(refit_keys[order])
    sorted_sums = np.zeros((len(final_palette), 3))
    np.add.at(sorted_sums, new_of_old[used], entry_sums[used])
    return Refit(palette=final_palette, counts=totals[order], sums=sorted_sums, new_of_old=new_of_old,
                 renumber=new_of_old.astype(np.uint8), joined=len(refit_keys) < len(used))
