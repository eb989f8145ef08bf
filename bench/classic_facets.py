"""The peer: classic facet reduction as paint-by-number generators do it.

Smallest region first, one at a time: a region under the threshold merges
into the adjacent region whose palette color is nearest its own palette
color (ties: longest shared border, then lowest number). The palette is
kept as it is. Regions of one color that a merge brings together become
one, as they would when the pixels are labelled again. A heap keeps the
order; region adjacency lives in dictionaries.

It starts from the same labelling and borders as ours (app/regions.py), so
the two differ only in how they merge.
"""

from __future__ import annotations

import heapq

import numpy as np

from app.borders import borders
from app.regions import label_regions


def classic_clean(indices: np.ndarray, palette: np.ndarray, min_region: int) -> np.ndarray:
    """The index map after classic facet reduction; the palette is unchanged."""
    regions = label_regions(indices)
    graph = borders(regions, regions.size < min_region)
    size = regions.size.tolist()
    index = regions.index.tolist()
    neighbours: list[dict[int, int]] = [{} for _ in range(regions.count)]
    for source, target, length in zip(graph.source.tolist(), graph.target.tolist(), graph.length.tolist()):
        neighbours[source][target] = length
    colors = np.asarray(palette, dtype=np.float64)
    distance = ((colors[:, None, :] - colors[None, :, :]) ** 2).sum(axis=2).tolist()
    owner = list(range(regions.count))  # merged regions point at the region that took them
    heap = [(size[r], r) for r in range(regions.count) if size[r] < min_region]
    heapq.heapify(heap)
    while heap:
        region_size, region = heapq.heappop(heap)
        if owner[region] != region or region_size != size[region]:
            continue  # merged away, or grown since it was queued
        if region_size >= min_region:
            break
        around = neighbours[region]
        if not around:
            continue  # the whole image
        row = distance[index[region]]
        target = min(around, key=lambda n: (row[index[n]], -around[n], n))
        # Regions of the target's color that touched the merged one now touch the target: they join it.
        joining = [n for n in around if n != target and index[n] == index[target]]
        _absorb(target, region, size, neighbours, owner)
        while joining:
            other = joining.pop()
            if owner[other] != other:
                continue
            joining.extend(n for n in neighbours[other] if n != target and index[n] == index[target])
            _absorb(target, other, size, neighbours, owner)
        if size[target] < min_region:
            heapq.heappush(heap, (size[target], target))
    final = np.array(index)[_roots(owner)]
    return final[regions.of_pixel].astype(np.uint8)


def _absorb(target: int, region: int, size: list[int], neighbours: list[dict[int, int]], owner: list[int]) -> None:
    size[target] += size[region]
    owner[region] = target
    mine = neighbours[target]
    mine.pop(region, None)
    for other, length in neighbours[region].items():
        if other == target:
            continue
        mine[other] = mine.get(other, 0) + length
        theirs = neighbours[other]
        theirs.pop(region, None)
        theirs[target] = theirs.get(target, 0) + length
    neighbours[region] = {}


def _roots(owner: list[int]) -> np.ndarray:
    roots = np.array(owner)
    while True:
        following = roots[roots]
        if np.array_equal(following, roots):
            return roots
        roots = following
