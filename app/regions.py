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

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# Index given to transparent pixels while labelling: they form regions that never merge.
CLEAR = 256


@dataclass(frozen=True)
class Regions:
    """Every pixel's region, numbered in the order of their first pixel (raster order)."""

    of_pixel: np.ndarray  # (H, W) int32
    count: int
    index: np.ndarray  # (count,) palette index of each region; CLEAR for transparent ones
    size: np.ndarray  # (count,) int64 pixels
    run_starts: np.ndarray  # (H, W) bool, True where a horizontal run of one index begins

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
    values = indices if alpha is None or not (alpha == 0).any() else np.where(alpha == 0, CLEAR, indices.astype(np.int32))
    height, width = values.shape
    starts = np.ones(values.shape, dtype=bool)
    np.not_equal(values[:, 1:], values[:, :-1], out=starts[:, 1:])
    runs = np.cumsum(starts.ravel(), dtype=np.int32).reshape(height, width)
    runs -= 1
    run_count = int(runs[-1, -1]) + 1
    # Two runs in neighbouring rows join where they overlap with one index; every
    # overlap begins where either row starts a run, so those columns suffice.
    link = (values[1:] == values[:-1]) & (starts[1:] | starts[:-1])
    upper, lower = runs[:-1][link], runs[1:][link]
    graph = coo_matrix((np.ones(len(upper), np.int8), (upper, lower)), shape=(run_count, run_count))
    count, region_of_run = connected_components(graph, directed=False)
    region_of_run = region_of_run.astype(np.int32)
    first_pixels = np.flatnonzero(starts)
    run_lengths = np.diff(first_pixels, append=starts.size)
    index = np.zeros(count, dtype=np.int32)
    index[region_of_run] = values.ravel()[first_pixels]
    size = np.bincount(region_of_run, weights=run_lengths, minlength=count).astype(np.int64)
    return Regions(of_pixel=region_of_run[runs], count=count, index=index, size=size, run_starts=starts)


def borders(regions: Regions, keep: np.ndarray) -> Borders:
    """The borders between different regions, for pairs where `keep` holds for at least one side.

    Transparent regions share no borders: nothing merges into or out of them.
    """
    of_pixel, starts = regions.of_pixel.ravel(), regions.run_starts
    width = starts.shape[1]
    # Vertical borders: one pixel edge between columns c-1 and c wherever a run starts.
    inner = np.flatnonzero(starts)
    inner = inner[inner % width != 0]
    left, right = of_pixel[inner - 1], of_pixel[inner]
    # Horizontal borders: between rows r and r+1 the pair of regions stays the same
    # along a segment that neither row breaks with a run start; count it once, with its length.
    segment = starts[1:] | starts[:-1]
    positions = np.flatnonzero(segment)
    lengths = np.diff(positions, append=segment.size)
    top, bottom = of_pixel[positions], of_pixel[positions + width]
    first = np.concatenate([left, top])
    second = np.concatenate([right, bottom])
    length = np.concatenate([np.ones(len(left), dtype=np.int64), lengths])
    usable = keep & regions.visible
    wanted = (first != second) & (usable[first] | usable[second]) & regions.visible[first] & regions.visible[second]
    return merge_borders(first[wanted], second[wanted], length[wanted], regions.count)


def merge_borders(first: np.ndarray, second: np.ndarray, length: np.ndarray, count: int) -> Borders:
    """Both directions of every pair, duplicates summed, self-pairs dropped.

    A sparse matrix does the grouping: rows bucket in linear time, where a
    sort of the pair keys would cost several times more.
    """
    distinct = first != second
    first, second, length = first[distinct], second[distinct], length[distinct].astype(np.int64)
    matrix = coo_matrix((np.concatenate([length, length]),
                         (np.concatenate([first, second]), np.concatenate([second, first]))),
                        shape=(count, count)).tocsr()
    matrix.sum_duplicates()
    source = np.repeat(np.arange(count, dtype=np.int64), np.diff(matrix.indptr))
    return Borders(source=source, target=matrix.indices.astype(np.int64), length=matrix.data)
