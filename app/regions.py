"""Regions of an index map: 4-connected labelling and the graph of small regions.

Pure numpy and scipy. label_regions() numbers every 4-connected patch of one
palette index; region_graph() gathers, for the regions a cleaning has to
touch, their sizes, the sums of their original pixels and the borders they
share. app/cleaning.py merges on that graph.

Why runs: a 12 MP map has a few hundred thousand regions but only a couple
of million horizontal runs of one index. Linking the runs that touch
vertically and taking connected components of that small graph labels every
color at once, instead of one scipy.ndimage.label pass per color.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Index given to transparent pixels while labelling: they form regions that never merge.
CLEAR = 256


@dataclass(frozen=True)
class Regions:
    """Every pixel's region, numbered in the order of their first pixel (raster order)."""

    runs: np.ndarray  # (H, W) int32, each pixel's horizontal run of one index, numbered in raster order
    count: int
    index: np.ndarray  # (count,) palette index of each region; CLEAR for transparent ones
    size: np.ndarray  # (count,) int64 pixels
    run_starts: np.ndarray  # (H, W) bool, True where a horizontal run of one index begins
    # Flat positions (in rows 0..H-2) where a run starts in that row or the next: along the stretch
    # from one to the next, the pair of pixels one above the other stays in the same two runs.
    stretch_starts: np.ndarray
    run_first: np.ndarray  # (runs,) flat position where each run begins, in raster order
    run_region: np.ndarray  # (runs,) int32 region of each run

    @cached_property
    def of_pixel(self) -> np.ndarray:
        """(H, W) int32 region of every pixel (made on first use: cleaning reads regions from the runs)."""
        return self.run_region[self.runs]

    def at(self, positions: np.ndarray) -> np.ndarray:
        """The regions of the pixels at these flat positions."""
        return self.run_region[self.runs.ravel()[positions]]

    def pixels_of(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat positions (ascending) of the pixels of the regions where `wanted` holds, and their regions.

        Read from the runs, so the cost follows those pixels, not the image.
        """
        runs = np.flatnonzero(wanted[self.run_region])
        lengths = np.diff(self.run_first, append=self.runs.size)[runs]
        ends = np.cumsum(lengths)
        positions = np.arange(ends[-1] if len(ends) else 0) + np.repeat(self.run_first[runs] - (ends - lengths), lengths)
        return positions, np.repeat(self.run_region[runs], lengths)

    @property
    def visible(self) -> np.ndarray:
        return self.index != CLEAR


@dataclass(frozen=True)
class Borders:
    """Shared borders between regions, each pair listed in both directions, sorted by (source, target)."""

    source: np.ndarray  # (e,) int64 region
    target: np.ndarray  # (e,) int64 region
    length: np.ndarray  # (e,) int64 pixel edges the two regions share


def label_regions(indices: np.ndarray, alpha: np.ndarray | None = None) -> Regions:
    """Number the 4-connected regions of one index; fully transparent pixels form regions of CLEAR."""
    from scipy.sparse import coo_matrix  # on first use: scipy's import is a good part of a command's start-up
    from scipy.sparse.csgraph import connected_components

    values = indices if alpha is None or not (alpha == 0).any() else np.where(alpha == 0, CLEAR, indices.astype(np.int32))
    height, width = values.shape
    starts = np.ones(values.shape, dtype=bool)
    np.not_equal(values[:, 1:], values[:, :-1], out=starts[:, 1:])
    first_pixels = np.flatnonzero(starts)
    run_lengths = np.diff(first_pixels, append=starts.size)
    run_count = len(first_pixels)
    runs = np.repeat(np.arange(run_count, dtype=np.int32), run_lengths)  # several times faster than a cumsum
    # Two runs in neighbouring rows join where they overlap with one index; every
    # overlap begins a stretch, so the stretch starts suffice.
    stretches = np.flatnonzero(starts[1:] | starts[:-1])
    flat = values.ravel()
    joined = stretches[flat[stretches] == flat[stretches + width]]
    upper, lower = runs[joined], runs[joined + width]
    graph = coo_matrix((np.ones(len(upper), np.int8), (upper, lower)), shape=(run_count, run_count))
    count, region_of_run = connected_components(graph, directed=False)
    region_of_run = region_of_run.astype(np.int32)
    index = np.zeros(count, dtype=np.int32)
    index[region_of_run] = flat[first_pixels]
    size = np.bincount(region_of_run, weights=run_lengths, minlength=count).astype(np.int64)
    return Regions(runs=runs.reshape(height, width), count=count, index=index, size=size,
                   run_starts=starts, stretch_starts=stretches, run_first=first_pixels, run_region=region_of_run)


def borders(regions: Regions, keep: np.ndarray) -> Borders:
    """The borders between different regions, for pairs where `keep` holds for at least one side.

    Transparent regions share no borders: nothing merges into or out of them.
    """
    starts = regions.run_starts
    width = starts.shape[1]
    # Vertical borders: one pixel edge between columns c-1 and c wherever a run starts.
    inner = np.flatnonzero(regions.run_first % width)
    left, right = regions.run_region[inner - 1], regions.run_region[inner]
    # Horizontal borders: one per stretch whose two rows lie in different regions, as long as the stretch.
    stretches = regions.stretch_starts
    lengths = np.diff(stretches, append=(starts.shape[0] - 1) * width)
    top, bottom = regions.at(stretches), regions.at(stretches + width)
    across = top != bottom
    first = np.concatenate([left, top[across]])
    second = np.concatenate([right, bottom[across]])
    length = np.concatenate([np.ones(len(left), dtype=np.int32), lengths[across].astype(np.int32)])
    wanted = keep[first] | keep[second]
    if not regions.visible.all():
        wanted &= regions.visible[first] & regions.visible[second]
    return merge_borders(first[wanted], second[wanted], length[wanted], regions.count)


def merge_borders(first: np.ndarray, second: np.ndarray, length: np.ndarray, count: int) -> Borders:
    """Both directions of every pair, duplicates summed, self-pairs dropped, sorted by (source, target).

    Many pairs group in linear time in a sparse matrix, where sorting their
    keys costs several times more: each pair once (lower number first) to sum
    its duplicates, then both directions of the distinct pairs. A few pairs
    sort faster than a matrix of `count` rows is made.
    """
    from scipy.sparse import coo_matrix

    # 32-bit numbers and lengths: a 12 MP photo's borders are millions of pairs, and this halves them.
    distinct = first != second
    low = np.minimum(first[distinct], second[distinct]).astype(np.int32)
    high = np.maximum(first[distinct], second[distinct]).astype(np.int32)
    length = length[distinct].astype(np.int32)
    if 8 * len(low) < count:
        directed = np.concatenate([low.astype(np.int64) * count + high, high.astype(np.int64) * count + low])
        keys, inverse = np.unique(directed, return_inverse=True)
        summed = np.bincount(inverse, weights=np.concatenate([length, length]), minlength=len(keys)).astype(np.int64)
        return Borders(source=keys // count, target=keys % count, length=summed)
    pairs = coo_matrix((length, (low, high)), shape=(count, count)).tocsr()
    pairs.sum_duplicates()
    low = np.repeat(np.arange(count, dtype=np.int32), np.diff(pairs.indptr))
    high, length = pairs.indices, pairs.data
    both = coo_matrix((np.concatenate([length, length]), (np.concatenate([low, high]), np.concatenate([high, low]))),
                      shape=(count, count)).tocsr()
    both.sort_indices()  # the pairs are distinct now: nothing to sum
    source = np.repeat(np.arange(count, dtype=np.int64), np.diff(both.indptr))
    return Borders(source=source, target=both.indices.astype(np.int64), length=both.data.astype(np.int64))
