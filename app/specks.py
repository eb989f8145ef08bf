"""Specks: regions of one or two pixels walled in by one region, settled before the map is labelled.

Pure numpy. A pixel, or two side by side or one above the other, of one
index, whose side neighbours all hold one other index, as do three or more
of the four corners of their ring, is a region of its own, and its side
neighbours belong to one region R (the ring joins them, round three sides
at least). Under any min_region of 3 or more, merging smallest first gives
it to R in the first round, whatever else happens: R is its only neighbour
and larger, and no other region touches it. So it is filled with R's index
before labelling, which then has fewer runs, regions and borders to find (a
12 MP photo has 52,000-185,000 such specks). Filling changes no other
region: R's ring was already joined without it or any other speck (a pixel
of the ring has a side neighbour of its own index besides any partner, a
speck none), and two specks never share a side. What R gains is what the
merge would have given it: the speck's pixels, their colors counted in R's
mean from the photo's own pixels. The cleaning counts the specks back into
the regions before cleaning, and moves their pixels from their own palette
entry in the refit and the figures (app/cleaning.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Specks:
    """The pixels filled, the palette index each had before, and how many regions they were."""

    position: np.ndarray  # (n,) flat positions in the map, ascending
    index: np.ndarray  # (n,) uint8 their index before filling (the map now holds their region's)
    regions: int

    def __len__(self) -> int:
        return len(self.position)


NONE = Specks(position=np.zeros(0, dtype=np.intp), index=np.zeros(0, dtype=np.uint8), regions=0)


def settle_specks(indices: np.ndarray, starts: np.ndarray, owned: bool) -> tuple[np.ndarray, Specks]:
    """The (H, W) uint8 map with every speck given its surrounding index, and the specks.

    `starts` is the map's regions.run_starts(); it is updated to the filled
    map's, in place. The map is filled in place when `owned` (the caller
    made it), else in a copy.
    """
    height, width = indices.shape
    if height < 3 or width < 3:
        return indices, NONE
    flat, flat_starts = indices.ravel(), starts.ravel()
    # Runs of one or two pixels away from the image's edges, between two alike pixels: a few percent of the runs.
    first = np.flatnonzero(flat_starts)
    length = np.diff(first, append=flat.size)
    column = first % width
    short = np.flatnonzero((length <= 2) & (column > 0) & (column + length < width) & (first >= width)
                           & (first < flat.size - width))
    first, length = first[short], length[short]
    around = flat[first - 1]
    alike = np.flatnonzero(flat[first + length] == around)
    first, length, around = first[alike], length[alike], around[alike]
    single = np.flatnonzero(length == 1)
    singles, single_around = first[single], around[single]
    pair = np.flatnonzero(length == 2)
    # Two such single pixels one above the other, of one index and between alike pixels, may be a speck of two.
    below = np.minimum(np.searchsorted(singles, singles + width), max(len(singles) - 1, 0))
    stacked = np.flatnonzero((singles[below] == singles + width) & (single_around[below] == single_around)
                             & (flat[singles] == flat[singles[below]]))
    found = []
    for at, index, wide, tall, steps in ((singles, single_around, 1, 1, (0,)),
                                         (first[pair], around[pair], 2, 1, (0, 1)),
                                         (singles[stacked], single_around[stacked], 1, 2, (0, width))):
        kept = _walled(flat, width, at, index, wide, tall)
        found.append((at[kept], index[kept], steps))
    regions = sum(len(at) for at, _, _ in found)
    if not regions:
        return indices, NONE
    position = np.concatenate([at + step for at, _, steps in found for step in steps])
    taken = np.concatenate([index for _, index, steps in found for _ in steps])
    order = np.argsort(position)
    position, taken = position[order], taken[order]
    specks = Specks(position=position, index=flat[position], regions=regions)
    filled = indices if owned else indices.copy()
    filled.ravel()[position] = taken
    flat_starts[position] = False  # a speck's pixels and the pixel after each now continue the run before
    flat_starts[position + 1] = False
    return filled, specks


def _walled(flat: np.ndarray, width: int, first: np.ndarray, around: np.ndarray, wide: int, tall: int) -> np.ndarray:
    """Which blocks of wide x tall pixels from `first` (their top left), whose first row's pixels beside them
    hold `around`, have every other side neighbour and three or more ring corners holding it too."""
    kept = np.arange(len(first))
    sides = [-width + step for step in range(wide)] + [tall * width + step for step in range(wide)]
    sides += [row * width + step for row in range(1, tall) for step in (-1, wide)]
    for offset in sides:
        kept = kept[flat[first[kept] + offset] == around[kept]]
    corners = np.zeros(len(kept), dtype=np.uint8)
    for offset in (-width - 1, -width + wide, tall * width - 1, tall * width + wide):
        corners += flat[first[kept] + offset] == around[kept]
    return kept[corners >= 3]
