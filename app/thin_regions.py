"""Thin regions: merging those with no point far enough from their border.

Pure numpy and scipy. A region's depth is the largest distance from one
of its pixels to its border (Euclidean, pixel centres, as the distance
transform measures it; the image edge counts as border): the radius of the
largest disc it holds. Area cannot promise depth, and a paint-by-number
template needs it: its number sits at the deepest point, in a font that
fits there (app/paint_by_number.py). Regions shallower than min_depth merge
into a neighbour by the same rule and rounds as small ones
(app/merging.py); a merge only ever deepens the region that takes it.
"""

from __future__ import annotations

import numpy as np

from app.merging import merge_small_regions
from app.borders import borders
from app.region_sums import pixels_of_regions
from app.regions import CLEAR, Regions, label_regions


def deep_enough(values: np.ndarray, regions: Regions, min_depth: float) -> np.ndarray:
    """For each region of `values`, whether one of its pixels lies min_depth or more from its border."""
    deep = np.zeros(regions.count, dtype=bool)
    deep[regions.of_pixel.ravel()[np.flatnonzero(depth_map(values).ravel() >= min_depth)]] = True
    return deep


def depth_map(values: np.ndarray) -> np.ndarray:
    """Each pixel's distance to the nearest border pixel of its region (one that touches another region,
    4-neighbours, or the image edge; those are 0). A number's font is fitted to it (paint_by_number)."""
    from scipy import ndimage  # on first use: scipy's import is a good part of a command's start-up

    height, width = values.shape
    # Border pixels touch another region (4-neighbours) or the image edge.
    inner = np.zeros((height + 2, width + 2), dtype=bool)
    middle = inner[2:-2, 2:-2]
    if height > 2 and width > 2:
        centre = values[1:-1, 1:-1]
        middle[...] = (centre == values[:-2, 1:-1]) & (centre == values[2:, 1:-1])
        middle &= (centre == values[1:-1, :-2]) & (centre == values[1:-1, 2:])
    return ndimage.distance_transform_edt(inner)[1:-1, 1:-1]


def merge_thin_regions(regions: Regions, index_of_region: np.ndarray, keys: np.ndarray, palette: np.ndarray,
                       min_region: int, min_depth: float) -> np.ndarray:
    """The palette index of every region of `regions` once the map they make holds no region shallower than
    min_depth that has a neighbour.

    `index_of_region` is each region's index after merging by size; the
    regions of the map it makes are labelled again (merges joined some) and
    the thin ones merge, a pass at a time, until none is left: two thin
    neighbours that merge may be thin together. Each pass merges at least
    one region (the smallest thin one with a neighbour), so the passes end;
    in practice two or three do.
    """
    # Each region's first pixel finds the region it is part of in the map of a later pass.
    first_run = np.zeros(regions.count, dtype=np.intp)
    first_run[regions.run_region[::-1]] = np.arange(len(regions.run_region))[::-1]
    first_pixel = regions.run_first[first_run]
    lengths = regions.run_lengths
    while True:
        values = np.repeat(index_of_region.astype(np.uint16)[regions.run_region], lengths).reshape(regions.shape)
        joined = label_regions(values)  # transparent pixels carry CLEAR: regions of their own that never merge
        thin = joined.visible & ~deep_enough(values, joined, min_depth)
        del values
        if not thin.any():
            break
        graph = borders(joined, thin, both_ways=False)
        if not len(graph.source):  # thin, but alone in its patch
            break
        sums = pixels_of_regions(joined, thin, keys).sums
        merged = merge_small_regions(joined, sums, graph, palette, min_region, wanting=thin)
        of_region = joined.run_region[np.searchsorted(joined.run_first, first_pixel, side="right") - 1]
        index_of_region = np.where(index_of_region == CLEAR, CLEAR, merged.index_of_region[of_region])
    return index_of_region
